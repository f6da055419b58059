/**
 * A worker's row in Postgres: registered at start, heartbeated with its engine's state and GPU telemetry, marked
 * offline on a clean stop. Workers that stop heartbeating are marked offline by whoever looks next (scheduler, API).
 */
import { eq, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import type { SystemLog } from './system-logs.js';
import { workers, type WorkerRow } from './schema.js';

export interface WorkerIdentity {
  id: string;
  hostname: string;
  pid: number;
  device: string;
  gpuIndex: number | null;
  taskQueue: string;
  maxJobs: number;
  memoryBudgetMB: number;
  modelMemoryPerAtomMB: Record<string, number>;
}

/** A model resident in a worker's engine (the engine's `status` op; times ISO UTC). Heartbeated as `telemetry.model_cache`. */
export interface LoadedModelState {
  id: string;
  loaded_at: string;
  last_used: string;
  /** Jobs run on this copy since it loaded. */
  use_count: number;
  /** Jobs using it now. */
  in_use: number;
  memory_MB: number;
}

export interface WorkerState {
  loadedModels: string[];
  runningTasks: string[];
  telemetry: Record<string, unknown>;
}

/** The engine task queue of a worker: one per GPU (`<prefix>.gpu.<host>.<index>`) or per CPU worker. */
export function engineQueueName(prefix: string, host: string, workerId: string, gpuIndex: number | null): string {
  return gpuIndex === null ? `${prefix}.cpu.${workerId}` : `${prefix}.gpu.${host}.${gpuIndex}`;
}

/**
 * The queue on which a worker takes model loads and unloads (POST /models/{name}/load|unload): beside its engine
 * queue, not on it, because the engine queue has exactly as many slots as the worker has job slots, and a load or
 * an unload must not wait for a running job (often hours) to end.
 */
export function modelQueueName(engineQueue: string): string {
  return `${engineQueue}.models`;
}

/** Inserts or refreshes this worker's row as online. */
export async function registerWorker(db: Db, w: WorkerIdentity): Promise<void> {
  const values = { ...w, status: 'online', loadedModels: [], runningTasks: [], startedAt: new Date(), lastHeartbeat: new Date() };
  await db.insert(workers).values(values).onConflictDoUpdate({ target: workers.id, set: values });
}

/**
 * Stores one heartbeat and returns the row's status: `draining` when someone asked this worker to drain.
 * A row marked offline while this worker was merely slow comes back online.
 */
export async function heartbeatWorker(db: Db, id: string, s: WorkerState): Promise<string | undefined> {
  const [row] = await db.update(workers).set({
    loadedModels: s.loadedModels,
    runningTasks: s.runningTasks,
    telemetry: s.telemetry,
    lastHeartbeat: sql`now()`,
    status: sql`case when ${workers.status} = 'offline' then 'online' else ${workers.status} end`,
  }).where(eq(workers.id, id)).returning({ status: workers.status });
  return row?.status;
}

/** Sets a worker's status (draining, offline). Returns the row, or undefined when there is no such worker. */
export async function setWorkerStatus(db: Db, id: string, status: 'online' | 'draining' | 'offline'): Promise<WorkerRow | undefined> {
  const [row] = await db.update(workers).set({ status, ...(status === 'offline' ? { runningTasks: [] } : {}) })
    .where(eq(workers.id, id)).returning();
  return row;
}

/**
 * Marks every worker whose heartbeat is older than `staleSeconds` offline; returns those this call marked (with
 * several callers at once, each stale worker is returned by exactly one), with the tasks they were running (the
 * subquery reads the statement's snapshot: the row as it was before this update).
 */
export async function markStaleWorkersOffline(db: Db, staleSeconds: number): Promise<{ id: string; lastHeartbeat: Date; runningTasks: string[] }[]> {
  return db.update(workers).set({ status: 'offline', runningTasks: [] })
    .where(sql`${workers.status} <> 'offline' and ${workers.lastHeartbeat} < now() - make_interval(secs => ${staleSeconds})`)
    // Qualified by hand: drizzle writes columns unqualified in an UPDATE, which inside the subquery would mean w2's.
    .returning({ id: workers.id, lastHeartbeat: workers.lastHeartbeat, runningTasks: sql<string[]>`(select w2.running_tasks from ${workers} w2 where w2.id = "workers"."id")` });
}

/** Records the workers `markStaleWorkersOffline` just marked: a worker that stopped heartbeating died or hung. */
export function logStaleWorkers(log: SystemLog | undefined, marked: Awaited<ReturnType<typeof markStaleWorkersOffline>>, staleSeconds: number): void {
  for (const w of marked) {
    log?.warning('workers', `worker ${w.id} marked offline: no heartbeat for over ${staleSeconds} s`, {
      workerId: w.id, extra: { last_heartbeat: w.lastHeartbeat.toISOString(), running_tasks: w.runningTasks },
    });
  }
}
