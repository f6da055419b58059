/** Task state writes made by workers: status transitions, progress, events, results. */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { taskRuns, tasks, type TaskRow } from './schema.js';
import { appendTaskEvent } from './task-events.js';
import { recordCacheKey } from './result-cache.js';
import { TERMINAL_STATUSES } from '../common/task-types.js';
import { countFinished } from '../metrics/task-metrics.js';

/** Appends one event to a task's stream. */
export async function addEvent(db: Db, taskId: string, type: string, data: Record<string, unknown> = {}): Promise<void> {
  await appendTaskEvent(db, taskId, type, data);
}

/** Marks a non-terminal task RUNNING on `workerId`; returns false when the task already ended. */
export async function markRunning(db: Db, taskId: string, workerId: string, gpuIndex: number | null = null): Promise<boolean> {
  const rows = await db.update(tasks).set({
    status: 'RUNNING',
    workerId,
    gpuId: gpuIndex,
    attempts: sql`${tasks.attempts} + 1`,
    startedAt: sql`coalesce(${tasks.startedAt}, now())`,
  }).where(and(eq(tasks.id, taskId), inArray(tasks.status, ['PENDING', 'QUEUED', 'RUNNING']))).returning({ id: tasks.id });
  return rows.length > 0;
}

/** Stores the latest progress (0–100). */
export async function setProgress(db: Db, taskId: string, progress: number): Promise<void> {
  await db.update(tasks).set({ progress }).where(and(eq(tasks.id, taskId), eq(tasks.status, 'RUNNING')));
}

/** Records a terminal state once; later calls for an already-terminal task change nothing. */
export async function finish(
  db: Db,
  taskId: string,
  f: { status: (typeof TERMINAL_STATUSES)[number]; result?: Record<string, unknown>; outputFiles?: Record<string, string>; errorType?: string; errorMessage?: string },
): Promise<boolean> {
  const rows = await db.update(tasks).set({
    status: f.status,
    result: f.result ?? null,
    outputFiles: f.outputFiles ?? null,
    errorType: f.errorType ?? null,
    errorMessage: f.errorMessage ?? null,
    progress: f.status === 'COMPLETED' ? 100 : sql`${tasks.progress}`,
    completedAt: sql`now()`,
    durationSeconds: sql`extract(epoch from (now() - coalesce(${tasks.startedAt}, ${tasks.createdAt})))`,
  }).where(and(eq(tasks.id, taskId), sql`${tasks.status} not in ('COMPLETED','FAILED','CANCELLED','TIMEOUT')`)).returning({ id: tasks.id, taskType: tasks.taskType, model: tasks.model });
  if (rows[0]) countFinished(rows[0], f.status, f.errorType);
  if (rows.length && f.status === 'COMPLETED') await recordCacheKey(db, taskId);
  if (rows.length) await addEvent(db, taskId, f.status.toLowerCase(), f.errorType ? { error_type: f.errorType, message: f.errorMessage } : {});
  return rows.length > 0;
}

/** Remembers the latest checkpoint of a running task. */
export async function saveCheckpoint(db: Db, taskId: string, checkpoint: { path: string; step: number }): Promise<void> {
  await db.update(tasks).set({ checkpoint }).where(eq(tasks.id, taskId));
}

/** Opens a usage row for one engine attempt. */
export async function startRun(db: Db, deps: { workerId: string; device: string }, task: TaskRow): Promise<number> {
  const owner = task.ownerId ?? null;
  const [row] = await db.insert(taskRuns).values({
    taskId: task.id, workerId: deps.workerId, device: deps.device, owner, taskType: task.taskType, model: task.model,
  }).returning({ id: taskRuns.id });
  return row!.id;
}

/** Closes a usage row: its outcome and the device-seconds it held. */
export async function endRun(db: Db, runId: number, outcome: string): Promise<void> {
  await db.update(taskRuns).set({
    outcome, endedAt: sql`now()`, seconds: sql`extract(epoch from (now() - ${taskRuns.startedAt}))`,
  }).where(eq(taskRuns.id, runId));
}
