/**
 * A worker's row in Postgres: registered at start, heartbeated with its engine's state and GPU telemetry, marked
 * offline on a clean stop. Workers that stop heartbeating are marked offline by whoever looks next (scheduler, API).
 */
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../server/db/client.js';
import { workers, type WorkerRow } from '../server/db/schema.js';

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

/** Marks every worker whose heartbeat is older than `staleSeconds` offline. */
export async function markStaleWorkersOffline(db: Db, staleSeconds: number): Promise<void> {
  await db.update(workers).set({ status: 'offline', runningTasks: [] })
    .where(sql`${workers.status} <> 'offline' and ${workers.lastHeartbeat} < now() - make_interval(secs => ${staleSeconds})`);
}
