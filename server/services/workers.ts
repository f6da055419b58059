/** Workers and GPUs as the API shows them, remote drain, and usage accounting. */
import { asc, eq, sql } from 'drizzle-orm';
import { logStaleWorkers, markStaleWorkersOffline, setWorkerStatus } from '../../store/worker-registry.js';
import { taskRuns, workers, type WorkerRow } from '../../store/schema.js';
import type { ServerDeps } from '../deps.js';
import { invalidParameter, workerNotFound } from '../errors.js';
import type { Actor } from './keys.js';

/** Every known worker (stale ones marked offline first), online first. */
export async function listWorkers(deps: ServerDeps): Promise<WorkerRow[]> {
  const { db } = deps.database;
  logStaleWorkers(deps.systemLog, await markStaleWorkersOffline(db, deps.config.MOFSIM_WORKER_STALE_S), deps.config.MOFSIM_WORKER_STALE_S);
  return db.select().from(workers).orderBy(sql`case ${workers.status} when 'online' then 0 when 'draining' then 1 else 2 end`, asc(workers.id));
}

/** The workers that drive a GPU. */
export async function listGpuWorkers(deps: ServerDeps): Promise<WorkerRow[]> {
  return (await listWorkers(deps)).filter((w) => w.gpuIndex !== null);
}

/** Asks a worker to drain: it stops taking work, hands its jobs back (they resume elsewhere) and exits. */
export async function drainWorker(deps: ServerDeps, id: string, by?: { actor: Actor; requestId?: string }): Promise<WorkerRow> {
  const [row] = await deps.database.db.select().from(workers).where(eq(workers.id, id));
  if (!row) throw workerNotFound(id);
  if (row.status === 'offline') return row;
  const drained = (await setWorkerStatus(deps.database.db, id, 'draining'))!;
  deps.systemLog.info('admin', `drain requested for worker ${id}`, {
    workerId: id, requestId: by?.requestId,
    extra: { by_key_id: by?.actor.keyId, by_key_name: by?.actor.name, previous_status: row.status, running_tasks: row.runningTasks },
  });
  return drained;
}

/** Device-seconds per task and per owner, from the engine attempts' usage rows (`group_by`: owner | task). */
export async function getUsage(deps: ServerDeps, opts: { actor?: Actor; groupBy?: string; taskId?: string }) {
  const groupBy = opts.groupBy ?? 'owner';
  // A user key sees its own usage; an admin key sees everyone's.
  const ownerOnly = opts.actor && opts.actor.role !== 'admin' ? opts.actor.keyId : undefined;
  if (!['owner', 'task'].includes(groupBy)) throw invalidParameter(`group_by must be owner or task (got ${groupBy})`, 'group_by');
  const key = groupBy === 'owner' ? sql`coalesce(${taskRuns.owner}, 'anonymous')` : sql`${taskRuns.taskId}::text`;
  // A run still going counts up to now.
  const seconds = sql`coalesce(${taskRuns.seconds}, extract(epoch from (now() - ${taskRuns.startedAt})))`;
  const rows = await deps.database.db.execute<{ key: string; device_seconds: number; gpu_seconds: number; runs: number; tasks: number }>(sql`
    select ${key} as key,
           sum(${seconds})::float8 as device_seconds,
           coalesce(sum(${seconds}) filter (where ${taskRuns.device} like 'cuda%'), 0)::float8 as gpu_seconds,
           count(*)::int as runs, count(distinct ${taskRuns.taskId})::int as tasks
    from ${taskRuns}
    where true
      ${opts.taskId ? sql`and ${taskRuns.taskId} = ${opts.taskId}` : sql``}
      ${ownerOnly ? sql`and ${taskRuns.owner} = ${ownerOnly}` : sql``}
    group by 1 order by 2 desc`);
  return { group_by: groupBy, items: [...rows].map((r) => ({ ...r, device_seconds: Number(r.device_seconds), gpu_seconds: Number(r.gpu_seconds) })) };
}
