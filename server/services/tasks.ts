/** Task submission and queries: validate against models and structures, persist, start the workflow. */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { and, asc, avg, eq, gt, sql } from 'drizzle-orm';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Priority, TaskType } from '../../common/task-types.js';
import { cancelSignal, pauseSignal, resumeSignal, type TaskWorkflowInput } from '../../workflows/task-workflow.js';
import { PRIORITY_KEYS } from '../../workers/scheduler.js';
import { taskAssignments, taskEvents, taskRuns, tasks, workers, type StructureRow, type TaskEventRow, type TaskRow } from '../db/schema.js';
import type { ServerDeps } from '../deps.js';
import { AppError, fileNotFound, invalidTaskState, invalidParameter, resultNotReady, taskNotFound, unavailable, unsupportedElements } from '../errors.js';
import { appendTaskEvent } from '../db/task-events.js';
import { getModel } from './models.js';
import { checkCallback } from './webhooks.js';
import { getStructure, resolveBuiltin } from './structures.js';

export interface TaskCreate {
  model: string;
  structure: { source: 'upload' | 'builtin'; file_id?: string; name?: string };
  parameters?: Record<string, unknown>;
  options?: { priority?: Priority; timeout?: number; callback?: { url: string; events?: string[]; secret?: string } };
}

async function resolveStructure(deps: ServerDeps, ref: TaskCreate['structure']): Promise<StructureRow> {
  if (ref.source === 'builtin') {
    if (!ref.name) throw invalidParameter('structure.name is required when structure.source is "builtin"', 'structure.name');
    return resolveBuiltin(deps, ref.name);
  }
  if (!ref.file_id) throw invalidParameter('structure.file_id is required when structure.source is "upload"', 'structure.file_id');
  return getStructure(deps, ref.file_id, 'structure.file_id');
}

/** Validates and queues a task; with an idempotency key a repeated call returns the first task. */
export async function submitTask(deps: ServerDeps, taskType: TaskType, body: TaskCreate, idempotencyKey?: string): Promise<TaskRow> {
  const { db } = deps.database;
  if (idempotencyKey) {
    const [prior] = await db.select().from(tasks).where(eq(tasks.idempotencyKey, idempotencyKey));
    if (prior) return prior;
  }
  const model = await getModel(deps, body.model);
  if (!model.available) {
    throw new AppError(422, 42206, 'MODEL_UNAVAILABLE', `model ${model.id} is not available here: ${model.unavailable_reason ?? 'unknown reason'}`, 'model');
  }
  const structure = await resolveStructure(deps, body.structure);
  const covered = new Set(model.elements);
  const missing = structure.elements.filter((e) => !covered.has(e));
  if (missing.length) throw unsupportedElements(model.id, missing);
  const parameters = body.parameters ?? {};
  for (const key of ['framework_file_id', 'guest_file_id']) {
    if (typeof parameters[key] === 'string') await getStructure(deps, parameters[key] as string, `parameters.${key}`);
  }

  const options = body.options ?? {};
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
  }).onConflictDoNothing().returning();
  if (!inserted[0]) {
    // A concurrent request with the same idempotency key won.
    const [prior] = await db.select().from(tasks).where(eq(tasks.idempotencyKey, idempotencyKey!));
    return prior!;
  }
  const task = inserted[0];
  const priority = { priorityKey: PRIORITY_KEYS[task.priority] ?? 3, fairnessKey: ANONYMOUS_OWNER };
  const input: TaskWorkflowInput = {
    taskId: task.id,
    timeoutSeconds: options.timeout ?? deps.config.MOFSIM_DEFAULT_TASK_TIMEOUT_S,
    controlQueue: deps.config.MOFSIM_TASK_QUEUE,
    ...priority,
    heartbeatTimeoutSeconds: deps.config.MOFSIM_ACTIVITY_HEARTBEAT_TIMEOUT_S,
    schedulerPollSeconds: deps.config.MOFSIM_SCHEDULER_POLL_S,
  };
  try {
    await deps.temporal.workflow.start('taskWorkflow', {
      taskQueue: deps.config.MOFSIM_TASK_QUEUE,
      workflowId: task.id,
      args: [input],
      priority,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
      await db.update(tasks).set({ status: 'FAILED', errorType: 'ORCHESTRATOR_UNAVAILABLE', errorMessage: String(err) }).where(eq(tasks.id, task.id));
      throw unavailable('ORCHESTRATOR_UNAVAILABLE', `could not queue the task: ${(err as Error).message}`);
    }
  }
  const [queued] = await db.update(tasks).set({ status: 'QUEUED', queuedAt: new Date() })
    .where(and(eq(tasks.id, task.id), eq(tasks.status, 'PENDING'))).returning();
  await appendTaskEvent(db, task.id, 'queued', { priority: task.priority });
  return queued ?? (await getTask(deps, task.id));
}

