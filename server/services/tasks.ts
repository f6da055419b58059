/** Task submission and queries: validate against models and structures, persist, start the workflow. */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { and, asc, avg, count, desc, eq, gt, gte, inArray, lte, notInArray, sql, type SQL } from 'drizzle-orm';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isTaskType, TASK_TYPES, TERMINAL_STATUSES, type Priority, type TaskType } from '../../common/task-types.js';
import { cacheKeyFor, findCached, reuseResult, type ResolvedRun, type ResolveRun } from '../../store/result-cache.js';
import { taskWorkflowStart, type TaskStartConfig } from '../../store/task-start.js';
import { structureFromTaskOutput, taskOutputPath } from '../../store/task-output-structure.js';
import { cancelSignal, pauseSignal, resumeSignal } from '../../workflows/task-workflow.js';
import { PRIORITY_KEYS } from '../../store/scheduler.js';
import { countFinished, countSubmitted } from '../../metrics/task-metrics.js';
import { taskAssignments, taskEvents, taskRuns, tasks, workers, type StructureRow, type TaskEventRow, type TaskRow } from '../../store/schema.js';
import type { ServerDeps } from '../deps.js';
import {
  AppError, conflict, fileNotFound, invalidParameter, invalidTaskState, quotaExceeded, resultNotReady, taskNotFound, unavailable, unsupportedElements,
} from '../errors.js';
import { appendTaskEvent } from '../../store/task-events.js';
import type { Actor } from './keys.js';
import { getModel } from './models.js';
import { checkCallback } from './webhooks.js';
import { getStructure, resolveBuiltin } from './structures.js';

export interface TaskCreate {
  model: string;
  structure: { source: 'upload' | 'builtin' | 'task'; file_id?: string; name?: string; task_id?: string; file?: string };
  parameters?: Record<string, unknown>;
  options?: { priority?: Priority; timeout?: number; callback?: { url: string; events?: string[]; secret?: string }; reuse?: boolean };
}

