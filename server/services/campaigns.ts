/**
 * Campaigns: models × structures × task steps run as one durable workflow (workflows/campaign-workflow.ts). The API
 * validates the whole request, creates the campaign and every task row in bulk (so a campaign of thousands is
 * accepted in one call), and starts the workflow; the workflow starts the tasks.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { and, asc, count, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import { isTaskType, type TaskType } from '../../common/task-types.js';
import { campaigns, tasks, webhookDeliveries, type CampaignEventRow, type CampaignRow, type StructureRow, type TaskRow } from '../../store/schema.js';
import type { CampaignEventDelivery } from '../mappers.js';
import { appendTaskEvent } from '../../store/task-events.js';
import { appendCampaignEvent, campaignCounts, progressOf, runEnded, writeRunEnd } from '../../store/campaign-events.js';
import type { Db } from '../../store/client.js';
import { countSubmitted } from '../../metrics/task-metrics.js';
import {
  campaignCancelSignal, campaignPauseSignal, campaignResumeSignal, campaignWakeSignal, campaignWorkflowId,
} from '../../workflows/campaign-ids.js';
import type { CampaignWorkflowInput } from '../../workflows/campaign-workflow.js';
import { scoreCampaign, type CampaignScores } from '../../scoring/campaign-scores.js';
import type { ServerDeps } from '../deps.js';
import { AppError, conflict, invalidParameter, unavailable } from '../errors.js';
import { checkParameters } from '../parameter-schemas.js';
import { listBuiltinStructures } from './builtin-structures.js';
import type { Actor } from './keys.js';
import { getModel } from './models.js';
import { getStructure, resolveBuiltin } from './structures.js';
import { checkCallback } from './webhooks.js';
import { CAMPAIGN_WEBHOOK_EVENTS } from '../../common/webhook-policy.js';

export interface CampaignStep { type: string; parameters?: Record<string, unknown>; start_from?: 'input' | 'optimization' }
export interface CampaignCreate {
  name: string;
  models: string[];
  structures: string[];
  tasks: CampaignStep[];
  options?: {
    priority?: string; preemptible?: boolean; timeout?: number; reuse?: boolean;
    callback?: { url: string; events?: string[]; secret?: string };
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const campaignNotFound = (id: string) => new AppError(404, 40408, 'CAMPAIGN_NOT_FOUND', `campaign not found: ${id}`, 'campaign_id');

/** Campaigns of `actor` only (admin: all). */
function visibleCampaigns(actor: Actor | undefined): SQL | undefined {
  if (!actor || actor.role === 'admin') return undefined;
  return eq(campaigns.ownerId, actor.keyId);
}

/** Set names expand to their shipped files; other entries are uploaded ids or built-in names. Duplicates collapse. */
async function resolveStructures(deps: ServerDeps, spec: string[], actor: Actor): Promise<StructureRow[]> {
  const { sets } = listBuiltinStructures();
  const out = new Map<string, StructureRow>();
  for (const [i, entry] of spec.entries()) {
    const field = `structures[${i}]`;
    if (sets[entry] !== undefined) {
      // Registered a few at a time: each new built-in is parsed once by the engine.
      const items = listBuiltinStructures(entry).items;
      for (let k = 0; k < items.length; k += 8) {
        const rows = await Promise.all(items.slice(k, k + 8).map((it) => resolveBuiltin(deps, it.path, field)));
        for (const r of rows) out.set(r.id, r);
      }
    } else {
      const row = UUID.test(entry) ? await getStructure(deps, entry, field, actor) : await resolveBuiltin(deps, entry, field);
      out.set(row.id, row);
    }
  }
  return [...out.values()];
}

