/**
 * The scheduler's decisions, with Postgres as their state. A task is in line from its insert (`tasks.wait_seq` set
 * to its workflow's first request); its workflow blocks until it is told its slot, and a later wait asks again
 * (`enterLine`); nothing polls. A decision
 * (`schedulePass`) runs whenever something changes — a task enters the line, a slot frees, a worker joins or leaves —
 * and assigns everything that now fits, in this order:
 *   1. priority level (CRITICAL > HIGH > NORMAL > LOW), strictly;
 *   2. within a level, the owner with the smallest dominant share of recent use (device-seconds over the fair-share
 *      window vs. the slots', engine memory held now vs. the budgets') — then the oldest task of that owner;
 *   3. the best worker for it: online, not draining, admits its engine memory, not the worker of its failed attempt
 *      unless nothing else has room, the model warm, fewest jobs.
 * When the head of the line fits nowhere, later tasks that fit start (backfill), at most `backfillMaxBypass` times
 * while that head waits; then the slots are kept for it. A CRITICAL head that fits nowhere preempts the
 * lowest-priority (then youngest) running job whose slot admits it; a HIGH or NORMAL head with nothing fitting
 * preempts a LOW job the same way. `options.preemptible: false` opts a task out of both. One preemption at a time.
 *
 * Every decision holds one transaction-scoped advisory lock, so two deciders never hand out the same slot, and a
 * grant is the `task_assignments` row itself: committed before anyone is told, its `signalled_at` null until the
 * workflow has been signalled (a sweep re-sends grants whose decider died in between). A decision reads only the
 * workers, the running assignments and index ranges of the line (owner heads, a bounded look-ahead), so its cost does
 * not grow with the number of tasks waiting.
 */
import { and, eq, inArray, isNull, lt, ne, sql, type SQL } from 'drizzle-orm';
import type { Db } from './client.js';
import { lineCounts, taskAssignments, taskRuns, tasks, workers } from './schema.js';
import { PRIORITY_RANK, TASK_STATUS, WAITING_STATUSES } from './task-status.js';
import { markStaleWorkersOffline } from './worker-registry.js';

/** @deprecated use PRIORITY_RANK from task-status.ts; kept for callers written against the old name. */
export const PRIORITY_KEYS: Record<string, number> = PRIORITY_RANK;

/** NOTIFY channel that asks every scheduler to decide now (submit, pause/resume/cancel, reprioritise, drain). */
export const SCHEDULE_CHANNEL = 'mofsim_schedule';

const DECISION_LOCK = 727275;

export interface Assignment {
  workerId: string;
  taskQueue: string;
}

/** A slot given to one request (`seq`) of one task. */
export interface Grant extends Assignment {
  taskId: string;
  seq: number;
}

export interface SchedulerPolicy {
  /** Heartbeat age after which a worker counts as offline, seconds. */
  staleSeconds: number;
  /** How many later tasks may start ahead of a head of line that fits nowhere. */
  backfillMaxBypass: number;
  /** How deep into the line a backfill looks. */
  backfillLookahead: number;
  /** The window of recent use that fair share weighs, seconds. */
  fairShareWindowSeconds: number;
}

export const DEFAULT_POLICY: SchedulerPolicy = { staleSeconds: 15, backfillMaxBypass: 16, backfillLookahead: 64, fairShareWindowSeconds: 3600 };

export interface Preemption {
  taskId: string;
  workerId: string;
  /** The waiting task it makes room for. */
  forTaskId: string;
}

export interface PassResult {
  grants: Grant[];
  preemptions: Preemption[];
  markedOffline: Awaited<ReturnType<typeof markStaleWorkersOffline>>;
}

// Used when a worker has not reported a model's memory: small enough never to block, large enough to count.
const DEFAULT_MB_PER_ATOM = 1;
// More grants than this in one pass means something is wrong; the next pass continues.
const MAX_GRANTS_PER_PASS = 512;

/** Asks every scheduler (in every worker process) to decide now; inside a transaction it is sent at commit. */
export async function wakeSchedulers(db: Db): Promise<void> {
  await db.execute(sql`select pg_notify(${SCHEDULE_CHANNEL}, '')`);
}

/**
 * Puts request `seq` of a task in line (idempotent: a retried call changes nothing). Returns the grant when this
 * request already has one (the activity that asked is being retried), else null: the workflow waits for its signal.
 */