/** How the API starts task workflows (the same settings a campaign's workers use). */
export function taskStartConfig(deps: ServerDeps): TaskStartConfig {
  return {
    controlQueue: deps.config.MOFSIM_TASK_QUEUE, defaultTimeoutSeconds: deps.config.MOFSIM_DEFAULT_TASK_TIMEOUT_S,
    heartbeatTimeoutSeconds: deps.config.MOFSIM_ACTIVITY_HEARTBEAT_TIMEOUT_S, schedulerPollSeconds: deps.config.MOFSIM_SCHEDULER_POLL_S,
  };
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
async function checkQuotas(deps: ServerDeps, actor: Actor): Promise<void> {
  const { db } = deps.database;
  if (actor.maxConcurrentTasks !== null) {
    const [{ n }] = (await db.select({ n: count() }).from(tasks)
      .where(and(eq(tasks.ownerId, actor.keyId), notInArray(tasks.status, [...TERMINAL_STATUSES])))) as [{ n: number }];
    if (Number(n) >= actor.maxConcurrentTasks) throw quotaExceeded(`quota: at most ${actor.maxConcurrentTasks} unfinished task(s) per key`);
  }
  if (actor.gpuSecondsPerDay !== null) {
    // Run time of this key's tasks that finished in the last 24 h (CPU workers count too: the quota is compute time).
    const [{ s }] = (await db.select({ s: sql<number>`coalesce(sum(${tasks.durationSeconds}), 0)` }).from(tasks)
      .where(and(eq(tasks.ownerId, actor.keyId), gte(tasks.completedAt, new Date(Date.now() - 86_400_000))))) as [{ s: number }];
    if (Number(s) >= actor.gpuSecondsPerDay) throw quotaExceeded(`quota: ${actor.gpuSecondsPerDay} compute-seconds per day used up`);
  }
}

/** Validates and queues a task; with an idempotency key a repeated call returns the first task. */
export async function submitTask(
  deps: ServerDeps, taskType: TaskType, body: TaskCreate, idempotencyKey?: string, actor?: Actor, retryOf?: string,
): Promise<TaskRow> {
  const { db } = deps.database;
  // Keys are scoped per owner: two users choosing the same key get two tasks.
  if (idempotencyKey) idempotencyKey = `${actor?.keyId ?? 'anonymous'}:${idempotencyKey}`;
  if (idempotencyKey) {
    const [prior] = await db.select().from(tasks).where(eq(tasks.idempotencyKey, idempotencyKey));
    if (prior) return prior;
  }
  const model = await getModel(deps, body.model);
  if (!model.available) {
    throw new AppError(422, 42206, 'MODEL_UNAVAILABLE', `model ${model.id} is not available here: ${model.unavailable_reason ?? 'unknown reason'}`, 'model');
  }
  if (actor) await checkQuotas(deps, actor);
  const structure = await resolveStructure(deps, body.structure, actor);
  const covered = new Set(model.elements);
  const missing = structure.elements.filter((e) => !covered.has(e));
  if (missing.length) throw unsupportedElements(model.id, missing);
  const parameters = body.parameters ?? {};
  for (const key of ['framework_file_id', 'guest_file_id']) {
    if (typeof parameters[key] === 'string') await getStructure(deps, parameters[key] as string, `parameters.${key}`, actor);
  }

  // A task without its own callback uses its key's default webhook, if the key has one.
  const options = { ...(body.options ?? {}) };
  if (!options.callback && actor?.defaultCallback) options.callback = actor.defaultCallback;
  if (options.callback) await checkCallback(deps, options.callback);
  const inserted = await db.insert(tasks).values({
    taskType,
    model: model.id,
    priority: options.priority ?? 'NORMAL',
    structureId: structure.id,
    structureName: structure.name,
    parameters,
    options,
    idempotencyKey: idempotencyKey ?? null,
    ownerId: actor?.keyId ?? null,
    retryOf: retryOf ?? null,
    ...(body.structure.source === 'task' ? { inputTaskId: body.structure.task_id, inputFile: body.structure.file ?? 'optimized_structure' } : {}),
  }).onConflictDoNothing().returning();
  if (!inserted[0]) {
    // A concurrent request with the same idempotency key won.
    const [prior] = await db.select().from(tasks).where(eq(tasks.idempotencyKey, idempotencyKey!));
    return prior!;
  }
  const task = inserted[0];
  countSubmitted(task);
  if (options.reuse) {
    // The result cache: an identical earlier computation stands for this one (no workflow, no engine time).
    const key = await cacheKeyFor(db, engineResolve(deps), task).catch(() => null);
    const cached = key ? await findCached(db, key, task.id) : undefined;
    if (key && cached && (await reuseResult(db, deps.config.MOFSIM_DATA_DIR, task.id, cached, key))) return getTask(deps, task.id);
  }
  try {
    await deps.temporal.workflow.start('taskWorkflow', taskWorkflowStart(task, taskStartConfig(deps)));
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
      await db.update(tasks).set({ status: 'FAILED', errorType: 'ORCHESTRATOR_UNAVAILABLE', errorMessage: String(err) }).where(eq(tasks.id, task.id));
      countFinished(task, 'FAILED', 'ORCHESTRATOR_UNAVAILABLE');
      throw unavailable('ORCHESTRATOR_UNAVAILABLE', `could not queue the task: ${(err as Error).message}`);
    }
  }
  const [queued] = await db.update(tasks).set({ status: 'QUEUED', queuedAt: new Date() })
    .where(and(eq(tasks.id, task.id), eq(tasks.status, 'PENDING'))).returning();
  await appendTaskEvent(db, task.id, 'queued', { priority: task.priority });
  return queued ?? (await getTask(deps, task.id));
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

const NOT_STARTED = ['PENDING', 'QUEUED', 'PAUSED'];

/** Changes the priority of a task that has not started (409 once it runs or ended). */
export async function setTaskPriority(deps: ServerDeps, id: string, priority: Priority, actor: Actor): Promise<TaskRow> {
  const { db } = deps.database;
  const task = await getTask(deps, id, actor);
  const [row] = await db.update(tasks).set({ priority })
    .where(and(eq(tasks.id, id), inArray(tasks.status, NOT_STARTED))).returning();
  if (!row) throw conflict(40902, 'TASK_ALREADY_STARTED', `task ${id} is ${task.status}; only a task that has not started can change priority`);
  await db.insert(taskEvents).values({ taskId: id, type: 'priority_changed', data: { from: task.priority, to: priority } });
  return row;
}

const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
function levelOf(type: string): (typeof LEVELS)[number] {
  if (type === 'progress') return 'DEBUG';
  if (['failed', 'timeout'].includes(type)) return 'ERROR';
  if (['attempt_failed', 'resumed', 'cancelled'].includes(type)) return 'WARNING';
  return 'INFO';
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
  const min = q.level ? LEVELS.indexOf(q.level as (typeof LEVELS)[number]) : 0;
  const logs = rows
    .map((e) => {
      const level = levelOf(e.type);
      const d = e.data as Record<string, unknown>;
      const message = typeof d.message === 'string' ? `${e.type}: ${d.message}` : e.type;
      return {
        id: `log_${e.id}`, task_id: id, level, logger: 'mofsim.task', message,
        timestamp: e.createdAt.toISOString(), gpu_id: task.gpuId, extra: { event: e.type, ...d },
      };
    })
    .filter((l) => LEVELS.indexOf(l.level) >= min);
  const page = logs.slice(q.offset, q.offset + q.limit);
  return { task_id: id, logs: page, count: page.length, total: logs.length, limit: q.limit, offset: q.offset };
}

/** The task if it has a result to show (COMPLETED or FAILED). */
export async function getFinishedTask(deps: ServerDeps, id: string, actor?: Actor): Promise<TaskRow> {
  const task = await getTask(deps, id, actor);
  if (!['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED'].includes(task.status)) throw resultNotReady(task.status);
  return task;
}

/** The task's events after `afterId`, oldest first. */
export async function listTaskEvents(deps: ServerDeps, id: string, afterId = 0, actor?: Actor): Promise<TaskEventRow[]> {
  await getTask(deps, id, actor);
  return deps.database.db.select().from(taskEvents)
    .where(and(eq(taskEvents.taskId, id), gt(taskEvents.id, afterId))).orderBy(asc(taskEvents.id)).limit(1000);
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

// issue 4: lifecycle control, queue position.

export { ANONYMOUS_OWNER } from '../../store/task-start.js';

const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'];

/** Asks the task's workflow to cancel (any live state). A task whose workflow is gone is cancelled in the row. */
export async function cancelTask(deps: ServerDeps, id: string, actor?: Actor): Promise<TaskRow> {
  const task = await getTask(deps, id, actor);
  if (TERMINAL.includes(task.status)) throw invalidTaskState(task.status, 'cancel');
  let signalled = true;
  try {
    await deps.temporal.workflow.getHandle(id).signal(cancelSignal);
  } catch {
    signalled = false;
  }
  // A task that is not running holds no engine slot: it is CANCELLED now, whether or not a worker has seen the
  // signal yet (the workflow's own terminal write is then a no-op). A running one is marked by its workflow once the
  // engine job has stopped.
  const states = signalled ? ['PENDING', 'QUEUED', 'PAUSED'] : ['PENDING', 'QUEUED', 'PAUSED', 'RUNNING'];
  const [row] = await deps.database.db.update(tasks)
    .set({ status: 'CANCELLED', errorType: 'CANCELLED', errorMessage: 'cancelled by request', completedAt: new Date() })
    .where(and(eq(tasks.id, id), inArray(tasks.status, states))).returning();
  if (row) {
    countFinished(row, 'CANCELLED', 'CANCELLED');
    await appendTaskEvent(deps.database.db, id, 'cancelled');
  }
  return getTask(deps, id);
}

/** Asks a queued or running task to pause (a running job stops at once, checkpointed where it stopped if it can resume; it resumes from there). */
export async function pauseTask(deps: ServerDeps, id: string, actor?: Actor): Promise<TaskRow> {
  const task = await getTask(deps, id, actor);
  if (!['PENDING', 'QUEUED', 'RUNNING'].includes(task.status)) throw invalidTaskState(task.status, 'pause');
  await deps.temporal.workflow.getHandle(id).signal(pauseSignal);
  return getTask(deps, id);
}

/** Asks a paused task to go back into the queue. */
export async function resumeTask(deps: ServerDeps, id: string, actor?: Actor): Promise<TaskRow> {
  const task = await getTask(deps, id, actor);
  if (task.status !== 'PAUSED') throw invalidTaskState(task.status, 'resume');
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
  const [stats] = await db.select({ avg: avg(taskRuns.seconds) }).from(taskRuns)
    .where(and(eq(taskRuns.taskType, task.taskType), eq(taskRuns.model, task.model), eq(taskRuns.outcome, 'completed')));
  const typical = stats?.avg === null || stats?.avg === undefined ? null : Number(stats.avg);
  const waiting = task.status === 'QUEUED' && !assigned;
  let ahead = 0;
  if (waiting) {
    const [row] = await db.execute<{ n: number }>(sql`
      select count(*)::int as n from ${tasks} t where t.status = 'QUEUED' and t.id <> ${id}
        and not exists (select 1 from ${taskAssignments} a where a.task_id = t.id)
        and (case t.priority when 'CRITICAL' then 1 when 'HIGH' then 2 when 'LOW' then 4 else 3 end, t.created_at)
          < (${PRIORITY_KEYS[task.priority] ?? 3}::int, ${task.createdAt.toISOString()}::timestamptz)`);
    ahead = Number(row?.n ?? 0);
  }
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
