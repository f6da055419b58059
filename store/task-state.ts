/**
 * The task state machine's writes: every status transition, with the event it records (through appendTaskEvent, so
 * live clients receive it), progress, results, checkpoints and usage rows. Statuses and their named sets are in
 * `task-status.ts`; a transition names the states it may leave, so a late or repeated write never resurrects a task.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { taskEvents, taskRuns, tasks, type TaskRow } from './schema.js';
import { appendTaskEvent, appendTaskEvents, notice, TASK_EVENTS_CHANNEL } from './task-events.js';
import { recordCacheKey } from './result-cache.js';
import {
  LIVE_STATUSES, NOT_STARTED_STATUSES, TASK_STATUS, TERMINAL_STATUSES, TRANSITION_EVENT, WAITING_STATUSES, type TerminalStatus,
} from './task-status.js';
import { countFinished } from '../metrics/task-metrics.js';
import { FIRST_REQUEST } from '../common/line-request.js';
import { decideIn, releaseWorker, takeDecisionLock, wakeSchedulers, type PassResult, type SchedulerPolicy } from './scheduler.js';

/** Appends one event to a task's stream. */
export async function addEvent(db: Db, taskId: string, type: string, data: Record<string, unknown> = {}): Promise<void> {
  await appendTaskEvent(db, taskId, type, data);
}

/**
 * New tasks straight into QUEUED with their `queued` events, in one transaction; the rows are the workflow outbox
 * (`workflow_pending`): their workflows start after the caller has answered, or by a worker's sweep if that process
 * died first (`store/workflow-outbox.ts`). A row whose idempotency key is taken is skipped (not returned).
 *
 * Each row is in the scheduler's line from its commit, as its workflow's first request (`common/line-request.ts`):
 * the line keeps the order of submission even while no control worker runs to carry the requests (tasks queued
 * during an outage are granted by priority and age when one returns, not in whatever order their workflows wake),
 * and a slot may be granted before the workflow has started (the decider then starts it with its signal).
 */
export async function insertQueued(db: Db, values: (typeof tasks.$inferInsert)[]): Promise<TaskRow[]> {
  if (!values.length) return [];
  return db.transaction(async (tx) => {
    const now = new Date();
    const rows = await tx.insert(tasks)
      .values(values.map((v) => ({ ...v, ...inLine(now), workflowPending: true })))
      .onConflictDoNothing().returning();
    await appendTaskEvents(tx as unknown as Db, rows.map((r) => ({ taskId: r.id, type: TRANSITION_EVENT.queued, data: { priority: r.priority } })));
    // The line changed: the schedulers decide once this commits (a NOTIFY is delivered at commit).
    if (rows.length) await wakeSchedulers(tx as unknown as Db);
    return rows;
  });
}

/**
 * A campaign's PENDING task released into the line (QUEUED, as its workflow's first request), with its `queued`
 * event, in one transaction; false when it is no longer PENDING (cancelled, or released by an earlier try).
 */
export async function releaseToLine(db: Db, taskId: string, data: Record<string, unknown>): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx.update(tasks).set(inLine(new Date()))
      .where(and(eq(tasks.id, taskId), eq(tasks.status, TASK_STATUS.PENDING))).returning({ id: tasks.id });
    if (!rows.length) return false;
    await appendTaskEvents(tx as unknown as Db, [{ taskId, type: TRANSITION_EVENT.queued, data }]);
    await wakeSchedulers(tx as unknown as Db);
    return true;
  });
}

// A task entering the line: QUEUED, and its workflow's first request already made. The schedulers are woken by
// whoever writes it, in the same transaction.
const inLine = (now: Date) => ({ status: TASK_STATUS.QUEUED, queuedAt: now, waitSeq: FIRST_REQUEST });

/**
 * Moves a live task back in line (QUEUED: preempted, requeued, unpaused) or out of it (PAUSED), recording `event`.
 * Never leaves a terminal state; returns false when the task had already ended.
 */
export async function setLiveStatus(
  db: Db, taskId: string, status: typeof TASK_STATUS.QUEUED | typeof TASK_STATUS.PAUSED, event?: string, data: Record<string, unknown> = {},
): Promise<boolean> {
  const rows = await db.update(tasks).set({ status, ...(status === TASK_STATUS.PAUSED ? { waitSeq: null } : {}) })
    .where(and(eq(tasks.id, taskId), inArray(tasks.status, [...LIVE_STATUSES])))
    .returning({ id: tasks.id });
  if (rows.length && event) await appendTaskEvent(db, taskId, event, data);
  return rows.length > 0;
}

/** Changes the priority of a task that has not started; the row, or undefined once it runs or ended. */
export async function changePriority(db: Db, taskId: string, from: string, to: string): Promise<TaskRow | undefined> {
  const [row] = await db.update(tasks).set({ priority: to })
    .where(and(eq(tasks.id, taskId), inArray(tasks.status, [...NOT_STARTED_STATUSES]))).returning();
  if (row) await appendTaskEvent(db, taskId, TRANSITION_EVENT.priorityChanged, { from, to });
  return row;
}

/**
 * CANCELLED at once for a task in one of `from` (one holding no engine slot, or any live one when its workflow is
 * gone); a running task is marked by its workflow once the job has stopped.
 */
export async function cancelNow(db: Db, taskId: string, from: readonly string[]): Promise<TaskRow | undefined> {
  const [row] = await db.update(tasks)
    .set({ status: TASK_STATUS.CANCELLED, errorType: 'CANCELLED', errorMessage: 'cancelled by request', completedAt: new Date(), waitSeq: null, workflowPending: false })
    .where(and(eq(tasks.id, taskId), inArray(tasks.status, [...from]))).returning();
  if (row) await appendTaskEvent(db, taskId, TRANSITION_EVENT.cancelled);
  return row;
}