/** Validates a campaign request, creates the campaign and its tasks, and starts its workflow. */
export async function createCampaign(deps: ServerDeps, body: CampaignCreate, actor: Actor): Promise<CampaignRow> {
  const { db } = deps.database;
  const models: Awaited<ReturnType<typeof getModel>>[] = [];
  for (const [i, name] of [...new Set(body.models)].entries()) {
    const m = await getModel(deps, name).catch((err) => {
      if (err instanceof AppError && err.type === 'MODEL_NOT_FOUND') throw new AppError(404, 40401, 'MODEL_NOT_FOUND', err.message, `models[${i}]`);
      throw err;
    });
    if (!m.available) {
      throw new AppError(422, 42206, 'MODEL_UNAVAILABLE', `model ${m.id} is not available here: ${m.unavailable_reason ?? 'unknown reason'}`, `models[${i}]`);
    }
    models.push(m);
  }
  const steps = body.tasks;
  const optimizationStep = steps.findIndex((s) => s.type === 'optimization');
  for (const [i, step] of steps.entries()) {
    if (!isTaskType(step.type)) throw invalidParameter(`unknown task type ${step.type}`, `tasks[${i}].type`);
    try {
      checkParameters(step.type as TaskType, step.parameters ?? {});
    } catch (err) {
      if (err instanceof AppError) throw new AppError(err.status, err.code, err.type, err.message, `tasks[${i}].${err.field ?? 'parameters'}`);
      throw err;
    }
    if (step.start_from === 'optimization' && (optimizationStep < 0 || optimizationStep === i)) {
      throw invalidParameter('start_from: optimization needs an optimization step in the campaign', `tasks[${i}].start_from`);
    }
  }
  const options = { ...(body.options ?? {}) };
  if (options.callback) await checkCallback(deps, options.callback, 'options.callback', CAMPAIGN_WEBHOOK_EVENTS);
  const structs = await resolveStructures(deps, body.structures, actor);
  const total = models.length * structs.length * steps.length;
  if (total > deps.config.MOFSIM_CAMPAIGN_MAX_TASKS) {
    throw invalidParameter(`campaign of ${total} tasks exceeds the limit of ${deps.config.MOFSIM_CAMPAIGN_MAX_TASKS}`, 'structures', 'CAMPAIGN_TOO_LARGE');
  }

  const campaignId = randomUUID();
  // The tasks' own options: priority, timeout, preemptible travel; the callback is the campaign's, not each task's.
  const taskOptions: Record<string, unknown> = {};
  for (const k of ['priority', 'timeout', 'preemptible'] as const) if (options[k] !== undefined) taskOptions[k] = options[k];
  const rows: (typeof tasks.$inferInsert)[] = [];
  for (const m of models) {
    const covered = new Set(m.elements);
    for (const s of structs) {
      const ids = steps.map(() => randomUUID());
      const missing = s.elements.filter((e) => !covered.has(e));
      for (const [i, step] of steps.entries()) {
        const chained = step.start_from === 'optimization';
        rows.push({
          id: ids[i], taskType: step.type, model: m.id, priority: options.priority ?? 'NORMAL',
          structureId: chained ? null : s.id, structureName: s.name, parameters: step.parameters ?? {}, options: taskOptions,
          ownerId: actor.keyId, campaignId, campaignKey: `${m.id}|${s.name}|${s.id}|${String(i).padStart(2, '0')}`,
          inputTaskId: chained ? ids[optimizationStep] : null, inputFile: chained ? 'optimized_structure' : null,
          // A model that does not cover the structure's elements is a failure of that model on that structure.
          ...(missing.length ? {
            status: 'FAILED', errorType: 'UNSUPPORTED_ELEMENTS', completedAt: new Date(),
            errorMessage: `model ${m.id} does not cover element(s) ${missing.join(', ')}`,
          } : {}),
        });
      }
    }
  }
  await db.transaction(async (tx) => {
    await tx.insert(campaigns).values({
      id: campaignId, name: body.name, ownerId: actor.keyId, models: models.map((m) => m.id),
      structures: structs.map((s) => ({ id: s.id, name: s.name })), structureSpec: body.structures, taskSpec: steps,
      options: { ...options, reuse: options.reuse ?? true }, status: 'RUNNING', totalTasks: total,
      counts: { PENDING: rows.filter((r) => !r.status).length, ...(rows.some((r) => r.status) ? { FAILED: rows.filter((r) => r.status).length } : {}) },
    });
    for (let i = 0; i < rows.length; i += 500) await tx.insert(tasks).values(rows.slice(i, i + 500));
  });
  for (const r of rows) countSubmitted({ taskType: r.taskType, model: r.model, priority: r.priority ?? 'NORMAL' });
  try {
    await startCampaignWorkflow(deps, campaignId);
  } catch (err) {
    await db.update(campaigns).set({ status: 'FAILED', errorMessage: String(err), finishedAt: new Date() }).where(eq(campaigns.id, campaignId));
    throw unavailable('ORCHESTRATOR_UNAVAILABLE', `could not start the campaign: ${(err as Error).message}`);
  }
  return getCampaign(deps, campaignId);
}

