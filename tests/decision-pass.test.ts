/**
 * One scheduling decision on a real Postgres, without a stack: the rows a pass reads and writes, the slot a
 * completed job frees given away in that job's own transaction, the shortcut a pass takes once every slot is taken,
 * what a task event's notification says, and an engine attempt's start (one statement).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DEFAULT_POLICY, schedulePass } from '../store/scheduler.js';
import { taskAssignments, taskRuns, tasks, workers } from '../store/schema.js';
import { beginAttempt, completeAttempt } from '../store/task-state.js';
import { appendTaskEvent, appendTaskEvents, TASK_EVENTS_CHANNEL, type TaskEventNotice } from '../store/task-events.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';
import { until } from './helpers/until.js';

let tdb: TestDatabase;
const db = () => tdb.database.db;
const sql = () => tdb.database.sql;

const addWorker = (id: string, maxJobs: number, heartbeatAgoS = 0) => db().insert(workers).values({
  id, hostname: 'test', pid: 1, device: 'cpu', taskQueue: `q.${id}`, status: 'online', maxJobs, memoryBudgetMB: 1000,
  lastHeartbeat: new Date(Date.now() - heartbeatAgoS * 1000),
});
/** A task RUNNING on `workerId`, holding a slot there, with an open usage row; returns its id and the row's. */
async function running(workerId: string, priority: string, options: Record<string, unknown> = {}) {
  const [t] = await db().insert(tasks).values({ taskType: 'single-point-energy', model: 'lj_test', status: 'RUNNING', priority, options, workerId })
    .returning({ id: tasks.id });
  await db().insert(taskAssignments).values({ taskId: t!.id, workerId, memoryMB: 1, seq: 1, signalledAt: new Date() });
  const [r] = await db().insert(taskRuns).values({ taskId: t!.id, workerId, device: 'cpu', taskType: 'single-point-energy', model: 'lj_test' })
    .returning({ id: taskRuns.id });
  return { id: t!.id, runId: r!.id };
}
/** A task QUEUED and in line (its first request). */
async function waiting(priority: string) {
  const [t] = await db().insert(tasks).values({ taskType: 'single-point-energy', model: 'lj_test', status: 'QUEUED', priority, waitSeq: 1, queuedAt: new Date() })
    .returning({ id: tasks.id });
  return t!.id;
}

before(async () => { tdb = await createTestDatabase(); });
after(async () => { await tdb?.drop(); });
beforeEach(async () => {
  await sql()`truncate task_assignments, task_runs, task_events, tasks, workers cascade`;
});

describe('a scheduling decision', () => {
  it('gives a completed job\'s slot to the next task in the transaction that frees it', async () => {
    await addWorker('w1', 1);
    const done = await running('w1', 'NORMAL');
    const next = await waiting('NORMAL');
    const r = await completeAttempt(db(), { taskId: done.id, runId: done.runId, result: { energy_eV: -1 }, outputFiles: {}, cacheKey: null }, DEFAULT_POLICY);
    assert.equal(r.done, true);
    assert.deepEqual(r.pass?.grants, [{ taskId: next, seq: 1, workerId: 'w1', taskQueue: 'q.w1' }]);
    // now() is the transaction's start: the grant and the completion share it only when they are one transaction.
    const [row] = await sql()`
      select a.assigned_at = e.created_at as same, t.wait_seq, c.status
      from task_assignments a, task_events e, tasks t, tasks c
      where a.task_id = ${next} and e.task_id = ${done.id} and e.type = 'completed' and t.id = ${next} and c.id = ${done.id}`;
    assert.deepEqual({ ...row }, { same: true, wait_seq: null, status: 'COMPLETED' });
    assert.equal(Number((await sql()`select count(*)::int as n from task_assignments where task_id = ${done.id}`)[0]!.n), 0);
  });

  it('with every slot taken, still preempts when the policy allows it, and only then', async () => {
    await addWorker('w1', 1);
    const normal = await running('w1', 'NORMAL');
    await waiting('HIGH');
    assert.deepEqual((await schedulePass(db())).preemptions, [], 'HIGH does not displace NORMAL');
    const critical = await waiting('CRITICAL');
    assert.deepEqual((await schedulePass(db())).preemptions, [{ taskId: normal.id, workerId: 'w1', forTaskId: critical }]);
    assert.deepEqual((await schedulePass(db())).preemptions, [], 'one preemption at a time');
  });

  it('preempts a LOW job for HIGH work when every slot is taken, unless the job opted out', async () => {
    await addWorker('w1', 1);
    await addWorker('w2', 1);
    const kept = await running('w1', 'LOW', { preemptible: false });
    const low = await running('w2', 'LOW');
    const high = await waiting('HIGH');
    assert.deepEqual((await schedulePass(db())).preemptions, [{ taskId: low.id, workerId: 'w2', forTaskId: high }]);
    assert.notEqual(kept.id, low.id);
  });

  it('marks a silent worker offline and grants nothing to it', async () => {
    await addWorker('ghost', 4, 3600);
    const task = await waiting('NORMAL');
    const r = await schedulePass(db());
    assert.deepEqual(r.grants, []);
    assert.deepEqual(r.markedOffline.map((w) => w.id), ['ghost']);
    assert.equal((await sql()`select status from workers where id = 'ghost'`)[0]!.status, 'offline');
    await addWorker('w1', 1);
    assert.deepEqual((await schedulePass(db())).grants.map((g) => [g.taskId, g.workerId]), [[task, 'w1']]);
  });
});