/** Stores the latest progress (0–100). */
export async function setProgress(db: Db, taskId: string, progress: number): Promise<void> {
  await db.update(tasks).set({ progress }).where(and(eq(tasks.id, taskId), eq(tasks.status, TASK_STATUS.RUNNING)));
}

/** Records a terminal state once; later calls for an already-terminal task change nothing. */
export async function finish(
  db: Db,
  taskId: string,
  f: {
    status: TerminalStatus; result?: Record<string, unknown>; outputFiles?: Record<string, string>; errorType?: string; errorMessage?: string;
    /** The result's cache key when the caller has it (saves reading the row back); else derived from the stored result. */
    cacheKey?: string | null;
  },
): Promise<boolean> {
  const rows = await db.update(tasks).set({
    status: f.status,
    ...(f.cacheKey !== undefined ? { cacheKey: f.cacheKey } : {}),
    result: f.result ?? null,
    outputFiles: f.outputFiles ?? null,
    errorType: f.errorType ?? null,
    errorMessage: f.errorMessage ?? null,
    waitSeq: null,
    progress: f.status === TASK_STATUS.COMPLETED ? 100 : sql`${tasks.progress}`,
    completedAt: sql`now()`,
    durationSeconds: sql`extract(epoch from (now() - coalesce(${tasks.startedAt}, ${tasks.createdAt})))`,
  }).where(and(eq(tasks.id, taskId), sql`${tasks.status} not in (${sql.join(TERMINAL_STATUSES.map((s) => sql`${s}`), sql`, `)})`))
    .returning({ id: tasks.id, taskType: tasks.taskType, model: tasks.model });
  if (rows[0]) countFinished(rows[0], f.status, f.errorType);
  if (rows.length && f.status === 'COMPLETED' && f.cacheKey === undefined) await recordCacheKey(db, taskId);
  if (rows.length) await addEvent(db, taskId, f.status.toLowerCase(), f.errorType ? { error_type: f.errorType, message: f.errorMessage } : {});
  return rows.length > 0;
}

/** Remembers the latest checkpoint of a running task. */
export async function saveCheckpoint(db: Db, taskId: string, checkpoint: { path: string; step: number }): Promise<void> {
  await db.update(tasks).set({ checkpoint }).where(eq(tasks.id, taskId));
}

/**
 * The start of an engine attempt on `workerId`: a waiting (or re-run) task RUNNING, its `started` (or `resumed`)
 * event announced, and the attempt's usage row — one statement, so one round trip and atomic without a transaction.
 * Returns the usage row's id, or null when the task already ended or is paused (then nothing is written).
 */
export async function beginAttempt(
  db: Db, task: TaskRow, on: { workerId: string; gpuIndex: number | null; device: string }, event: { type: 'started' | 'resumed'; data: Record<string, unknown> },
): Promise<number | null> {
  const from = sql.join([...WAITING_STATUSES, TASK_STATUS.RUNNING].map((st) => sql`${st}`), sql`, `);
  const [row] = await db.execute<{ id: string }>(sql`
    with r as (
      update ${tasks} set status = ${TASK_STATUS.RUNNING}, worker_id = ${on.workerId}, gpu_id = ${on.gpuIndex}, wait_seq = null, bypassed = 0,
        attempts = attempts + 1, started_at = coalesce(started_at, now())
      where id = ${task.id} and status in (${from})
      returning id, owner_id, task_type, model),
    e as (
      insert into ${taskEvents} (task_id, type, data) select id, ${event.type}, ${JSON.stringify(event.data)}::jsonb from r
      returning id, task_id, type),
    n as (select count(pg_notify(${TASK_EVENTS_CHANNEL}, ${notice})) as sent from e left join ${tasks} t on t.id = e.task_id)
    insert into ${taskRuns} (task_id, worker_id, device, owner, task_type, model)
      select r.id, ${on.workerId}, ${on.device}, r.owner_id::text, r.task_type, r.model from r, n
    returning id`);
  return row ? Number(row.id) : null;
}

/**
 * A job that completed, in one transaction: its last progress event (100 %), the result and the `completed` event,
 * its slot given back and its usage row closed — and, with `decide`, the decision of who gets the slot, committed
 * with it. `done` is false when the task had already ended (nothing changes then but the slot and the usage row).
 */
export async function completeAttempt(db: Db, a: {
  taskId: string; runId: number; result: Record<string, unknown>; outputFiles: Record<string, string>;
  cacheKey: string | null; lastProgress?: Record<string, unknown>;
}, decide?: SchedulerPolicy): Promise<{ done: boolean; pass?: PassResult }> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    // The decision lock before any row: see decideIn.
    if (decide) await takeDecisionLock(t);
    if (a.lastProgress) await appendTaskEvent(t, a.taskId, 'progress', { ...a.lastProgress, progress: 100 });
    const done = await finish(t, a.taskId, { status: TASK_STATUS.COMPLETED, result: a.result, outputFiles: a.outputFiles, cacheKey: a.cacheKey });
    await releaseWorker(t, a.taskId);
    await endRun(t, a.runId, 'completed');
    return decide ? { done, pass: await decideIn(t, decide) } : { done };
  });
}

/** Closes a usage row: its outcome and the device-seconds it held. */
export async function endRun(db: Db, runId: number, outcome: string): Promise<void> {
  await db.update(taskRuns).set({
    outcome, endedAt: sql`now()`, seconds: sql`extract(epoch from (now() - ${taskRuns.startedAt}))`,
  }).where(eq(taskRuns.id, runId));
}
