/**
 * Picks the worker that runs a task's next attempt. Postgres is the scheduler's state: a task waits (QUEUED with
 * no assignment) until it is at the head of the line — by priority, then age — and some worker has room; then it is
 * assigned to the best worker: alive, not draining, the model warm, fewest jobs. Admission is by engine memory
 * (model memory per atom × atoms against the worker's budget), capped by the worker's job slots.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { structures, taskAssignments, tasks, workers } from './schema.js';
import { markStaleWorkersOffline } from './worker-registry.js';

/** CRITICAL=1 … LOW=4: the order of the line, and the Temporal priority key. */
export const PRIORITY_KEYS: Record<string, number> = { CRITICAL: 1, HIGH: 2, NORMAL: 3, LOW: 4 };

export const priorityRankSql = sql`case ${tasks.priority} when 'CRITICAL' then 1 when 'HIGH' then 2 when 'LOW' then 4 else 3 end`;

export interface Assignment {
  workerId: string;
  taskQueue: string;
}

/** What one scheduling call decided, and the silent workers it marked offline on the way. */
export interface ClaimDecision {
  assignment: Assignment | null;
  /** A running job to preempt for this (CRITICAL) task, and its worker. */
  preempt?: string;
  preemptWorkerId?: string;
  markedOffline: Awaited<ReturnType<typeof markStaleWorkersOffline>>;
}

// Used when a worker has not reported a model's memory: small enough never to block, large enough to count.
const DEFAULT_MB_PER_ATOM = 1;

/**
 * Claims a slot for `taskId`, or returns null when it must wait (someone ahead in line, or no room anywhere).
 * `avoidWorkerId` (the worker of a failed attempt) is chosen only when nothing else has room.
 */
export async function claimWorker(db: Db, taskId: string, opts: { staleSeconds: number; avoidWorkerId?: string }): Promise<Assignment | null> {
  return (await claimOrPreempt(db, taskId, opts)).assignment;
}

/**
 * As claimWorker; when a CRITICAL task fits nowhere, also names the running job to preempt: the lowest-priority
 * (then youngest) non-CRITICAL job whose slot, once freed, admits the task. One preemption at a time.
 */
