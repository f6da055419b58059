/** Task submission and queries: validate against models and structures, persist, start the workflow. */
import { and, asc, count, desc, eq, gt, gte, inArray, lte, sql, type SQL } from 'drizzle-orm';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isTaskType, TASK_TYPES, type Priority, type TaskType } from '../../common/task-types.js';
import { EngineError } from '../../engine-host/engine-client.js';
import { cacheKeyFor, findCached, reuseResult, type ResolvedRun, type ResolveRun } from '../../store/result-cache.js';
import { structureFromTaskOutput, taskOutputPath } from '../../store/task-output-structure.js';
import { cancelSignal, pauseSignal, resumeSignal } from '../../workflows/task-workflow.js';
import { tasksAhead, typicalRunSeconds, wakeSchedulers } from '../../store/scheduler.js';
import { countFinished, countSubmitted } from '../../metrics/task-metrics.js';
import { taskAssignments, taskEvents, tasks, workers, type StructureRow, type TaskEventRow, type TaskRow } from '../../store/schema.js';
import { cancelNow, changePriority, insertQueued } from '../../store/task-state.js';
import {
  FINISHED_STATUSES, isIn, isTerminal, LIVE_STATUSES, NOT_STARTED_STATUSES, PAUSABLE_STATUSES, TASK_STATUS,
} from '../../store/task-status.js';
import { ANONYMOUS_OWNER, startPendingWorkflows } from '../../store/workflow-outbox.js';
import type { ServerDeps } from '../deps.js';
import {
  AppError, conflict, fileNotFound, invalidParameter, invalidTaskState, quotaExceeded, resultNotReady, taskNotFound, unsupportedElements,
} from '../errors.js';
import { FINAL_EVENT_TYPES } from './live-events.js';
import type { Actor } from './keys.js';
import { getModel } from './models.js';
import { checkCallback } from './webhooks.js';
import { getStructure, resolveBuiltin } from './structures.js';

export interface TaskCreate {
  model: string;
  structure: { source: 'upload' | 'builtin' | 'task'; file_id?: string; name?: string; task_id?: string; file?: string };
  parameters?: Record<string, unknown>;
  options?: { priority?: Priority; timeout?: number; preemptible?: boolean; callback?: { url: string; events?: string[]; secret?: string }; reuse?: boolean };
}

/** The engine's `resolve` op through the API's own engine (cache keys). */
export function engineResolve(deps: ServerDeps): ResolveRun {
  return async (taskType, model, params) => (await deps.engine.get()).request<ResolvedRun>('resolve', {
    task_type: isTaskType(taskType) ? TASK_TYPES[taskType] : taskType, model, params,
  });
}

/** Chaining: the output `file` of the caller's completed task, registered as a structure to start from. */
async function structureOfTask(deps: ServerDeps, ref: TaskCreate['structure'], actor?: Actor): Promise<StructureRow> {
  if (!ref.task_id) throw invalidParameter('structure.task_id is required when structure.source is "task"', 'structure.task_id');
  const source = await getTask(deps, ref.task_id, actor).catch((err) => {
    if (err instanceof AppError && err.type === 'TASK_NOT_FOUND') throw new AppError(404, 40402, 'TASK_NOT_FOUND', err.message, 'structure.task_id');
    throw err;
  });
  if (source.status !== 'COMPLETED') {
    throw conflict(40901, 'RESULT_NOT_READY', `task ${source.id} is ${source.status}; a task can start only from a completed task's output`, 'structure.task_id');
  }
  const file = ref.file ?? 'optimized_structure';
  const path = taskOutputPath(deps.config.MOFSIM_DATA_DIR, source, file);
  if (!path || !existsSync(path)) {
    throw new AppError(404, 40404, 'FILE_NOT_FOUND', `task ${source.id} has no output ${file} (outputs: ${Object.keys(source.outputFiles ?? {}).join(', ') || 'none'})`, 'structure.file');
  }
  return structureFromTaskOutput(deps.database.db, deps.config.MOFSIM_DATA_DIR, source, path, actor?.keyId ?? null);
}

async function resolveStructure(deps: ServerDeps, ref: TaskCreate['structure'], actor?: Actor): Promise<StructureRow> {
  if (ref.source === 'task') return structureOfTask(deps, ref, actor);
  if (ref.source === 'builtin') {
    if (!ref.name) throw invalidParameter('structure.name is required when structure.source is "builtin"', 'structure.name');
    return resolveBuiltin(deps, ref.name);
  }
  if (!ref.file_id) throw invalidParameter('structure.file_id is required when structure.source is "upload"', 'structure.file_id');
  return getStructure(deps, ref.file_id, 'structure.file_id', actor);
}

