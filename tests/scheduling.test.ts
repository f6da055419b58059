/**
 * The event-driven scheduler on a real stack: a waiting task's history does not grow, fair share between owners
 * (with queue positions), the backfill bound, LOW preemption with a checkpointed hand-back (and its opt-out), a grant
 * whose decider died before telling the workflow, two API processes with two workers racing over 1,000 tasks, and
 * SIGKILL of the worker process in the middle of a scheduling decision.
 *
 * One stack for the file. Its worker `s-mem` has two slots but engine memory for one calf job (lj_test: 0.01 MB per
 * atom, calf 44 atoms = 0.44 MB of 0.5 MB), so a calf job running blocks every other calf job while a 2-atom one
 * still fits beside it — the shape that backfill, preemption and a held slot all need.
 */
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { after, before, describe, it } from 'node:test';
import { createKey } from '../server/services/keys.js';
import { api, startTestStack, submit, upload, waitForTask, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';

let stack: TestStack;
let temporal: Client;
const calf = { source: 'builtin', name: 'calf' };
// An admin key of its own without a practical rate limit: the tests cancel hundreds of tasks and poll.
let opsKey: string;
const admin = () => ({ key: opsKey });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Uploaded in before(): a 2-atom argon pair (0.02 MB) and a 64-atom argon crystal (0.64 MB, fits an idle worker only).
let smallStructure: { source: string; file_id: string };
let bigStructure: { source: string; file_id: string };
const singlePoint = (auth: { key: string }, extra: Record<string, unknown> = {}, baseUrl = stack.baseUrl) =>
  submit(baseUrl, 'single-point-energy', { model: 'lj_test', structure: calf, ...extra }, {}, auth);
// A Langevin NVT run with lj_test: ~100 steps/s on a loaded 2-core machine, a checkpoint every 100 steps.
const md = (auth: { key: string }, steps: number, options: Record<string, unknown> = {}, structure: unknown = calf) => submit(stack.baseUrl, 'stability', {
  model: 'lj_test', structure, options,
  parameters: { opt_steps: 0, nvt_steps: steps, npt_steps: 0, checkpoint_interval: 100, trajectory_interval: 1000 },
}, {}, auth);
const idOf = (r: { status: number; body: any }) => {
  assert.equal(r.status, 202, JSON.stringify(r.body).slice(0, 500));
  return r.body.data.task_id as string;
};
const row = async (id: string) => (await stack.database.sql`select status, started_at, checkpoint, wait_seq, worker_id from tasks where id = ${id}`)[0]!;
const statusIs = (id: string, status: string, ms = 120_000) => until(`${id} ${status}`, async () => (await row(id)).status === status, ms);
// In line (from its insert) and its workflow waiting there (it has taken its first step).
const inLine = (id: string) => until(`${id} in line`, async () => (await row(id)).wait_seq !== null
  && !!(await temporal.workflow.getHandle(id).fetchHistory().catch(() => undefined))?.events?.some((e) => e.workflowTaskCompletedEventAttributes), 120_000);
const checkpointPast = (id: string, step: number) => until(`checkpoint of ${id} past ${step}`, async () => {
  const c = (await row(id)).checkpoint as { step: number } | null;
  return !!c && c.step >= step;
}, 120_000);
const events = async (id: string) => (await stack.database.sql`select type, data from task_events where task_id = ${id} order by id`) as unknown as { type: string; data: any }[];
const cancel = (id: string) => api(stack.baseUrl, `/api/v1/tasks/${id}/cancel`, { method: 'POST' }, admin());
const batch = async (auth: { key: string }, n: number, baseUrl = stack.baseUrl) => {
  const r = await api(baseUrl, '/api/v1/tasks/batch?task_type=single-point-energy', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tasks: Array.from({ length: n }, () => ({ model: 'lj_test', structure: calf })) }),
  }, auth);
  assert.equal(r.status, 202, JSON.stringify(r.body).slice(0, 500));
  return r.body.data.task_ids as string[];
};
const historyLength = async (id: string) => (await temporal.workflow.getHandle(id).fetchHistory()).events?.length ?? 0;
// Rows as a plain array (postgres.js returns its own Array subclass, which deepEqual tells apart from []).
const rows = async (q: Promise<readonly Record<string, any>[]>) => [...(await q)];
const runsOf = (ids: string[]) => rows(stack.database.sql`
  select task_id, count(*)::int as n from task_runs where task_id = any(${ids}) group by task_id having count(*) <> 1`);