export async function enterLine(db: Db, input: { taskId: string; seq: number; avoidWorkerId?: string | null }): Promise<Grant | null> {
  const [granted] = await db.select({ workerId: taskAssignments.workerId, taskQueue: workers.taskQueue, status: workers.status })
    .from(taskAssignments).innerJoin(workers, eq(workers.id, taskAssignments.workerId))
    .where(and(eq(taskAssignments.taskId, input.taskId), eq(taskAssignments.seq, input.seq)));
  if (granted?.status === 'online') return { taskId: input.taskId, seq: input.seq, workerId: granted.workerId, taskQueue: granted.taskQueue };
  // A grant for an earlier request (or on a worker gone since) is stale: its slot goes back. One for this request
  // that a decision commits meanwhile is kept (it has been or will be signalled), and the request is then not put
  // back in line; a decision that finds a granted request in line anyway only takes it out (see grant()).
  await db.delete(taskAssignments).where(and(eq(taskAssignments.taskId, input.taskId), granted ? undefined : ne(taskAssignments.seq, input.seq)));
  await db.update(tasks).set({ waitSeq: input.seq, avoidWorkerId: input.avoidWorkerId ?? null })
    .where(and(eq(tasks.id, input.taskId), inArray(tasks.status, [...WAITING_STATUSES]),
      sql`not exists (select 1 from ${taskAssignments} a where a.task_id = ${input.taskId} and a.seq = ${input.seq})`));
  return null;
}

/**
 * Takes request `seq` out of the line (the task was paused, cancelled or timed out while waiting), and gives back a
 * slot granted to it in the meantime. Under the decision lock, so no decision in flight grants it afterwards.
 */