/** Tasks of `actor` only (admin: all). */
export function visibleTasks(actor: Actor | undefined): SQL | undefined {
  if (!actor || actor.role === 'admin') return undefined;
  return eq(tasks.ownerId, actor.keyId);
}

/** Refuses a submission that would exceed the key's quotas (concurrent tasks, task-seconds in the last 24 h). */
async function checkQuotas(deps: ServerDeps, actor: Actor, notYetInserted = 0): Promise<void> {
  const { db } = deps.database;
  if (actor.maxConcurrentTasks !== null) {
    const [{ n }] = (await db.select({ n: count() }).from(tasks)
      .where(and(eq(tasks.ownerId, actor.keyId), inArray(tasks.status, [...LIVE_STATUSES])))) as [{ n: number }];
    if (Number(n) + notYetInserted >= actor.maxConcurrentTasks) throw quotaExceeded(`quota: at most ${actor.maxConcurrentTasks} unfinished task(s) per key`);
  }
  if (actor.gpuSecondsPerDay !== null) {
    // Run time of this key's tasks that finished in the last 24 h (CPU workers count too: the quota is compute time).
    const [{ s }] = (await db.select({ s: sql<number>`coalesce(sum(${tasks.durationSeconds}), 0)` }).from(tasks)
      .where(and(eq(tasks.ownerId, actor.keyId), gte(tasks.completedAt, new Date(Date.now() - 86_400_000))))) as [{ s: number }];
    if (Number(s) >= actor.gpuSecondsPerDay) throw quotaExceeded(`quota: ${actor.gpuSecondsPerDay} compute-seconds per day used up`);
  }
}

/** JSON with object keys sorted at every depth, so equal bodies hash equally whatever their key order. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** What an Idempotency-Key was first used for: the submit route and the request body (as Stripe compares them). */
export function requestFingerprint(route: string, body: unknown): string {
  return createHash('sha256').update(`${route}\0${canonicalJson(body)}`).digest('hex');
}

/** A reused Idempotency-Key whose first request differed: 422, never the first task silently. */
function checkSameRequest(prior: TaskRow, fingerprint: string | undefined): TaskRow {
  const first = (prior.options as { request_fingerprint?: string } | null)?.request_fingerprint;
  if (fingerprint && first && first !== fingerprint) {
    throw new AppError(422, 42210, 'IDEMPOTENCY_KEY_REUSED',
      'this Idempotency-Key was used with a different request (another body or submit route); use a new key for a new request', 'Idempotency-Key');
  }
  return prior;
}

/**
 * The engine's own check of the parameters (cross-field rules such as t_max_K ≥ t_min_K, the defaults applied), the
 * same function a run calls, so a submission is refused now rather than failing at run time. The schema's bounds
 * were checked before. An engine that does not answer does not block the submission: the run checks again.
 */
async function checkWithEngine(deps: ServerDeps, taskType: TaskType, parameters: Record<string, unknown>): Promise<void> {
  // Structure ids stand where the run will have file paths.
  const params: Record<string, unknown> = { ...parameters };
  for (const [key, pathKey] of [['framework_file_id', 'framework_path'], ['guest_file_id', 'guest_path']] as const) {
    if (key in params) { delete params[key]; params[pathKey] = `${key}.cif`; }
  }
  try {
    const engine = await deps.engine.get();
    await engine.request('validate', { task_type: TASK_TYPES[taskType], params });
  } catch (err) {
    if (err instanceof EngineError && err.code === 'INVALID_PARAMETER') {
      const field = err.field && err.field !== 'params' ? `parameters.${err.field.replace(/_path$/, '_file_id')}` : 'parameters';
      throw invalidParameter(err.message, field);
    }
    deps.logger.warn('engine parameter check skipped', { error: String((err as Error)?.message ?? err) });
  }
}

/** A validated submission, ready to insert (the row's values). */
export type PreparedTask = typeof tasks.$inferInsert;

/** Per-request memo of what many items of one batch share (model, structure): looked up once, not per item. */
export interface SubmitMemo {
  models: Map<string, ReturnType<typeof getModel>>;
  structures: Map<string, Promise<StructureRow>>;
  /** Items of this batch accepted so far: they count against the key's quota of unfinished tasks. */
  accepted: number;
}
export const newSubmitMemo = (): SubmitMemo => ({ models: new Map(), structures: new Map(), accepted: 0 });

