/** Task submission and queries: validate against models and structures, persist, start the workflow. */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { and, asc, eq, gt } from 'drizzle-orm';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Priority, TaskType } from '../../common/task-types.js';
import type { TaskWorkflowInput } from '../../workflows/task-workflow.js';
import { taskEvents, tasks, type StructureRow, type TaskEventRow, type TaskRow } from '../db/schema.js';
import type { ServerDeps } from '../deps.js';
import { AppError, fileNotFound, invalidParameter, resultNotReady, taskNotFound, unavailable, unsupportedElements } from '../errors.js';
import { getModel } from './models.js';
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
  const input: TaskWorkflowInput = {
    taskId: task.id,
    timeoutSeconds: options.timeout ?? deps.config.MOFSIM_DEFAULT_TASK_TIMEOUT_S,
    controlQueue: deps.config.MOFSIM_TASK_QUEUE,
    engineQueue: deps.config.MOFSIM_ENGINE_QUEUE,
  };
  try {
    await deps.temporal.workflow.start('taskWorkflow', {
      taskQueue: deps.config.MOFSIM_TASK_QUEUE,
      workflowId: task.id,
      args: [input],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
      await db.update(tasks).set({ status: 'FAILED', errorType: 'ORCHESTRATOR_UNAVAILABLE', errorMessage: String(err) }).where(eq(tasks.id, task.id));
      throw unavailable('ORCHESTRATOR_UNAVAILABLE', `could not queue the task: ${(err as Error).message}`);
    }
  }
  const [queued] = await db.update(tasks).set({ status: 'QUEUED', queuedAt: new Date() })
    .where(and(eq(tasks.id, task.id), eq(tasks.status, 'PENDING'))).returning();
  await db.insert(taskEvents).values({ taskId: task.id, type: 'queued', data: { priority: task.priority } });
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