describe('a task event\'s notification', () => {
  it('says whether the task has a callback, for one event and for a batch', async () => {
    const seen: TaskEventNotice[] = [];
    const sub = await sql().listen(TASK_EVENTS_CHANNEL, (p) => { seen.push(JSON.parse(p) as TaskEventNotice); });
    try {
      const [hooked, plain] = await db().insert(tasks).values([
        { taskType: 'single-point-energy', model: 'lj_test', status: 'QUEUED', options: { callback: { url: 'http://127.0.0.1:9/hook' } } },
        { taskType: 'single-point-energy', model: 'lj_test', status: 'QUEUED' },
      ]).returning({ id: tasks.id });
      const one = await appendTaskEvent(db(), hooked!.id, 'started');
      const two = await appendTaskEvent(db(), plain!.id, 'started');
      const [three, four] = await appendTaskEvents(db(), [{ taskId: plain!.id, type: 'queued' }, { taskId: hooked!.id, type: 'queued' }]);
      await until('four notifications', async () => seen.length >= 4, 10_000, 20);
      assert.deepEqual(seen, [
        { id: one, task_id: hooked!.id, type: 'started', callback: true },
        { id: two, task_id: plain!.id, type: 'started', callback: false },
        { id: three, task_id: plain!.id, type: 'queued', callback: false },
        { id: four, task_id: hooked!.id, type: 'queued', callback: true },
      ]);
    } finally {
      await sub.unlisten();
    }
  });
});

describe('an engine attempt\'s start', () => {
  it('marks the task RUNNING with its started event and usage row, or writes nothing when the task ended', async () => {
    const on = { workerId: 'w1', gpuIndex: null, device: 'cpu' };
    const seen: TaskEventNotice[] = [];
    const sub = await sql().listen(TASK_EVENTS_CHANNEL, (p) => { seen.push(JSON.parse(p) as TaskEventNotice); });
    try {
      const id = await waiting('NORMAL');
      const [task] = await db().select().from(tasks);
      const runId = await beginAttempt(db(), task!, on, { type: 'started', data: { attempt: 1 } });
      assert.ok(typeof runId === 'number');
      const [t] = await sql()`select status, worker_id, wait_seq, attempts, started_at is not null as started from tasks where id = ${id}`;
      assert.deepEqual({ ...t }, { status: 'RUNNING', worker_id: 'w1', wait_seq: null, attempts: 1, started: true });
      const [run] = await sql()`select task_id, worker_id, ended_at from task_runs where id = ${runId}`;
      assert.deepEqual({ ...run }, { task_id: id, worker_id: 'w1', ended_at: null });
      await until('the started notice', async () => seen.some((n) => n.task_id === id && n.type === 'started'), 10_000, 20);

      await sql()`update tasks set status = 'CANCELLED' where id = ${id}`;
      assert.equal(await beginAttempt(db(), task!, on, { type: 'resumed', data: {} }), null);
      const counts = await sql()`select (select count(*)::int from task_runs where task_id = ${id}) as runs,
        (select count(*)::int from task_events where task_id = ${id} and type = 'resumed') as resumed,
        (select status from tasks where id = ${id}) as status`;
      assert.deepEqual({ ...counts[0] }, { runs: 1, resumed: 0, status: 'CANCELLED' });
    } finally {
      await sub.unlisten();
    }
  });
});