// What a stuck task looks like, for the message of a failed wait.
const describeTasks = async (ids: string[]) => {
  const counts = await stack.database.sql`select status, (wait_seq is not null) as in_line, count(*)::int as n from tasks where id = any(${ids}) group by 1, 2`;
  const stuck = await stack.database.sql`
    select t.id, t.status, t.wait_seq, t.workflow_pending, a.worker_id, a.seq, a.signalled_at,
           (select string_agg(e.type, ',' order by e.id) from task_events e where e.task_id = t.id) as events
    from tasks t left join task_assignments a on a.task_id = t.id
    where t.id = any(${ids}) and t.status not in ('COMPLETED', 'CANCELLED') limit 5`;
  return JSON.stringify({ counts, stuck });
};
const allLiveGone = (ids: string[], ms: number) => until('every task ended', async () =>
  Number((await stack.database.sql`select count(*)::int as n from tasks where id = any(${ids}) and status in ('PENDING', 'QUEUED', 'RUNNING', 'PAUSED')`)[0]!.n) === 0, ms);

const ARGON_PAIR = `2
Lattice="10.0 0.0 0.0 0.0 10.0 0.0 0.0 0.0 10.0" Properties=species:S:1:pos:R:3 pbc="T T T"
Ar 0.0 0.0 0.0
Ar 3.8 0.0 0.0
`;
// 4 × 4 × 4 argon atoms on a simple cubic lattice at 3.8 Å.
const ARGON_64 = [
  '64', 'Lattice="15.2 0.0 0.0 0.0 15.2 0.0 0.0 0.0 15.2" Properties=species:S:1:pos:R:3 pbc="T T T"',
  ...Array.from({ length: 64 }, (_, i) => `Ar ${(i % 4) * 3.8} ${(Math.floor(i / 4) % 4) * 3.8} ${Math.floor(i / 16) * 3.8}`),
].join('\n') + '\n';

before(async () => {
  stack = await startTestStack({ workers: 0, env: { MOFSIM_SCHEDULER_SWEEP_S: '1', MOFSIM_BACKFILL_MAX_BYPASS: '3' } });
  await stack.startWorker('s-mem', { MOFSIM_ENGINE_MAX_JOBS: '2', MOFSIM_ENGINE_MEMORY_BUDGET_MB: '0.5' });
  temporal = new Client({ connection: await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS }) });
  opsKey = (await createKey(stack.database.db, { name: 'scheduling-ops', role: 'admin', rate_limit_per_minute: 1_000_000 })).key;
  for (const [name, text, set] of [['ar2.xyz', ARGON_PAIR, (s: typeof smallStructure) => { smallStructure = s; }], ['ar64.xyz', ARGON_64, (s: typeof bigStructure) => { bigStructure = s; }]] as const) {
    const up = await upload(stack.baseUrl, name, text, admin());
    assert.ok(up.status === 200 || up.status === 201, JSON.stringify(up.body));
    set({ source: 'upload', file_id: up.body.data.id });
  }
});
after(async () => {
  await temporal?.connection.close();
  await stack?.stop();
});