/**
 * Validates one submission against the model catalogue, the structure, the key's quotas and the callback policy;
 * returns the row to insert. Throws the AppError a client should see.
 */
export async function prepareTask(
  deps: ServerDeps, taskType: TaskType, body: TaskCreate, actor?: Actor,
  opts: { retryOf?: string; idempotencyKey?: string; memo?: SubmitMemo; fingerprint?: string } = {},
): Promise<PreparedTask> {
  const memo = opts.memo;
  const modelP = memo?.models.get(body.model) ?? getModel(deps, body.model);
  memo?.models.set(body.model, modelP);
  const model = await modelP;
  if (!model.available) {
    throw new AppError(422, 42206, 'MODEL_UNAVAILABLE', `model ${model.id} is not available here: ${model.unavailable_reason ?? 'unknown reason'}`, 'model');
  }
  if (actor) await checkQuotas(deps, actor, memo?.accepted ?? 0);
  const refKey = JSON.stringify(body.structure ?? null);
  const structureP = memo?.structures.get(refKey) ?? resolveStructure(deps, body.structure, actor);
  memo?.structures.set(refKey, structureP);
  const structure = await structureP;
  const covered = new Set(model.elements);
  const missing = structure.elements.filter((e) => !covered.has(e));
  if (missing.length) throw unsupportedElements(model.id, missing);
  const parameters = body.parameters ?? {};
  for (const key of ['framework_file_id', 'guest_file_id']) {
    if (typeof parameters[key] === 'string') await getStructure(deps, parameters[key] as string, `parameters.${key}`, actor);
  }
  await checkWithEngine(deps, taskType, parameters);

  // A task without its own callback uses its key's default webhook, if the key has one.
  const options: Record<string, unknown> & NonNullable<TaskCreate['options']> = { ...(body.options ?? {}) };
  delete options.request_fingerprint;
  if (opts.idempotencyKey && opts.fingerprint) options.request_fingerprint = opts.fingerprint;
  if (!options.callback && actor?.defaultCallback) options.callback = actor.defaultCallback;
  if (options.callback) await checkCallback(deps, options.callback);
  return {
    taskType,
    model: model.id,
    priority: options.priority ?? 'NORMAL',
    structureId: structure.id,
    structureName: structure.name,
    parameters,
    options,
    idempotencyKey: opts.idempotencyKey ?? null,
    ownerId: actor?.keyId ?? null,
    retryOf: opts.retryOf ?? null,
    ...(body.structure.source === 'task' ? { inputTaskId: body.structure.task_id, inputFile: body.structure.file ?? 'optimized_structure' } : {}),
  };
}

/**
 * Validates and queues a task; with an idempotency key a repeated call returns the first task, and a call with the
 * same key but another request (`fingerprint`: route and body) is refused.
 */
export async function submitTask(
  deps: ServerDeps, taskType: TaskType, body: TaskCreate, idempotencyKey?: string, actor?: Actor, retryOf?: string, fingerprint?: string,
): Promise<TaskRow> {
  const { db } = deps.database;
  // Keys are scoped per owner: two users choosing the same key get two tasks.
  if (idempotencyKey) idempotencyKey = `${actor?.keyId ?? 'anonymous'}:${idempotencyKey}`;
  if (idempotencyKey) {
    const [prior] = await db.select().from(tasks).where(eq(tasks.idempotencyKey, idempotencyKey));
    if (prior) return checkSameRequest(prior, fingerprint);
  }
  const values = await prepareTask(deps, taskType, body, actor, { retryOf, idempotencyKey, fingerprint });
  // QUEUED with its event in one transaction; the workflow starts right after the answer (a Temporal round trip off
  // the request's path), or from the outbox sweep if this process dies first.
  const [task] = await insertQueued(db, [values]);
  if (!task) {
    // A concurrent request with the same idempotency key won.
    const [prior] = await db.select().from(tasks).where(eq(tasks.idempotencyKey, idempotencyKey!));
    return checkSameRequest(prior!, fingerprint);
  }
  countSubmitted(task);
  if ((values.options as TaskCreate['options'])?.reuse) {
    // The result cache: an identical earlier computation stands for this one (no workflow, no engine time).
    const key = await cacheKeyFor(db, engineResolve(deps), task).catch(() => null);
    const cached = key ? await findCached(db, key, task.id) : undefined;
    if (key && cached && (await reuseResult(db, deps.config.MOFSIM_DATA_DIR, task.id, cached, key))) return getTask(deps, task.id);
  }
  void startBatchWorkflows(deps, [task]);
  return task;
}