async function startCampaignWorkflow(deps: ServerDeps, campaignId: string): Promise<void> {
  const input: CampaignWorkflowInput = { campaignId };
  try {
    await deps.temporal.workflow.start('campaignWorkflow', { taskQueue: deps.config.MOFSIM_TASK_QUEUE, workflowId: campaignWorkflowId(campaignId), args: [input] });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

export async function getCampaign(deps: ServerDeps, id: string, actor?: Actor): Promise<CampaignRow> {
  if (!UUID.test(id)) throw campaignNotFound(id);
  const [row] = await deps.database.db.select().from(campaigns).where(and(eq(campaigns.id, id), visibleCampaigns(actor)));
  if (!row) throw campaignNotFound(id);
  return row;
}

export async function listCampaigns(deps: ServerDeps, actor: Actor, f: { status?: string }, page: number, pageSize: number) {
  const { db } = deps.database;
  const where = and(visibleCampaigns(actor), f.status ? eq(campaigns.status, f.status) : undefined);
  const [{ n }] = (await db.select({ n: count() }).from(campaigns).where(where)) as [{ n: number }];
  const items = await db.select().from(campaigns).where(where).orderBy(desc(campaigns.createdAt), desc(campaigns.id))
    .limit(pageSize).offset((page - 1) * pageSize);
  return { items, total: Number(n) };
}

/** A page of the campaign's tasks in grid order. */
export async function listCampaignTasks(deps: ServerDeps, id: string, actor: Actor, f: { status?: string }, page: number, pageSize: number) {
  await getCampaign(deps, id, actor);
  const { db } = deps.database;
  const where = and(eq(tasks.campaignId, id), f.status ? eq(tasks.status, f.status) : undefined);
  const [{ n }] = (await db.select({ n: count() }).from(tasks).where(where)) as [{ n: number }];
  const items = await db.select().from(tasks).where(where).orderBy(asc(tasks.campaignKey)).limit(pageSize).offset((page - 1) * pageSize);
  return { items, total: Number(n) };
}

/** Every task of the campaign, in grid order. */
export async function campaignTasks(deps: ServerDeps, id: string): Promise<TaskRow[]> {
  return deps.database.db.select().from(tasks).where(eq(tasks.campaignId, id)).orderBy(asc(tasks.campaignKey));
}

const ENDED = ['COMPLETED', 'CANCELLED', 'FAILED'];

async function signalCampaign(deps: ServerDeps, c: CampaignRow, signal: SignalDefinition<[]>): Promise<void> {
  await deps.temporal.workflow.getHandle(campaignWorkflowId(c.id)).signal(signal);
}

export async function cancelCampaign(deps: ServerDeps, id: string, actor: Actor): Promise<CampaignRow> {
  const c = await getCampaign(deps, id, actor);
  if (ENDED.includes(c.status)) throw conflict(40902, 'INVALID_CAMPAIGN_STATE', `campaign ${id} is ${c.status}; it cannot be cancelled`, 'campaign_id');
  await signalCampaign(deps, c, campaignCancelSignal);
  return getCampaign(deps, id);
}

export async function pauseCampaign(deps: ServerDeps, id: string, actor: Actor): Promise<CampaignRow> {
  const c = await getCampaign(deps, id, actor);
  if (c.status !== 'RUNNING' && c.status !== 'PENDING') throw conflict(40902, 'INVALID_CAMPAIGN_STATE', `campaign ${id} is ${c.status}; only a running campaign can pause`, 'campaign_id');
  await signalCampaign(deps, c, campaignPauseSignal);
  return getCampaign(deps, id);
}

export async function resumeCampaign(deps: ServerDeps, id: string, actor: Actor): Promise<CampaignRow> {
  const c = await getCampaign(deps, id, actor);
  if (c.status !== 'PAUSED') throw conflict(40902, 'INVALID_CAMPAIGN_STATE', `campaign ${id} is ${c.status}; only a paused campaign can resume`, 'campaign_id');
  await signalCampaign(deps, c, campaignResumeSignal);
  return getCampaign(deps, id);
}

/**
 * Puts the campaign's failed, timed-out and cancelled tasks back in line (same rows, same grid place; the tasks
 * chained to them wait for them again) and runs the campaign on. A finished campaign's workflow starts again.
 */
export async function retryCampaign(deps: ServerDeps, id: string, actor: Actor): Promise<CampaignRow> {
  await getCampaign(deps, id, actor); // 404 unless the caller may see it
  const { db } = deps.database;
  const { again, campaign: c } = await db.transaction(async (t) => {
    const tx = t as unknown as Db;
    // The row lock orders this retry with the workflow writing the end of a cancelled run (workers/campaign-activities.ts).
    const [before] = await tx.select().from(campaigns).where(eq(campaigns.id, id)).for('update');
    // A cancelled run whose end the workflow has not written yet (its stopped tasks ended a moment ago) ends here,
    // so every run has its completed event; the workflow's next look delivers it.
    if (before!.status === 'CANCELLED' && !(await runEnded(tx, id))) {
      const { counts, ended } = await campaignCounts(tx, id);
      await writeRunEnd(tx, before!, 'CANCELLED', counts, ended);
    }
    const rows = await tx.update(tasks).set({
      status: 'PENDING', queuedAt: null, startedAt: null, completedAt: null, result: null, outputFiles: null, errorType: null,
      errorMessage: null, progress: 0, checkpoint: null, durationSeconds: null, workerId: null, gpuId: null,
      // A chained task starts from the new output of the task it follows.
      structureId: sql`case when ${tasks.inputTaskId} is null then ${tasks.structureId} else null end`,
    }).where(and(eq(tasks.campaignId, id), inArray(tasks.status, ['FAILED', 'TIMEOUT', 'CANCELLED']),
      sql`coalesce(${tasks.errorType}, '') <> 'UNSUPPORTED_ELEMENTS'`)).returning({ id: tasks.id });
    if (!rows.length) throw conflict(40904, 'NOT_RETRYABLE', `campaign ${id} has no failed or cancelled task to run again`, 'campaign_id');
    const [row] = await tx.update(campaigns).set({ status: 'RUNNING', finishedAt: null, scores: null, updatedAt: new Date() }).where(eq(campaigns.id, id)).returning();
    // A new run of the campaign: its progress counts again from here, and it will end (campaign.completed) again.
    const { counts, ended } = await campaignCounts(tx, id);
    await appendCampaignEvent(tx, row!, 'retried', { ...progressOf('RUNNING', row!.totalTasks, counts, ended), retried_tasks: rows.length });
    return { again: rows, campaign: row! };
  });
  for (const t of again) await appendTaskEvent(db, t.id, 'retried', { campaign_id: id });
  await deps.temporal.workflow.signalWithStart('campaignWorkflow', {
    taskQueue: deps.config.MOFSIM_TASK_QUEUE, workflowId: campaignWorkflowId(id), args: [{ campaignId: id } satisfies CampaignWorkflowInput],
    signal: campaignWakeSignal, signalArgs: [],
  });
  return getCampaign(deps, c.id);
}

/** The campaign's events after `afterId` (progress, completed, retried), oldest first, at most `limit`, each with its webhook delivery so far. */
export async function listCampaignEvents(deps: ServerDeps, id: string, actor: Actor, afterId = 0, limit = 1000): Promise<{ event: CampaignEventRow; delivery: CampaignEventDelivery | null }[]> {
  await getCampaign(deps, id, actor);
  const events = await deps.liveEvents.campaignEventsAfter(id, afterId, limit);
  const ids = events.filter((e) => e.webhook).map((e) => e.id);
  const byEvent = new Map<number, CampaignEventDelivery>();
  if (ids.length) {
    const rows = await deps.database.db.execute<{ id: number; attempts: number; delivered_at: Date | string | null; last_status_code: number | null; last_error: string | null }>(sql`
      select campaign_event_id as id, count(*)::int as attempts, max(created_at) filter (where ok) as delivered_at,
        (array_agg(status_code order by id desc))[1] as last_status_code, (array_agg(error order by id desc))[1] as last_error
      from ${webhookDeliveries} where campaign_event_id in (${sql.join(ids.map((x) => sql`${x}`), sql`, `)}) group by 1`);
    for (const r of rows) {
      byEvent.set(Number(r.id), {
        attempts: Number(r.attempts), deliveredAt: r.delivered_at ? new Date(r.delivered_at) : null,
        lastStatusCode: r.last_status_code === null ? null : Number(r.last_status_code), lastError: r.last_error,
      });
    }
  }
  return events.map((event) => ({ event, delivery: byEvent.get(event.id) ?? null }));
}

/** The headline numbers of one task's result: its top-level scalars (the columns of the campaign's CSV). */
function metricsOf(t: TaskRow): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((t.result ?? {}) as Record<string, unknown>)) {
    if (k.endsWith('_path')) continue; // engine-side file paths; the files are served by name
    if (v === null || ['number', 'boolean', 'string'].includes(typeof v)) out[k] = v;
  }
  return out;
}

/** One row per task plus the campaign's scores. */
export async function campaignResults(deps: ServerDeps, id: string, actor: Actor) {
  const c = await getCampaign(deps, id, actor);
  const stepOf = (key: string | null) => Number((key ?? '').split('|').pop() ?? 0);
  const rows = (await campaignTasks(deps, id)).map((t) => ({
    task_id: t.id, model: t.model, structure: t.structureName, task_type: t.taskType, step: stepOf(t.campaignKey), status: t.status,
    reused_from: t.reusedFrom, error_type: t.errorType, duration_seconds: t.durationSeconds, metrics: metricsOf(t),
  }));
  // A finished campaign's scores were stored when it finished; a running one is scored now, from what has ended.
  const scores = (c.scores as CampaignScores | null) ?? (await scoreCampaign(deps.database.db, id));
  return { campaign: c, rows, scores };
}