/** One task by id. */
export async function getTask(deps: ServerDeps, id: string): Promise<TaskRow> {
  const [row] = await deps.database.db.select().from(tasks).where(eq(tasks.id, id));
  if (!row) throw taskNotFound(id);
  return row;
}

/** The task if it has a result to show (COMPLETED or FAILED). */
export async function getFinishedTask(deps: ServerDeps, id: string): Promise<TaskRow> {
  const task = await getTask(deps, id);
  if (!['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED'].includes(task.status)) throw resultNotReady(task.status);
  return task;
}

/** The task's events after `afterId`, oldest first. */
export async function listTaskEvents(deps: ServerDeps, id: string, afterId = 0): Promise<TaskEventRow[]> {
  await getTask(deps, id);
  return deps.database.db.select().from(taskEvents)
    .where(and(eq(taskEvents.taskId, id), gt(taskEvents.id, afterId))).orderBy(asc(taskEvents.id)).limit(1000);
}

/** Absolute path of one output file of a task (only names the task reported as outputs). */
export async function taskFilePath(deps: ServerDeps, id: string, filename: string): Promise<string> {
  const task = await getTask(deps, id);
  const names = Object.values(task.outputFiles ?? {});
  if (!names.includes(filename)) throw fileNotFound(`${filename} of task ${id}`);
  const path = join(deps.config.MOFSIM_DATA_DIR, 'tasks', id, filename);
  if (!existsSync(path)) throw fileNotFound(`${filename} of task ${id}`);
  return path;
}

// issue 4: lifecycle control, queue position.

/** Owner used as the fairness key until authentication gives tasks an owner. */
export const ANONYMOUS_OWNER = 'anonymous';

const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'];

/** Asks the task's workflow to cancel (any live state). A task whose workflow is gone is cancelled in the row. */
export async function cancelTask(deps: ServerDeps, id: string): Promise<TaskRow> {
  const task = await getTask(deps, id);
  if (TERMINAL.includes(task.status)) throw invalidTaskState(task.status, 'cancel');
  try {
    await deps.temporal.workflow.getHandle(id).signal(cancelSignal);
  } catch {
    await deps.database.db.update(tasks).set({ status: 'CANCELLED', errorType: 'CANCELLED', errorMessage: 'cancelled', completedAt: new Date() })
      .where(and(eq(tasks.id, id), sql`${tasks.status} not in ('COMPLETED','FAILED','CANCELLED','TIMEOUT')`));
    await appendTaskEvent(deps.database.db, id, 'cancelled');
  }
  return getTask(deps, id);
}

/** Asks a queued or running task to pause (a running job stops at once; it resumes from its last checkpoint). */
export async function pauseTask(deps: ServerDeps, id: string): Promise<TaskRow> {
  const task = await getTask(deps, id);
  if (!['PENDING', 'QUEUED', 'RUNNING'].includes(task.status)) throw invalidTaskState(task.status, 'pause');
  await deps.temporal.workflow.getHandle(id).signal(pauseSignal);
  return getTask(deps, id);
}

/** Asks a paused task to go back into the queue. */
export async function resumeTask(deps: ServerDeps, id: string): Promise<TaskRow> {
  const task = await getTask(deps, id);
  if (task.status !== 'PAUSED') throw invalidTaskState(task.status, 'resume');
  await deps.temporal.workflow.getHandle(id).signal(resumeSignal);
  return getTask(deps, id);
}

/**
 * Where a task stands in the line: position among tasks still waiting for a worker (1 = next), and an ETA to its
 * start from the measured durations of finished runs of the same task type and model.
 */
export async function getQueuePosition(deps: ServerDeps, id: string) {
  const { db } = deps.database;
  const task = await getTask(deps, id);
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
