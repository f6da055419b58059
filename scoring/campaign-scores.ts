/**
 * Scores of a set of tasks (a campaign's) per model × weights × protocol, read from the database: tasks are
 * grouped by model, the model's weights SHA-256 (from the results' provenance) and protocol, then each group is
 * scored by `scoring/metrics.ts`.
 */
import { asc, eq } from 'drizzle-orm';
import type { Db } from '../store/client.js';
import { tasks as tasksTable } from '../store/schema.js';
import {
  protocolOf, scoreProtocol, type Protocol, type ProtocolScore, type StructureScore, type TaskOutcome,
} from './metrics.js';
import { REFERENCE_ATTRIBUTION } from './reference-data.js';

/** The columns of a task the scorer reads. */
export interface ScorableTask {
  id: string;
  taskType: string;
  model: string;
  structureName: string | null;
  status: string;
  parameters: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  errorType: string | null;
  errorMessage: string | null;
  createdAt: Date | string;
  /** When the task ended (`tasks.completed_at`); decides which of two tasks of one structure counts. */
  completedAt?: Date | string | null;
}

/** One model × weights × protocol: its aggregate and its per-structure rows. */
export interface ModelProtocolScore {
  model: string;
  weights_sha256: string | null;
  protocol: Protocol;
  aggregate: ProtocolScore;
  structures: StructureScore[];
}

export interface CampaignScores {
  campaign_id: string | null;
  computed_at: string;
  reference: string;
  scores: ModelProtocolScore[];
}

function weightsOf(t: ScorableTask): string | null {
  const p = t.result?.provenance as Record<string, unknown> | undefined;
  return typeof p?.weights_sha256 === 'string' ? p.weights_sha256 : null;
}

/**
 * Groups and scores tasks. A task without provenance (a failed one) joins its model's most recent weights hash, so
 * its failure counts against the weights that ran the rest. Within a group, the task of a structure that ended
 * last (then the greatest id) replaces the others (retries), whatever order the rows come in.
 */
export function scoreTasks(tasks: ScorableTask[]): ModelProtocolScore[] {
  // Creation time, then id: the caller's row order never decides (a campaign's rows share one creation time).
  const ordered = [...tasks].sort((a, b) => new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const latestWeights = new Map<string, string>();
  for (const t of ordered) {
    const w = weightsOf(t);
    if (w) latestWeights.set(t.model, w);
  }
  const groups = new Map<string, { model: string; weights: string | null; protocol: Protocol; outcomes: TaskOutcome[] }>();
  for (const t of ordered) {
    const protocol = protocolOf(t.taskType, t.parameters, t.result);
    if (!protocol) continue;
    const weights = weightsOf(t) ?? latestWeights.get(t.model) ?? null;
    const key = `${t.model}\u0000${weights ?? ''}\u0000${protocol}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { model: t.model, weights, protocol, outcomes: [] }));
    g.outcomes.push({
      taskId: t.id, structure: t.structureName ?? t.id, status: t.status, result: t.result,
      errorType: t.errorType, errorMessage: t.errorMessage, finishedAt: t.completedAt ?? null,
    });
  }
  return [...groups.values()].map((g) => {
    const report = scoreProtocol(g.protocol, g.outcomes);
    return { model: g.model, weights_sha256: g.weights, protocol: g.protocol, aggregate: report.aggregate, structures: report.structures };
  });
}

/** Scores every task of a campaign (`tasks.campaign_id`). */
export async function scoreCampaign(db: Db, campaignId: string): Promise<CampaignScores> {
  const t = tasksTable;
  const tasks: ScorableTask[] = await db.select({
    id: t.id, taskType: t.taskType, model: t.model, structureName: t.structureName, status: t.status,
    parameters: t.parameters, result: t.result, errorType: t.errorType, errorMessage: t.errorMessage, createdAt: t.createdAt,
    completedAt: t.completedAt,
  }).from(t).where(eq(t.campaignId, campaignId)).orderBy(asc(t.createdAt), asc(t.id));
  return { campaign_id: campaignId, computed_at: new Date().toISOString(), reference: REFERENCE_ATTRIBUTION, scores: scoreTasks(tasks) };
}

/** Columns of the flat per-structure table (`/campaigns/{id}/results` as CSV), in order. */
export const STRUCTURE_ROW_COLUMNS = [
  'model', 'weights_sha256', 'protocol', 'structure', 'task_id', 'outcome', 'value', 'reference', 'unit', 'error',
  'error_percent', 'within_tolerance', 'converged', 'reason',
] as const;

/** Every per-structure row of the scores, with its model and weights, flat (for CSV or a table). */
export function structureRows(scores: ModelProtocolScore[]): Record<(typeof STRUCTURE_ROW_COLUMNS)[number], unknown>[] {
  return scores.flatMap((s) => s.structures.map((r) => ({ model: s.model, weights_sha256: s.weights_sha256, ...r })));
}
