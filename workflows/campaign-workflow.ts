/**
 * One campaign (workflowId `campaign-<id>`): starts its tasks a batch at a time (the rows were created in bulk by
 * the API), takes cached results instead of running where it may, starts chained tasks once the task they start
 * from completed, follows cancel / pause / resume, and finishes (scores, `campaign.completed`) when every task ended;
 * a cancelled campaign's `campaign.completed` waits (up to 10 minutes) for its running tasks to stop, so its counts
 * are final. Progress events are written by the looks (throttled there).
 *
 * Its history stays bounded however many tasks it owns: each task costs one signal (its end) and each look at the
 * tasks one activity, the looks coalesce signals that arrive together, and the run continues as new once its
 * history passes a fixed length. All state lives in Postgres; the workflow carries only the paused flag.
 */
import { condition, continueAsNew, patched, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { CampaignActivities } from '../workers/campaign-activities.js';
import {
  campaignCancelSignal, campaignPauseSignal, campaignResumeSignal, campaignTaskEndedSignal, campaignWakeSignal,
} from './campaign-ids.js';

export interface CampaignWorkflowInput {
  campaignId: string;
  /** Carried over a continue-as-new. */
  paused?: boolean;
  /** Carried over a continue-as-new: the campaign was cancelled and waits for its running tasks to stop. */
  cancelling?: boolean;
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
    // A look on a worker that died (kill -9) is taken up again within a minute, not after the whole 5.
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const { campaignId } = input;
  let paused = input.paused ?? false;
  let pauseApplied = paused;
  let cancelled = false;
  let dirty = true;
  setHandler(campaignTaskEndedSignal, () => { dirty = true; });
  setHandler(campaignWakeSignal, () => { dirty = true; });
  // Counted, so a cancel that arrives while an earlier one is being wound up is not lost when a retry interrupts it.
  let cancelRequests = 0;
  setHandler(campaignCancelSignal, () => { cancelled = true; cancelRequests++; });
  setHandler(campaignPauseSignal, () => { paused = true; });
  setHandler(campaignResumeSignal, () => { paused = false; });

  const overlong = () => workflowInfo().historyLength > (input.maxHistory ?? 2000) || workflowInfo().continueAsNewSuggested;

  if (input.cancelling && (await waitCancelled()) === 'ended') return 'CANCELLED';
  for (;;) {
    if (cancelled) {
      const handling = cancelRequests;
      await acts.cancelCampaignTasks({ campaignId });
      // Runs started before the campaign had events end as they did.
      if (!patched('campaign-end-event') || (await waitCancelled()) === 'ended') return 'CANCELLED';
      // Retried while its cancelled tasks were stopping: it runs on, unless cancelled again since.
      cancelled = cancelRequests > handling;
      continue;
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
    if (overlong()) await continueAsNew<typeof campaignWorkflow>({ ...input, paused, cancelling: false });
    if (look.more && !paused) continue;
    await condition(() => dirty || cancelled || paused !== pauseApplied, `${input.idleLookSeconds ?? 60} seconds`);
    // Tasks that end together (a batch on one GPU) are taken in one look.
    if (!cancelled && paused === pauseApplied) await sleep('1 second');
  }

  // Every stopped task signals its end; the wait is bounded, and continues as new like the main loop (a cancelled
  // campaign of thousands of queued tasks gets one signal from each).
  async function waitCancelled(): Promise<'ended' | 'retried'> {
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const force = Date.now() >= deadline;
      dirty = false;
      const state = await acts.endCancelledCampaign({ campaignId, force });
      if (state !== 'waiting') return state;
      if (force) return 'ended';
      if (overlong()) await continueAsNew<typeof campaignWorkflow>({ ...input, paused, cancelling: true });
      await condition(() => dirty, '30 seconds');
      await sleep('1 second');
    }
  }
}