export async function leaveLine(db: Db, input: { taskId: string; seq: number }): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${DECISION_LOCK})`);
    await tx.update(tasks).set({ waitSeq: null }).where(and(eq(tasks.id, input.taskId), eq(tasks.waitSeq, input.seq)));
    const freed = await tx.delete(taskAssignments).where(and(eq(taskAssignments.taskId, input.taskId), eq(taskAssignments.seq, input.seq)))
      .returning({ taskId: taskAssignments.taskId });
    return freed.length > 0;
  });
}

/** Frees a task's slot (the attempt ended, or it was paused/cancelled). */
export async function releaseWorker(db: Db, taskId: string): Promise<void> {
  await db.delete(taskAssignments).where(eq(taskAssignments.taskId, taskId));
}

/** Clears a preemption mark whose signal did not go out, so that a later decision may choose again. */
export async function abandonPreemption(db: Db, taskId: string): Promise<void> {
  await db.update(taskAssignments).set({ preemptedAt: null }).where(eq(taskAssignments.taskId, taskId));
}

/** Records that grants reached their workflows. */
export async function markSignalled(db: Db, grants: Grant[]): Promise<void> {
  if (!grants.length) return;
  const pairs = sql.join(grants.map((g) => sql`(${g.taskId}::uuid, ${g.seq}::int)`), sql`, `);
  await db.execute(sql`update ${taskAssignments} set signalled_at = now() where (task_id, seq) in (${pairs})`);
}

/** Grants committed at least `olderThanMs` ago whose workflow was never told (its decider died first). */
export async function unsignalledGrants(db: Db, olderThanMs: number): Promise<Grant[]> {
  return db.select({ taskId: taskAssignments.taskId, seq: taskAssignments.seq, workerId: taskAssignments.workerId, taskQueue: workers.taskQueue })
    .from(taskAssignments).innerJoin(workers, eq(workers.id, taskAssignments.workerId))
    .where(and(isNull(taskAssignments.signalledAt), lt(taskAssignments.assignedAt, new Date(Date.now() - olderThanMs)), ne(taskAssignments.seq, 0)))
    .limit(500);
}

interface WorkerLoad {
  id: string;
  taskQueue: string;
  maxJobs: number;
  budgetMB: number;
  perAtomMB: Record<string, number>;
  loaded: string[];
  jobs: number;
  usedMB: number;
}

interface Candidate {
  id: string;
  model: string;
  nAtoms: number;
  rank: number;
  fairKey: string;
  lineNo: number;
  avoidWorkerId: string | null;
  waitSeq: number;
  bypassed: number;
}

const needMB = (w: WorkerLoad, c: Candidate) => (w.perAtomMB[c.model] ?? DEFAULT_MB_PER_ATOM) * c.nAtoms;
// An idle worker always admits one job, however large: the engine reports OOM (retryable) if it truly cannot.
const admits = (w: WorkerLoad, c: Candidate) => w.jobs < w.maxJobs && (w.jobs === 0 || w.usedMB + needMB(w, c) <= w.budgetMB);

function bestWorker(all: WorkerLoad[], c: Candidate): WorkerLoad | undefined {
  return all.filter((w) => admits(w, c)).sort((a, b) =>
    Number(a.id === c.avoidWorkerId) - Number(b.id === c.avoidWorkerId)
    || Number(b.loaded.includes(c.model)) - Number(a.loaded.includes(c.model))
    || a.jobs - b.jobs || a.usedMB - b.usedMB || a.id.localeCompare(b.id))[0];
}

// A candidate's size for admission: its structure's atoms (1 without one), given the column of its structure id.
const nAtomsOf = (structureId: SQL) => sql`coalesce((select s.n_atoms from structures s where s.id = ${structureId}), 1)`;

const candidateColumns = {
  id: tasks.id, model: tasks.model, nAtoms: sql<number>`${nAtomsOf(sql`${tasks.structureId}`)}`.mapWith(Number),
  rank: tasks.priorityRank, fairKey: tasks.fairKey, lineNo: tasks.lineNo, avoidWorkerId: tasks.avoidWorkerId,
  waitSeq: sql<number>`${tasks.waitSeq}`.mapWith(Number), bypassed: tasks.bypassed,
};

/** Per owner: device-seconds used in the window, and engine memory its running jobs hold now. */
class Shares {
  private deviceSeconds?: Map<string, number>;
  private memory?: Map<string, number>;
  constructor(private tx: Db, private policy: SchedulerPolicy, private ws: WorkerLoad[]) {}
  private async load() {
    if (this.deviceSeconds) return;
    const w = this.policy.fairShareWindowSeconds;
    const used = await this.tx.execute<{ owner: string; s: number }>(sql`
      select coalesce(owner, 'anonymous') as owner,
             sum(extract(epoch from (coalesce(ended_at, now()) - greatest(started_at, now() - make_interval(secs => ${w})))))::float8 as s
      from task_runs where started_at > now() - make_interval(secs => ${w}) or ended_at is null group by 1`);
    this.deviceSeconds = new Map(used.map((r) => [r.owner, Number(r.s)]));
    const held = await this.tx.execute<{ owner: string; mb: number }>(sql`
      select t.fair_key as owner, sum(a.memory_mb)::float8 as mb from task_assignments a join tasks t on t.id = a.task_id group by 1`);
    this.memory = new Map(held.map((r) => [r.owner, Number(r.mb)]));
  }
  async of(owner: string): Promise<number> {
    await this.load();
    const slots = Math.max(1, this.ws.reduce((a, w) => a + w.maxJobs, 0));
    const budget = Math.max(1, this.ws.reduce((a, w) => a + w.budgetMB, 0));
    return Math.max((this.deviceSeconds!.get(owner) ?? 0) / (this.policy.fairShareWindowSeconds * slots), (this.memory!.get(owner) ?? 0) / budget);
  }
  granted(owner: string, mb: number) {
    if (this.memory) this.memory.set(owner, (this.memory.get(owner) ?? 0) + mb);
  }
}

/** The oldest waiting task of each owner at the top priority level of the line. */
async function topHeads(tx: Db): Promise<Candidate[]> {
  // Distinct (level, owner) pairs of the line by a skip scan of its index (cost by owners, not by tasks), and the
  // oldest task of each owner at the top level, in one statement.
  const heads = await tx.execute<{
    id: string; model: string; n_atoms: number; r: number; k: string; line_no: number; avoid_worker_id: string | null; wait_seq: number; bypassed: number;
  }>(sql`
    with recursive pairs(r, k) as (
      (select priority_rank, fair_key from tasks where wait_seq is not null order by priority_rank, fair_key limit 1)
      union all
      select n.priority_rank, n.fair_key from pairs p, lateral (
        select priority_rank, fair_key from tasks where wait_seq is not null and (priority_rank, fair_key) > (p.r, p.k)
        order by priority_rank, fair_key limit 1) n
    )
    select h.id, h.model, ${nAtomsOf(sql`h.structure_id`)} as n_atoms, p.r, p.k,
           h.line_no, h.avoid_worker_id, h.wait_seq, h.bypassed
    from pairs p, lateral (
      select id, model, structure_id, line_no, avoid_worker_id, wait_seq, bypassed from tasks
      where wait_seq is not null and priority_rank = p.r and fair_key = p.k order by priority_rank, fair_key, line_no limit 1) h
    where p.r = (select min(r) from pairs)`);
  return heads.map((h) => ({
    id: h.id, model: h.model, nAtoms: Number(h.n_atoms), rank: Number(h.r), fairKey: h.k, lineNo: Number(h.line_no),
    avoidWorkerId: h.avoid_worker_id, waitSeq: Number(h.wait_seq), bypassed: Number(h.bypassed),
  }));
}

/** The next task by level, then fair share between the owners waiting at that level, then age. */
async function fairHead(cands: Candidate[], shares: Shares): Promise<Candidate | undefined> {
  if (cands.length <= 1) return cands[0];
  const scored = await Promise.all(cands.map(async (c) => ({ c, share: await shares.of(c.fairKey) })));
  scored.sort((a, b) => a.share - b.share || a.c.lineNo - b.c.lineNo);
  return scored[0]!.c;
}

/**
 * Gives `w`'s slot to request `c.waitSeq` of task `c`; undefined when that request is no longer waiting (withdrawn,
 * cancelled or renewed since it was read) or already holds a grant — a retried `enterLine` racing an earlier
 * decision can put a granted request back in line, and granting it again would hand its task a second slot.
 */
async function grant(tx: Db, c: Candidate, w: WorkerLoad): Promise<Grant | undefined> {
  const mb = needMB(w, c);
  // Taken out of line and given the slot in one statement; a grant left from an earlier request of this task is
  // stale, and this one replaces it.
  const taken = await tx.execute<{ task_id: string }>(sql`
    with taken as (
      update ${tasks} set wait_seq = null, worker_id = ${w.id} where id = ${c.id} and wait_seq = ${c.waitSeq}
        and not exists (select 1 from ${taskAssignments} a where a.task_id = ${c.id} and a.seq = ${c.waitSeq})
      returning id)
    insert into ${taskAssignments} (task_id, worker_id, memory_mb, seq)
      select id, ${w.id}, ${mb}, ${c.waitSeq} from taken
    on conflict (task_id) do update set worker_id = excluded.worker_id, memory_mb = excluded.memory_mb, seq = excluded.seq,
      assigned_at = now(), preempted_at = null, signalled_at = null
    returning task_id`);
  if (!taken.length) {
    // Withdrawn, cancelled or renewed since it was read (nothing to do), or granted already: then it only leaves the line.
    await tx.update(tasks).set({ waitSeq: null }).where(and(eq(tasks.id, c.id), eq(tasks.waitSeq, c.waitSeq)));
    return undefined;
  }
  w.jobs += 1;
  w.usedMB += mb;
  return { taskId: c.id, seq: c.waitSeq, workerId: w.id, taskQueue: w.taskQueue };
}

/** The running job to stop so that `head` fits, if the policy allows one (see the module comment). */
async function pickVictim(tx: Db, head: Candidate, ws: WorkerLoad[]): Promise<Preemption | undefined> {
  if (head.rank > PRIORITY_RANK.NORMAL) return undefined;
  // None while a preemption is in flight (one at a time): one statement, as most passes that get here find none.
  const running = await tx.execute<{ task_id: string; worker_id: string; memory_mb: number }>(sql`
    select a.task_id, a.worker_id, a.memory_mb from task_assignments a join tasks t on t.id = a.task_id
    where not exists (select 1 from task_assignments p where p.preempted_at is not null)
      and t.status = ${TASK_STATUS.RUNNING} and t.priority_rank > ${head.rank}
      and (${head.rank} = ${PRIORITY_RANK.CRITICAL} or t.priority_rank = ${PRIORITY_RANK.LOW})
      and coalesce(t.options ->> 'preemptible', 'true') <> 'false'
    order by t.priority_rank desc, a.assigned_at desc`);
  const byId = new Map(ws.map((w) => [w.id, w]));
  const victim = running.find((r) => {
    const w = byId.get(r.worker_id);
    return w && w.jobs - 1 < w.maxJobs && (w.jobs === 1 || w.usedMB - Number(r.memory_mb) + needMB(w, head) <= w.budgetMB);
  });
  if (!victim) return undefined;
  await tx.update(taskAssignments).set({ preemptedAt: new Date() }).where(eq(taskAssignments.taskId, victim.task_id));
  return { taskId: victim.task_id, workerId: victim.worker_id, forTaskId: head.id };
}

/** Serialises this transaction with every decision (held to its end; taking it again in the same one is free). */
export async function takeDecisionLock(tx: Db): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${DECISION_LOCK})`);
}