/** The most items one batch may carry. */
export const MAX_BATCH_ITEMS = 1000;

/**
 * Queues validated submissions in one transaction (all QUEUED with their `queued` events, or none) and returns the
 * rows; their workflows start after the caller has answered (`startBatchWorkflows`). The rows are the outbox: a
 * process that dies before starting them leaves them to the workers' sweep.
 */
export async function insertBatch(deps: ServerDeps, prepared: PreparedTask[]): Promise<TaskRow[]> {
  return insertQueued(deps.database.db, prepared);
}

/** Starts the workflows of a committed batch (in the background of the request that committed it). */
export function startBatchWorkflows(deps: ServerDeps, rows: TaskRow[]): Promise<number> {
  if (!rows.length) return Promise.resolve(0);
  return startPendingWorkflows(deps.database.db, deps.temporal, deps.config, { ids: rows.map((r) => r.id) }).catch(() => 0);
}

/** One task by id; another user's task is "not found" (404, never 403). */
export async function getTask(deps: ServerDeps, id: string, actor?: Actor): Promise<TaskRow> {
  const [row] = await deps.database.db.select().from(tasks).where(and(eq(tasks.id, id), visibleTasks(actor)));
  if (!row) throw taskNotFound(id);
  return row;
}

export interface TaskFilter {
  status?: string;
  task_type?: string;
  model?: string;
  created_after?: string;
  created_before?: string;
}

/** A page of `actor`'s tasks, newest first. */
export async function listTasks(deps: ServerDeps, actor: Actor, f: TaskFilter, page: number, pageSize: number) {
  const { db } = deps.database;
  const where = and(
    visibleTasks(actor),
    f.status ? eq(tasks.status, f.status) : undefined,
    f.task_type ? eq(tasks.taskType, f.task_type) : undefined,
    f.model ? eq(tasks.model, f.model) : undefined,
    f.created_after ? gte(tasks.createdAt, new Date(f.created_after)) : undefined,
    f.created_before ? lte(tasks.createdAt, new Date(f.created_before)) : undefined,
  );
  const [{ n }] = (await db.select({ n: count() }).from(tasks).where(where)) as [{ n: number }];
  const items = await db.select().from(tasks).where(where).orderBy(desc(tasks.createdAt), desc(tasks.id))
    .limit(pageSize).offset((page - 1) * pageSize);
  return { items, total: Number(n) };
}

/** A new task with the same type, model, structure, parameters and options as `id` (any status). */
export async function retryTask(deps: ServerDeps, id: string, actor: Actor): Promise<TaskRow> {
  const old = await getTask(deps, id, actor);
  if (!old.structureId) throw conflict(40904, 'NOT_RETRYABLE', `task ${id} has no structure to retry with`);
  // The retry belongs to the caller; an admin retrying a user's task keeps the task with its owner.
  const owner: Actor = actor.role === 'admin' && old.ownerId && old.ownerId !== actor.keyId
    ? { ...actor, keyId: old.ownerId, role: 'admin', maxConcurrentTasks: null, gpuSecondsPerDay: null }
    : actor;
  return submitTask(deps, old.taskType as TaskType, {
    model: old.model,
    structure: { source: 'upload', file_id: old.structureId },
    parameters: old.parameters,
    options: old.options as TaskCreate['options'],
  }, undefined, owner, old.id);
}

/** Changes the priority of a task that has not started (409 once it runs or ended). */
export async function setTaskPriority(deps: ServerDeps, id: string, priority: Priority, actor: Actor): Promise<TaskRow> {
  const { db } = deps.database;
  const task = await getTask(deps, id, actor);
  const row = await changePriority(db, id, task.priority, priority);
  if (!row) throw conflict(40902, 'TASK_ALREADY_STARTED', `task ${id} is ${task.status}; only a task that has not started can change priority`);
  // The line's order changed (and a task raised to CRITICAL may preempt): the schedulers decide again.
  await wakeSchedulers(db);
  return row;
}

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const LEVELS = LOG_LEVELS;
/** The log level of a task event type (the task log is its event stream). */
export function levelOf(type: string): LogLevel {
  if (type === 'progress') return 'DEBUG';
  if (['failed', 'timeout'].includes(type)) return 'ERROR';
  if (['attempt_failed', 'resumed', 'cancelled'].includes(type)) return 'WARNING';
  return 'INFO';
}

