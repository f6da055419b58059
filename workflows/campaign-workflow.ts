/**
 * One campaign (workflowId `campaign-<id>`): starts its tasks a batch at a time (the rows were created in bulk by
 * the API), takes cached results instead of running where it may, starts chained tasks once the task they start
 * from completed, follows cancel / pause / resume, and finishes (scores, `campaign.completed`) when every task ended.
 *
 * Its history stays bounded however many tasks it owns: each task costs one signal (its end) and each look at the
 * tasks one activity, the looks coalesce signals that arrive together, and the run continues as new once its
 * history passes a fixed length. All state lives in Postgres; the workflow carries only the paused flag.
 */
import { condition, continueAsNew, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { CampaignActivities } from '../workers/campaign-activities.js';
import {
  campaignCancelSignal, campaignPauseSignal, campaignResumeSignal, campaignTaskEndedSignal, campaignWakeSignal,
} from './campaign-ids.js';

export interface CampaignWorkflowInput {
  campaignId: string;
  /** Carried over a continue-as-new. */
  paused?: boolean;
  /** Tasks started per look. @default 200 */
  startBatch?: number;
  /** History length after which the run continues as new. @default 2000 */
  maxHistory?: number;
  /** The longest wait between two looks when no signal comes (a safety net, not the driver), seconds. @default 60 */
  idleLookSeconds?: number;
}

export async function campaignWorkflow(input: CampaignWorkflowInput): Promise<string> {
  const acts = proxyActivities<CampaignActivities>({
    startToCloseTimeout: '5 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const { campaignId } = input;
  let paused = input.paused ?? false;
  let pauseApplied = paused;
  let cancelled = false;
  let dirty = true;
  setHandler(campaignTaskEndedSignal, () => { dirty = true; });
  setHandler(campaignWakeSignal, () => { dirty = true; });
  setHandler(campaignCancelSignal, () => { cancelled = true; });
  setHandler(campaignPauseSignal, () => { paused = true; });
  setHandler(campaignResumeSignal, () => { paused = false; });

  for (;;) {
    if (cancelled) {
      await acts.cancelCampaignTasks({ campaignId });
      return 'CANCELLED';
    }
    if (paused !== pauseApplied) {
      await acts.setCampaignPaused({ campaignId, paused });
      pauseApplied = paused;
    }
    dirty = false;
    const look = await acts.advanceCampaign({ campaignId, startTasks: !paused, startBatch: input.startBatch ?? 200 });
    if (look.status === 'CANCELLED') { cancelled = true; continue; }
    if (look.finished && !paused) {
      await acts.completeCampaign({ campaignId });
      return 'COMPLETED';
    }
    if (workflowInfo().historyLength > (input.maxHistory ?? 2000) || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof campaignWorkflow>({ ...input, paused });
    }
    if (look.more && !paused) continue;
    await condition(() => dirty || cancelled || paused !== pauseApplied, `${input.idleLookSeconds ?? 60} seconds`);
    // Tasks that end together (a batch on one GPU) are taken in one look.
    if (!cancelled && paused === pauseApplied) await sleep('1 second');
  }
}