export async function claimOrPreempt(db: Db, taskId: string, opts: { staleSeconds: number; avoidWorkerId?: string }): Promise<ClaimDecision> {
  let markedOffline: ClaimDecision['markedOffline'] = [];
  const decision = await db.transaction(async (tx): Promise<Omit<ClaimDecision, 'markedOffline'>> => {
    // One scheduler decision at a time: the line and the loads must not change under us.
    await tx.execute(sql`select pg_advisory_xact_lock(727275)`);
    markedOffline = await markStaleWorkersOffline(tx as unknown as Db, opts.staleSeconds);
    const [task] = await tx.select({
      id: tasks.id, status: tasks.status, model: tasks.model, createdAt: tasks.createdAt, rank: priorityRankSql, nAtoms: structures.nAtoms,
    }).from(tasks).leftJoin(structures, eq(structures.id, tasks.structureId)).where(eq(tasks.id, taskId));
    if (!task) return { assignment: null };
    const [existing] = await tx.select().from(taskAssignments).where(eq(taskAssignments.taskId, taskId));
    if (existing) {
      const [w] = await tx.select().from(workers).where(and(eq(workers.id, existing.workerId), eq(workers.status, 'online')));
      if (w) return { assignment: { workerId: w.id, taskQueue: w.taskQueue } };
      await tx.delete(taskAssignments).where(eq(taskAssignments.taskId, taskId));
    }
    const ahead = await tx.execute(sql`
      select 1 from ${tasks} t where t.status = 'QUEUED' and t.id <> ${taskId}
        and not exists (select 1 from ${taskAssignments} a where a.task_id = t.id)
        and (case t.priority when 'CRITICAL' then 1 when 'HIGH' then 2 when 'LOW' then 4 else 3 end, t.created_at)
            < (${task.rank}::int, ${task.createdAt.toISOString()}::timestamptz)
      limit 1`);
    if (ahead.length) return { assignment: null };

    const nAtoms = task.nAtoms ?? 1;
    const candidates = await tx.execute(sql`
      select w.id, w.task_queue,
             coalesce((w.model_memory_per_atom_mb ->> ${task.model})::float8, ${DEFAULT_MB_PER_ATOM}) * ${nAtoms} as need_mb,
             w.memory_budget_mb, w.max_jobs,
             (select count(*) from ${taskAssignments} a where a.worker_id = w.id)::int as jobs,
             (select coalesce(sum(a.memory_mb), 0) from ${taskAssignments} a where a.worker_id = w.id)::float8 as used_mb,
             (w.loaded_models ? ${task.model}) as warm
      from ${workers} w where w.status = 'online'`);
    const fits = (candidates as unknown as Array<{ id: string; task_queue: string; need_mb: number; memory_budget_mb: number; max_jobs: number; jobs: number; used_mb: number; warm: boolean }>)
      // An idle worker always admits one job, however large: the engine reports OOM (retryable) if it truly cannot.
      .filter((c) => c.jobs < c.max_jobs && (c.jobs === 0 || c.used_mb + c.need_mb <= c.memory_budget_mb))
      .sort((a, b) => Number(a.id === opts.avoidWorkerId) - Number(b.id === opts.avoidWorkerId)
        || Number(b.warm) - Number(a.warm) || a.jobs - b.jobs || a.used_mb - b.used_mb || a.id.localeCompare(b.id));
    const best = fits[0];
    if (best) {
      await tx.insert(taskAssignments).values({ taskId, workerId: best.id, memoryMB: best.need_mb });
      await tx.update(tasks).set({ workerId: best.id }).where(eq(tasks.id, taskId));
      return { assignment: { workerId: best.id, taskQueue: best.task_queue } };
    }
    if (task.rank !== 1) return { assignment: null };

    const inFlight = await tx.execute(sql`select 1 from ${taskAssignments} where preempted_at is not null limit 1`);
    if (inFlight.length) return { assignment: null };
    const running = await tx.execute(sql`
      select a.task_id, a.worker_id, a.memory_mb
      from ${taskAssignments} a join ${tasks} t on t.id = a.task_id
      where t.status = 'RUNNING' and t.priority <> 'CRITICAL'
      order by (case t.priority when 'HIGH' then 2 when 'LOW' then 4 else 3 end) desc, a.assigned_at desc`);
    const byId = new Map((candidates as unknown as Array<{ id: string; need_mb: number; memory_budget_mb: number; max_jobs: number; jobs: number; used_mb: number }>).map((c) => [c.id, c]));
    const victim = (running as unknown as Array<{ task_id: string; worker_id: string; memory_mb: number }>).find((r) => {
      const w = byId.get(r.worker_id);
      return w && w.jobs - 1 < w.max_jobs && (w.jobs === 1 || w.used_mb - r.memory_mb + w.need_mb <= w.memory_budget_mb);
    });
    if (!victim) return { assignment: null };
    await tx.update(taskAssignments).set({ preemptedAt: new Date() }).where(eq(taskAssignments.taskId, victim.task_id));
    return { assignment: null, preempt: victim.task_id, preemptWorkerId: victim.worker_id };
  });
  return { ...decision, markedOffline };
}

/**
 * Where to load a model outside any job (POST /models/{name}/load): where a job would go — an online worker among
 * `among` whose engine memory budget has room for the weights beside its jobs and the models it already holds
 * (an idle worker always admits it, as it would a job), fewest jobs first, then least memory in use. Null when
 * none has room.
 */
export async function placeModel(db: Db, opts: { needMB: number; among: string[] }): Promise<Assignment | null> {
  if (!opts.among.length) return null;
  const rows = await db.execute(sql`
    select w.id, w.task_queue, w.memory_budget_mb,
           (select count(*) from ${taskAssignments} a where a.worker_id = w.id)::int as jobs,
           (select coalesce(sum(a.memory_mb), 0) from ${taskAssignments} a where a.worker_id = w.id)::float8
             + coalesce((select sum((m ->> 'memory_MB')::float8) from jsonb_array_elements(
                 case when jsonb_typeof(w.telemetry -> 'model_cache') = 'array' then w.telemetry -> 'model_cache' else '[]'::jsonb end) m), 0)
             as used_mb
    from ${workers} w
    where w.status = 'online' and w.id in (${sql.join(opts.among.map((id) => sql`${id}`), sql`, `)})`);
  const best = (rows as unknown as Array<{ id: string; task_queue: string; memory_budget_mb: number; jobs: number; used_mb: number }>)
    .filter((w) => w.jobs === 0 || w.used_mb + opts.needMB <= w.memory_budget_mb)
    .sort((a, b) => a.jobs - b.jobs || a.used_mb - b.used_mb || a.id.localeCompare(b.id))[0];
  return best ? { workerId: best.id, taskQueue: best.task_queue } : null;
}

/** Frees a task's slot (the attempt ended, or it was paused/cancelled). */
export async function releaseWorker(db: Db, taskId: string): Promise<void> {
  await db.delete(taskAssignments).where(eq(taskAssignments.taskId, taskId));
}