/** One task event as a log entry (the Python service's LogEntry shape); `log_<event id>`. */
export function taskLogEntry(e: TaskEventRow, task: Pick<TaskRow, 'id' | 'gpuId'>) {
  const d = e.data as Record<string, unknown>;
  const message = typeof d.message === 'string' ? `${e.type}: ${d.message}` : e.type;
  return {
    id: `log_${e.id}`, task_id: task.id, level: levelOf(e.type), logger: 'mofsim.task', message,
    timestamp: e.createdAt.toISOString(), gpu_id: task.gpuId, extra: { event: e.type, ...d },
  };
}

/**
 * The event id after which the last `n` log entries at `minLevel` or above start (0: from the beginning), read
 * backwards a page at a time so a long MD run's thousands of progress events are not all loaded.
 */
export async function logHistoryStart(deps: ServerDeps, id: string, n: number, minLevel: LogLevel = 'DEBUG'): Promise<number> {
  const min = LEVELS.indexOf(minLevel);
  let matched = 0;
  for (let before: number | undefined; ;) {
    const rows = await deps.database.db.select({ id: taskEvents.id, type: taskEvents.type }).from(taskEvents)
      .where(and(eq(taskEvents.taskId, id), before === undefined ? undefined : sql`${taskEvents.id} < ${before}`))
      .orderBy(desc(taskEvents.id)).limit(1000);
    if (n === 0) return rows[0]?.id ?? 0;
    for (const r of rows) {
      if (LEVELS.indexOf(levelOf(r.type)) < min) continue;
      if (++matched === n) return r.id - 1;
    }
    if (rows.length < 1000) return 0;
    before = rows[rows.length - 1]!.id;
  }
}

/** The task's log, derived from its event stream (the Python service's LogEntry shape); `level` is a minimum. */
export async function listTaskLogs(
  deps: ServerDeps, id: string, actor: Actor,
  q: { level?: string; since?: string; until?: string; limit: number; offset: number },
) {
  const task = await getTask(deps, id, actor);
  const rows = await deps.database.db.select().from(taskEvents).where(and(
    eq(taskEvents.taskId, id),
    q.since ? gte(taskEvents.createdAt, new Date(q.since)) : undefined,
    q.until ? lte(taskEvents.createdAt, new Date(q.until)) : undefined,
  )).orderBy(asc(taskEvents.id));
  const min = q.level ? LEVELS.indexOf(q.level as LogLevel) : 0;
  const logs = rows.map((e) => taskLogEntry(e, task)).filter((l) => LEVELS.indexOf(l.level) >= min);
  const page = logs.slice(q.offset, q.offset + q.limit);
  return { task_id: id, logs: page, count: page.length, total: logs.length, limit: q.limit, offset: q.offset };
}

/** The task if it has a result to show (COMPLETED or FAILED). */
export async function getFinishedTask(deps: ServerDeps, id: string, actor?: Actor): Promise<TaskRow> {
  const task = await getTask(deps, id, actor);
  if (!isIn(FINISHED_STATUSES, task.status)) throw resultNotReady(task.status);
  return task;
}

/** The task's events after `afterId`, oldest first. */
export async function listTaskEvents(deps: ServerDeps, id: string, afterId = 0, actor?: Actor): Promise<TaskEventRow[]> {
  await getTask(deps, id, actor);
  return deps.database.db.select().from(taskEvents)
    .where(and(eq(taskEvents.taskId, id), gt(taskEvents.id, afterId))).orderBy(asc(taskEvents.id)).limit(1000);
}

/** Whether the task has recorded its final event (completed, failed, cancelled, timeout). */
export async function hasFinalEvent(deps: ServerDeps, id: string): Promise<boolean> {
  const rows = await deps.database.db.select({ id: taskEvents.id }).from(taskEvents)
    .where(and(eq(taskEvents.taskId, id), inArray(taskEvents.type, FINAL_EVENT_TYPES))).limit(1);
  return rows.length > 0;
}

/** Every stored event after `afterId`, in id order, a page at a time (a long MD run keeps thousands). */
export async function* replayTaskEvents(deps: ServerDeps, id: string, afterId = 0): AsyncGenerator<TaskEventRow> {
  for (let after = afterId; ;) {
    const page = await listTaskEvents(deps, id, after);
    yield* page;
    if (page.length < 1000) return;
    after = page[page.length - 1].id;
  }
}

