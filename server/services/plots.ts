/** SVG plots of a task's result and of a campaign's scores (scoring/plots.ts renders them). */
import { eq } from 'drizzle-orm';
import { scoreCampaign } from '../../scoring/campaign-scores.js';
import {
  CAMPAIGN_PLOTS, TASK_PLOTS, campaignPlotSpec, renderSvg, taskPlotSpec, type CampaignPlot, type TaskPlot,
} from '../../scoring/plots.js';
import { campaigns } from '../../store/schema.js';
import type { ServerDeps } from '../deps.js';
import { AppError, fileNotFound, resultNotReady } from '../errors.js';
import type { Actor } from './keys.js';
import { getTask } from './tasks.js';

function plotName<T extends string>(file: string, kinds: readonly T[]): T {
  const kind = file.replace(/\.svg$/, '') as T;
  if (!file.endsWith('.svg') || !kinds.includes(kind)) {
    throw new AppError(404, 40404, 'PLOT_NOT_FOUND', `no plot ${file} (one of ${kinds.map((k) => `${k}.svg`).join(', ')})`, 'plot');
  }
  return kind;
}

/** The SVG of a task plot (eos, cv, volume-trace); 409 before the task completed, 404 when its result has no such data. */
export async function taskPlotSvg(deps: ServerDeps, taskId: string, file: string, actor?: Actor): Promise<string> {
  const kind: TaskPlot = plotName(file, TASK_PLOTS);
  const task = await getTask(deps, taskId, actor);
  if (task.status !== 'COMPLETED') throw resultNotReady(task.status);
  const spec = taskPlotSpec(kind, task.result ?? {});
  if (!spec) throw fileNotFound(`${kind} plot: the ${task.taskType} result of task ${taskId} has no data for it`);
  return renderSvg(spec);
}

/** The SVG of a campaign plot (parity-bulk-modulus, parity-heat-capacity, volume-change) from its current scores. */
export async function campaignPlotSvg(deps: ServerDeps, campaignId: string, file: string, actor?: Actor): Promise<string> {
  const kind: CampaignPlot = plotName(file, CAMPAIGN_PLOTS);
  const [c] = await deps.database.db.select({ id: campaigns.id, ownerId: campaigns.ownerId }).from(campaigns).where(eq(campaigns.id, campaignId));
  // A user key sees its own campaigns only; others' answer 404 like a missing one.
  if (!c || (actor && actor.role !== 'admin' && c.ownerId !== actor.keyId)) {
    throw new AppError(404, 40404, 'CAMPAIGN_NOT_FOUND', `campaign not found: ${campaignId}`, 'campaign_id');
  }
  const scores = await scoreCampaign(deps.database.db, campaignId);
  return renderSvg(campaignPlotSpec(kind, scores.scores));
}