describe('scheduling', () => {
  it('keeps a waiting task\'s history short and still: it blocks, it does not poll', async () => {
    const blocker = idOf(await md(admin(), 1_000_000, { priority: 'CRITICAL' }));
    await statusIs(blocker, 'RUNNING');
    const waiting = idOf(await singlePoint(admin()));
    await inLine(waiting);
    await sleep(2000);
    const early = await historyLength(waiting);
    // The polling line added ~5 events per second here (a claim activity and a timer every 0.5 s).
    await sleep(10_000);
    const later = await historyLength(waiting);
    assert.ok(later <= 60, `${later} events`);
    assert.equal(later, early, `history grew from ${early} to ${later} events while waiting`);
    await cancel(blocker);
    assert.equal((await waitForTask(stack.baseUrl, waiting, 120_000, admin())).status, 'COMPLETED');
    assert.ok((await historyLength(waiting)) <= 60);
  });

  it('shares slots between owners: B\'s one task starts within two freed slots although A queued 200 before it', async () => {
    const a = { key: (await createKey(stack.database.db, { name: 'owner-a', role: 'user' })).key };
    const b = { key: (await createKey(stack.database.db, { name: 'owner-b', role: 'user' })).key };
    const blocker = idOf(await md(a, 1_000_000));
    await checkpointPast(blocker, 100);
    const aIds = await batch(a, 200);
    const bId = idOf(await singlePoint(b));
    await until('all 201 in line', async () =>
      Number((await stack.database.sql`select count(*)::int as n from tasks where id = any(${[...aIds, bId]}) and wait_seq is not null`)[0]!.n) === 201,
    300_000).catch(async (err) => { throw new Error(`${err.message}: ${await describeTasks([...aIds, bId])}`); });

    // Queue positions come from the counts the triggers keep: they agree with counting the line.
    for (const id of [aIds[0]!, aIds[99]!, aIds[199]!, bId]) {
      const { body } = await api(stack.baseUrl, `/api/v1/tasks/${id}/queue`, {}, admin());
      const [counted] = await stack.database.sql`
        select count(*)::int as n from tasks t, tasks me where me.id = ${id} and t.id <> me.id and t.status in ('PENDING', 'QUEUED')
          and (t.priority_rank < me.priority_rank or (t.priority_rank = me.priority_rank and t.line_no < me.line_no))`;
      assert.equal(body.data.position, counted!.n + 1, `${id}: ${JSON.stringify(body.data)}`);
    }
    assert.equal((await api(stack.baseUrl, `/api/v1/tasks/${aIds[99]}/queue`, {}, admin())).body.data.position, 100);

    await cancel(blocker);
    await statusIs(bId, 'COMPLETED');
    const starts = await stack.database.sql`select id from tasks where id = any(${[...aIds, bId]}) and started_at is not null order by started_at, id`;
    const rank = starts.findIndex((r) => r.id === bId);
    assert.ok(rank >= 0 && rank <= 1, `B's task started ${rank + 1}th`);
    await Promise.all(aIds.map((id) => cancel(id)));
    await allLiveGone([...aIds, blocker], 300_000);
  });

  it('backfills smaller tasks past a head of line that fits nowhere, at most MOFSIM_BACKFILL_MAX_BYPASS times; then the head goes first', async () => {
    // The blocker (calf, 0.44 MB) leaves room for a 2-atom job (0.02 MB) but not for the 64-atom head (0.64 MB, more
    // than the whole budget: only an idle worker takes it), and no small job fits beside the head once it runs —
    // so start times alone show whether the head went before a fourth small task.
    const blocker = idOf(await md(admin(), 1_000_000, { priority: 'CRITICAL' }));
    await statusIs(blocker, 'RUNNING');
    const big = idOf(await md(admin(), 200, {}, bigStructure));
    await inLine(big);
    const small: string[] = [];
    for (let i = 0; i < 6; i++) small.push(idOf(await submit(stack.baseUrl, 'single-point-energy', { model: 'lj_test', structure: smallStructure }, {}, admin())));
    await until('three backfilled', async () => Number((await stack.database.sql`select count(*)::int as n from tasks where id = any(${small}) and status = 'COMPLETED'`)[0]!.n) >= 3, 300_000);
    // The remaining three are in line and stay there: the slot beside the blocker is held for the head.
    for (const id of small) await until(`${id} in line or done`, async () => { const r = await row(id); return r.wait_seq !== null || r.status === 'COMPLETED'; }, 120_000);
    await sleep(3000);
    const started = Number((await stack.database.sql`select count(*)::int as n from tasks where id = any(${small}) and started_at is not null`)[0]!.n);
    assert.equal(started, 3, `${started} small tasks started past the blocked head (bound 3)`);
    assert.equal((await row(big)).status, 'QUEUED');
    await cancel(blocker);
    assert.equal((await waitForTask(stack.baseUrl, big, 120_000, admin())).status, 'COMPLETED');
    for (const id of small) assert.equal((await waitForTask(stack.baseUrl, id, 120_000, admin())).status, 'COMPLETED');
    const [before] = await stack.database.sql`
      select count(*)::int as n from tasks s, tasks b where b.id = ${big} and s.id = any(${small}) and s.started_at < b.started_at`;
    assert.equal(before!.n, 3, 'the rest waited for the head');
  });

  it('preempts a LOW job for NORMAL work that fits nowhere: checkpointed, requeued, completed; preemptible: false opts out', async () => {
    const low = idOf(await md(admin(), 1500, { priority: 'LOW' }));
    await checkpointPast(low, 100);
    const normal = idOf(await singlePoint(admin()));
    assert.equal((await waitForTask(stack.baseUrl, normal, 120_000, admin())).status, 'COMPLETED');
    assert.equal((await waitForTask(stack.baseUrl, low, 300_000, admin())).status, 'COMPLETED');
    const ev = await events(low);
    assert.equal(ev.find((e) => e.type === 'preempted')?.data.by, normal, ev.map((e) => e.type).join(','));
    const resumed = ev.find((e) => e.type === 'resumed');
    assert.ok(resumed && resumed.data.from_step >= 100, JSON.stringify(resumed));

    const kept = idOf(await md(admin(), 1_000_000, { priority: 'LOW', preemptible: false }));
    await checkpointPast(kept, 100);
    const waits = idOf(await singlePoint(admin()));
    await inLine(waits);
    await sleep(4000);
    assert.equal((await row(waits)).status, 'QUEUED');
    assert.ok(!(await events(kept)).some((e) => e.type === 'preempted'));
    await cancel(kept);
    assert.equal((await waitForTask(stack.baseUrl, waits, 120_000, admin())).status, 'COMPLETED');
  });

  it('delivers a grant whose decider died after committing it and before telling the workflow', async () => {
    const blocker = idOf(await md(admin(), 1_000_000, { priority: 'CRITICAL' }));
    await statusIs(blocker, 'RUNNING');
    const waiting = idOf(await singlePoint(admin()));
    await inLine(waiting);
    const workerId = (await row(blocker)).worker_id as string;
    // What a decider leaves when it is killed between its commit and its signal: the grant, with signalled_at null.
    // (s-mem has the second slot; the engine runs the two jobs side by side.)
    await stack.database.sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(727275)`;
      const [t] = await tx`select wait_seq from tasks where id = ${waiting}`;
      await tx`update tasks set wait_seq = null, worker_id = ${workerId} where id = ${waiting}`;
      await tx`insert into task_assignments (task_id, worker_id, memory_mb, seq) values (${waiting}, ${workerId}, 0.44, ${t!.wait_seq})`;
    });
    assert.equal((await waitForTask(stack.baseUrl, waiting, 120_000, admin())).status, 'COMPLETED');
    assert.equal((await row(blocker)).status, 'RUNNING', 'the grant was delivered; nothing else made room');
    await cancel(blocker);
    assert.deepEqual(await runsOf([waiting]), []);
    await statusIs(blocker, 'CANCELLED');
  });

  it('delivers a grant whose signal found no workflow although the outbox flag says it was started', async () => {
    // The outbox starts a workflow, then clears the row's flag. A decider whose signal came just before that start
    // reads the flag after it: what it sees is this row — in line, flag cleared, no workflow. The grant must still
    // reach a workflow (it is started with it, or signalled once running), never be given back as if the task had
    // ended: that left the task waiting for ever, out of line and with no slot.
    const template = idOf(await singlePoint(admin()));
    assert.equal((await waitForTask(stack.baseUrl, template, 120_000, admin())).status, 'COMPLETED');
    const [copy] = await stack.database.sql`
      insert into tasks (task_type, model, structure_id, structure_name, parameters, options, owner_id, status, queued_at, wait_seq, workflow_pending)
      select task_type, model, structure_id, structure_name, parameters, options, owner_id, 'QUEUED', now(), 1, false from tasks where id = ${template}
      returning id`;
    const id = String(copy!.id);
    await stack.database.sql`select pg_notify('mofsim_schedule', '')`;
    assert.equal((await waitForTask(stack.baseUrl, id, 120_000, admin())).status, 'COMPLETED', await describeTasks([id]));
    assert.deepEqual(await runsOf([id]), []);
  });

  it('never assigns a task twice nor loses one with two API processes and two workers racing over 1,000 tasks', async () => {
    const second = await stack.startWorker('s-2', { MOFSIM_ENGINE_MAX_JOBS: '4' });
    const api2 = await stack.startApi();
    try {
      const urls = [stack.baseUrl, api2.baseUrl];
      // 960 in batches of 48 and 40 single submissions, all at once, alternating between the two API processes.
      const [batches, singles] = await Promise.all([
        Promise.all(Array.from({ length: 20 }, (_, i) => batch(admin(), 48, urls[i % 2]))),
        Promise.all(Array.from({ length: 40 }, (_, i) => singlePoint(admin(), {}, urls[i % 2]).then(idOf))),
      ]);
      const ids = [...batches.flat(), ...singles];
      assert.equal(new Set(ids).size, 1000);
      const t0 = Date.now();
      await until('all 1,000 completed', async () =>
        Number((await stack.database.sql`select count(*)::int as n from tasks where id = any(${ids}) and status = 'COMPLETED'`)[0]!.n) === ids.length,
      600_000, 1000).catch(async (err) => { throw new Error(`${err.message}: ${await describeTasks(ids)}`); });
      console.log(`# 1,000 tasks drained in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      // One run per request: a task runs once, plus at most once more for each attempt its workflow saw lost or
      // failed and put back in line (legitimate on a starved machine, and reported); more would be a slot granted twice.
      const runs = await rows(stack.database.sql`
        select t.id, (select count(*)::int from task_runs r where r.task_id = t.id) as runs,
               (select count(*)::int from task_events e where e.task_id = t.id and e.type in ('started', 'resumed')) as starts,
               (select count(*)::int from task_events e where e.task_id = t.id and e.type in ('requeued', 'preempted')) as requeues
        from tasks t where t.id = any(${ids})`);
      const requeued = runs.filter((r) => r.requeues > 0);
      if (requeued.length) console.log(`# ${requeued.length} task(s) requeued after a lost or failed attempt`);
      assert.deepEqual(runs.filter((r) => r.runs < 1 || r.runs > 1 + r.requeues || r.starts !== r.runs), [], 'every request ran exactly once');
      // A task is COMPLETED by its job; its workflow gives the slot back right after.
      await until('every slot given back', async () => (await stack.database.sql`select 1 from task_assignments where task_id = any(${ids})`).length === 0, 60_000);
      // The counts behind queue positions, kept by triggers through all of it, still agree with the rows.
      const [kept] = await stack.database.sql`
        select (select coalesce(sum(waiting), 0)::int from line_counts where level = 1) as l1, (select coalesce(sum(waiting), 0)::int from line_counts where level = 0) as l0,
               (select count(*)::int from tasks where status in ('PENDING', 'QUEUED')) as n`;
      assert.deepEqual({ ...kept }, { l1: kept!.n, l0: kept!.n, n: kept!.n });
    } finally {
      await api2.stop();
      await second.drain('test');
    }
  });

  it('loses nothing when the worker process making a scheduling decision is killed (SIGKILL) in the middle of it', async () => {
    // The child becomes the only decider: every in-process worker stops first.
    for (const w of stack.workers) await w.drain('test');
    const child = await stack.spawnWorker('s-kill', { MOFSIM_ENGINE_MAX_JOBS: '1' });
    const blocker = idOf(await md(admin(), 1_000_000));
    await statusIs(blocker, 'RUNNING');
    const queued = [idOf(await singlePoint(admin())), idOf(await singlePoint(admin())), idOf(await singlePoint(admin()))];
    for (const id of queued) await inLine(id);
    const head = queued[0]!;
    // An uncommitted claim on the head's slot row: the decision that frees the blocker's slot takes the decision
    // lock, takes the head out of line and then waits on this row — caught in the middle, it is killed.
    const hold = await stack.database.sql.reserve();
    try {
      await hold`begin`;
      await hold`insert into task_assignments (task_id, worker_id, memory_mb, seq) values (${head}, 'test-hold', 0, 0)`;
      await cancel(blocker);
      const decider = await until('a decision waiting in the middle', async () => (await stack.database.sql`
        select a.pid from pg_stat_activity a join pg_locks l on l.pid = a.pid
        where l.locktype = 'advisory' and l.objid = 727275 and l.granted and a.wait_event_type = 'Lock'
          and a.query ilike '%task_assignments%'`)[0], 120_000);
      child.process.kill('SIGKILL');
      assert.equal((await child.exited).signal, 'SIGKILL');
      await hold`rollback`;
      await until('the dead decider\'s transaction gone', async () =>
        (await stack.database.sql`select 1 from pg_stat_activity where pid = ${decider.pid}`).length === 0, 30_000);
    } finally {
      hold.release();
    }
    // Nothing of the decision survived: the head is still waiting in line, with no slot.
    assert.notEqual((await row(head)).wait_seq, null);
    assert.deepEqual(await rows(stack.database.sql`select task_id from task_assignments where task_id = ${head}`), []);
    // A new worker joins once the dead one counts as offline (so nothing is granted to its slot meanwhile).
    await until('the killed worker silent', async () => (await stack.database.sql`
      select 1 from workers where id = 's-kill' and last_heartbeat < now() - make_interval(secs => ${stack.config.MOFSIM_WORKER_STALE_S})`).length > 0, 60_000);
    await stack.startWorker('s-after', { MOFSIM_ENGINE_MAX_JOBS: '2' });
    for (const id of queued) {
      assert.equal((await waitForTask(stack.baseUrl, id, 180_000, admin())).status, 'COMPLETED', await describeTasks(queued));
    }
    assert.deepEqual(await runsOf(queued), []);
    assert.equal((await waitForTask(stack.baseUrl, blocker, 120_000, admin())).status, 'CANCELLED');
  });

  it('grants the tasks queued while no worker ran by priority, then age, once one starts', async () => {
    // No control worker runs now: the workflows of these tasks cannot take a step until one starts.
    for (const w of stack.workers) await w.drain('test');
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(idOf(await singlePoint(admin())));
    // Raised after its workflow started, so Temporal's own task-queue priority (from the start) does not order it.
    const raised = ids[6]!;
    const r = await api(stack.baseUrl, `/api/v1/tasks/${raised}/priority`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ priority: 'HIGH' }),
    }, admin());
    assert.equal(r.status, 200, JSON.stringify(r.body));
    // One slot: each start follows the previous task's end, so the order of starts is the order of the grants.
    await stack.startWorker('s-fresh', { MOFSIM_ENGINE_MAX_JOBS: '1' });
    for (const id of ids) assert.equal((await waitForTask(stack.baseUrl, id, 180_000, admin())).status, 'COMPLETED', await describeTasks(ids));
    const order = (await stack.database.sql`select id from tasks where id = any(${ids}) order by started_at`).map((x) => x.id as string);
    assert.deepEqual(order, [raised, ...ids.filter((id) => id !== raised)]);
  });
});