/** Absolute path of one output file of a task (only names the task reported as outputs). */
export async function taskFilePath(deps: ServerDeps, id: string, filename: string, actor?: Actor): Promise<string> {
  const task = await getTask(deps, id, actor);
  const names = Object.values(task.outputFiles ?? {});
  if (!names.includes(filename)) throw fileNotFound(`${filename} of task ${id}`);
  const path = join(deps.config.MOFSIM_DATA_DIR, 'tasks', id, filename);
  if (!existsSync(path)) throw fileNotFound(`${filename} of task ${id}`);
  return path;
}

// Lifecycle control, queue position.

export { ANONYMOUS_OWNER };

/**
 * A task submitted a moment ago may still be in the outbox: its workflow is started now, so that a signal sent
 * right after the submission finds it (a start that raced with the background one counts as started).
 */
async function startIfPending(deps: ServerDeps, task: TaskRow): Promise<void> {
  if (task.workflowPending) await startPendingWorkflows(deps.database.db, deps.temporal, deps.config, { ids: [task.id] });
}

/** Asks the task's workflow to cancel (any live state). A task whose workflow is gone is cancelled in the row. */
export async function cancelTask(deps: ServerDeps, id: string, actor?: Actor): Promise<TaskRow> {
  const task = await getTask(deps, id, actor);
  if (isTerminal(task.status)) throw invalidTaskState(task.status, 'cancel');
  let signalled = true;
  try {
    await startIfPending(deps, task);
    await deps.temporal.workflow.getHandle(id).signal(cancelSignal);
  } catch {
    signalled = false;
  }
  // A task that is not running holds no engine slot: it is CANCELLED now, whether or not a worker has seen the
  // signal yet (the workflow's own terminal write is then a no-op). A running one is marked by its workflow once the
  // engine job has stopped.
  const row = await cancelNow(deps.database.db, id, signalled ? NOT_STARTED_STATUSES : LIVE_STATUSES);
  if (row) countFinished(row, 'CANCELLED', 'CANCELLED');
  return getTask(deps, id);
}

/** Asks a queued or running task to pause (a running job stops at once, checkpointed where it stopped if it can resume; it resumes from there). */
export async function pauseTask(deps: ServerDeps, id: string, actor?: Actor): Promise<TaskRow> {
  const task = await getTask(deps, id, actor);
  if (!isIn(PAUSABLE_STATUSES, task.status)) throw invalidTaskState(task.status, 'pause');
  await startIfPending(deps, task);
  await deps.temporal.workflow.getHandle(id).signal(pauseSignal);
  return getTask(deps, id);
}

/** Asks a paused task to go back into the queue. */
export async function resumeTask(deps: ServerDeps, id: string, actor?: Actor): Promise<TaskRow> {
  const task = await getTask(deps, id, actor);
  if (task.status !== TASK_STATUS.PAUSED) throw invalidTaskState(task.status, 'resume');
  await deps.temporal.workflow.getHandle(id).signal(resumeSignal);
  return getTask(deps, id);
}

/**
 * Where a task stands in the line: position among tasks still waiting for a worker (1 = next), and an ETA to its
 * start from the measured durations of finished runs of the same task type and model.
 */
export async function getQueuePosition(deps: ServerDeps, id: string, actor?: Actor) {
  const { db } = deps.database;
  const task = await getTask(deps, id, actor);
  const [assigned] = await db.select().from(taskAssignments).where(eq(taskAssignments.taskId, id));
  const typical = await typicalRunSeconds(db, task.taskType, task.model);
  const waiting = task.status === TASK_STATUS.QUEUED && !assigned;
  const ahead = waiting ? await tasksAhead(db, task) : 0;
  const [slots] = await db.select({ n: sql<number>`coalesce(sum(${workers.maxJobs}), 0)::int` }).from(workers).where(eq(workers.status, 'online'));
  const totalSlots = Math.max(1, Number(slots?.n ?? 0));
  return {
    task_id: id,
    status: task.status,
    waiting_for_worker: waiting,
    position: waiting ? ahead + 1 : null,
    ahead: waiting ? ahead : 0,
    worker_id: assigned?.workerId ?? null,
    eta_seconds: waiting && typical !== null ? Math.round(Math.ceil((ahead + 1) / totalSlots) * typical) : waiting ? null : 0,
    typical_duration_seconds: typical,
  };
}