/** One scheduling decision: grants every waiting task that now fits (and at most one preemption). */
export async function schedulePass(db: Db, policy: SchedulerPolicy = DEFAULT_POLICY): Promise<PassResult> {
  return db.transaction((tx) => decideIn(tx as unknown as Db, policy));
}

/**
 * The decision of `schedulePass` inside the caller's transaction (one that has just freed a slot decides who gets
 * it before it commits: one commit instead of two). It takes the decision lock first thing, so call it before the
 * transaction touches rows a decision writes (tasks in line, assignments, workers): a decider waiting for a row
 * lock that this transaction holds while it waits for the decision lock would deadlock.
 */
export async function decideIn(tx: Db, policy: SchedulerPolicy = DEFAULT_POLICY): Promise<PassResult> {
  await takeDecisionLock(tx);
  const result: PassResult = { grants: [], preemptions: [], markedOffline: [] };
  // The line first: a decision with nobody waiting (most of them on an idle stack) ends here.
  let heads: Candidate[] | undefined = await topHeads(tx);
  if (!heads.length) return result;
  // Every worker not yet marked offline, with its load, whether its heartbeat is stale, and the lowest priority
  // level among its preemptible running jobs (what a waiting task could displace there).
  const rows = await tx.execute<{
    id: string; status: string; stale: boolean; task_queue: string; max_jobs: number; memory_budget_mb: number;
    model_memory_per_atom_mb: Record<string, number>; loaded_models: string[]; jobs: number; used_mb: number;
    lowest_rank: number | null; preempting: boolean;
  }>(sql`
    select w.id, w.status, w.last_heartbeat < now() - make_interval(secs => ${policy.staleSeconds}) as stale,
           w.task_queue, w.max_jobs, w.memory_budget_mb, w.model_memory_per_atom_mb, w.loaded_models,
           count(a.task_id)::int as jobs, coalesce(sum(a.memory_mb), 0)::float8 as used_mb,
           max(t.priority_rank) filter (where t.status = ${TASK_STATUS.RUNNING} and coalesce(t.options ->> 'preemptible', 'true') <> 'false') as lowest_rank,
           coalesce(bool_or(a.preempted_at is not null), false) as preempting
    from workers w left join task_assignments a on a.worker_id = w.id left join tasks t on t.id = a.task_id
    where w.status <> 'offline' group by w.id`);
  // Marking a silent worker offline is a write: only when one is.
  if (rows.some((r) => r.stale)) result.markedOffline = await markStaleWorkersOffline(tx, policy.staleSeconds);
  const live = rows.filter((r) => r.status === 'online' && !r.stale);
  const ws: WorkerLoad[] = live.map((r) => ({
    id: r.id, taskQueue: r.task_queue, maxJobs: r.max_jobs, budgetMB: Number(r.memory_budget_mb), perAtomMB: r.model_memory_per_atom_mb ?? {},
    loaded: r.loaded_models ?? [], jobs: Number(r.jobs), usedMB: Number(r.used_mb),
  }));
  if (!ws.length) return result;
  // With every slot taken only a preemption can change anything: none while one is in flight, none with nothing
  // preemptible running, and above LOW only for a CRITICAL task (see pickVictim).
  const preempting = rows.some((r) => r.preempting);
  const lowest = Math.max(0, ...live.map((r) => (r.lowest_rank === null ? 0 : Number(r.lowest_rank))));
  const nothingToDo = async () => {
    if (ws.some((w) => w.jobs < w.maxJobs)) return false;
    if (preempting || lowest <= PRIORITY_RANK.CRITICAL) return true;
    if (lowest === PRIORITY_RANK.LOW) return false;
    const [c] = await tx.execute<{ any: boolean }>(sql`
      select exists (select 1 from ${tasks} where wait_seq is not null and priority_rank = ${PRIORITY_RANK.CRITICAL}) as any`);
    return !c?.any;
  };
  const shares = new Shares(tx, policy, ws);
  // Each look either grants, takes a stale request out of line, or ends the pass; the bound only guards a bug.
  for (let looks = 0; result.grants.length < MAX_GRANTS_PER_PASS && looks < 4 * MAX_GRANTS_PER_PASS; looks++) {
    if (await nothingToDo()) break;
    const head = await fairHead(heads ?? (await topHeads(tx)), shares);
    heads = undefined;
    if (!head) break;
    const w = bestWorker(ws, head);
    if (w) {
      const g = await grant(tx, head, w);
      if (g) {
        shares.granted(head.fairKey, needMB(w, head));
        result.grants.push(g);
      }
      continue;
    }
    // The head fits nowhere. CRITICAL makes room at once; otherwise smaller tasks that fit go first (bounded).
    if (head.rank === PRIORITY_RANK.CRITICAL) {
      const p = await pickVictim(tx, head, ws);
      if (p) result.preemptions.push(p);
      break;
    }
    let filled: Grant | undefined;
    if (head.bypassed < policy.backfillMaxBypass && ws.some((x) => x.jobs < x.maxJobs)) {
      const ahead = await tx.select(candidateColumns).from(tasks).where(sql`${tasks.waitSeq} is not null and ${tasks.id} <> ${head.id}`)
        .orderBy(tasks.priorityRank, tasks.lineNo).limit(policy.backfillLookahead);
      for (const c of ahead) {
        const fit = bestWorker(ws, c);
        if (!fit) continue;
        filled = await grant(tx, c, fit);
        if (!filled) continue;
        shares.granted(c.fairKey, needMB(fit, c));
        await tx.update(tasks).set({ bypassed: sql`${tasks.bypassed} + 1` }).where(eq(tasks.id, head.id));
        break;
      }
    }
    if (filled) { result.grants.push(filled); continue; }
    const p = await pickVictim(tx, head, ws);
    if (p) result.preemptions.push(p);
    break;
  }
  return result;
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

// Bucket widths of `line_counts` (its levels 0 and 1), as shifts of the ticket; the trigger in migration 0013 uses them.
const FINE_BITS = sql.raw('10');
const COARSE_BITS = sql.raw('20');
const FINE_PER_COARSE_BITS = sql.raw('10');

/**
 * Tasks waiting to start ahead of `task` (PENDING or QUEUED, at a higher priority level, or at its level with an
 * earlier ticket): its queue position minus one. The cost does not depend on the length of the line: instead of
 * counting the waiting rows it adds up the counts that triggers keep in `line_counts` (migration 0013) — one row per
 * 2^20 tickets for the whole ranges ahead, one per 2^10 tickets for the part of the task's own 2^20 range before it —
 * and counts rows (through `tasks_waiting_idx`) only inside the task's own 2^10-ticket bucket: at most ~2,000 rows
 * read for any line below 2^30 tickets. By level and age: fair share may start another owner's younger task first.
 */
export async function tasksAhead(db: Db, task: { priorityRank: number; lineNo: number }): Promise<number> {
  const r = task.priorityRank;
  const n = task.lineNo;
  const waiting = sql.join(WAITING_STATUSES.map((st) => sql`${st}`), sql`, `);
  const [row] = await db.execute<{ n: number }>(sql`
    select (
      coalesce((select sum(c.waiting) from ${lineCounts} c where c.level = 1
        and (c.priority_rank < ${r}::int or (c.priority_rank = ${r}::int and c.bucket < ${n}::bigint >> ${COARSE_BITS}))), 0)
      + coalesce((select sum(c.waiting) from ${lineCounts} c where c.level = 0 and c.priority_rank = ${r}::int
        and c.bucket >= (${n}::bigint >> ${COARSE_BITS}) << ${FINE_PER_COARSE_BITS} and c.bucket < ${n}::bigint >> ${FINE_BITS}), 0)
      + (select count(*) from ${tasks} t where t.status in (${waiting}) and t.priority_rank = ${r}::int
        and t.line_no >= (${n}::bigint >> ${FINE_BITS}) << ${FINE_BITS} and t.line_no < ${n}::bigint)
    )::int as n`);
  return Number(row?.n ?? 0);
}

/** Mean seconds of the latest completed runs of one task type and model (null before the first): the ETA's unit. */
export async function typicalRunSeconds(db: Db, taskType: string, model: string): Promise<number | null> {
  // The latest 100 through task_runs_completed_idx: bounded, and it follows a model that got faster or slower.
  const [row] = await db.execute<{ s: number | null }>(sql`
    select avg(seconds)::float8 as s from (select seconds from ${taskRuns} where task_type = ${taskType} and model = ${model}
      and outcome = 'completed' order by id desc limit 100) recent`);
  return row?.s === null || row?.s === undefined ? null : Number(row.s);
}
