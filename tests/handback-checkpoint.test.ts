/**
 * A hand-back keeps every step done: pausing or draining a running MD job whose periodic checkpoints are far apart
 * (checkpoint_interval 10 000) makes the engine write a checkpoint at the step where it stops, and the next attempt
 * resumes there (its `resumed` event's from_step ≥ the last step the task reported). A cancel writes none.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, startTestStack, submit, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';

let stack: TestStack;
const calf = { source: 'builtin', name: 'calf' };
const HUGE = 10_000;

// Langevin NVT with the classical test potential (~100 steps/s here); opt_steps 0 leaves only the step-0 checkpoint.
const md = async (priority = 'NORMAL') => (await submit(stack.baseUrl, 'stability', {
  model: 'lj_test', structure: calf, options: { priority },
  parameters: { opt_steps: 0, nvt_steps: 1_000_000, npt_steps: 0, checkpoint_interval: HUGE, trajectory_interval: 1000 },
})).body.data.task_id as string;

const task = async (id: string) => (await api(stack.baseUrl, `/api/v1/tasks/${id}`)).body.data;
const events = async (id: string) => (await api(stack.baseUrl, `/api/v1/tasks/${id}/events`)).body.data.items as { type: string; data: any }[];
const statusIs = (id: string, status: string) => until(`${id} ${status}`, async () => (await task(id)).status === status);
const checkpointRow = async (id: string) =>
  (await stack.database.sql`select checkpoint from tasks where id = ${id}`)[0]?.checkpoint as { step: number; path: string } | null;
/** The highest step among the task's stored progress events, once it is past `min`. */
const reportedPast = (id: string, min: number) => until(`${id} reported step ${min}`, async () => {
  const steps = (await events(id)).filter((e) => e.type === 'progress').map((e) => Number(e.data.step));
  const top = Math.max(0, ...steps);
  return top >= min && top;
});
const cancel = async (id: string) => {
  await api(stack.baseUrl, `/api/v1/tasks/${id}/cancel`, { method: 'POST' });
  await statusIs(id, 'CANCELLED');
};

before(async () => {
  stack = await startTestStack({ workers: 0 });
  await stack.startWorker('h-a', { MOFSIM_ENGINE_MAX_JOBS: '1' });
  await stack.startWorker('h-b', { MOFSIM_ENGINE_MAX_JOBS: '1' });
});
after(async () => { await stack?.stop(); });

describe('hand-back checkpoints', () => {
  it('pause checkpoints at the current step; resume continues from there', async () => {
    const id = await md();
    const reported = await reportedPast(id, 150);
    await api(stack.baseUrl, `/api/v1/tasks/${id}/pause`, { method: 'POST' });
    await statusIs(id, 'PAUSED');
    const row = await checkpointRow(id);
    assert.ok(row && row.step >= reported && row.step % HUGE !== 0, `checkpoint ${JSON.stringify(row)}, reported ${reported}`);
    const failed = (await events(id)).find((e) => e.type === 'attempt_failed');
    assert.equal(failed?.data.code, 'CANCELLED');
    assert.equal(failed?.data.checkpoint_step, row.step);

    await api(stack.baseUrl, `/api/v1/tasks/${id}/resume`, { method: 'POST' });
    const resumed = await until('resumed event', async () => (await events(id)).find((e) => e.type === 'resumed'));
    assert.ok(resumed.data.from_step > 0 && resumed.data.from_step >= reported,
      `resumed from step ${resumed.data.from_step}, reported ${reported} before the pause`);
    assert.equal(resumed.data.from_step, row.step);
    // and it runs on from there
    await reportedPast(id, row.step + 50);
    await cancel(id);
  });

  it('a cancel stops the job without a checkpoint', async () => {
    const id = await md();
    await reportedPast(id, 100);
    await cancel(id);
    const row = await checkpointRow(id);
    assert.equal(row?.step ?? 0, 0, `only the step-0 checkpoint: ${JSON.stringify(row)}`);
    const failed = (await events(id)).find((e) => e.type === 'attempt_failed');
    assert.ok(failed && failed.data.checkpoint_step === undefined, JSON.stringify(failed));
  });

  it('drain hands the job back with a checkpoint at the current step; it resumes elsewhere from there', async () => {
    const id = await md();
    const reported = await reportedPast(id, 100);
    const from = (await task(id)).worker_id as string;
    const handle = stack.workers.find((w) => w.id === from)!;
    const { status } = await api(stack.baseUrl, `/api/v1/system/workers/${from}/drain`, { method: 'POST' }, { key: stack.adminKey });
    assert.equal(status, 202);
    await handle.done;
    const resumed = await until('resumed elsewhere', async () => (await events(id)).find((e) => e.type === 'resumed'));
    assert.notEqual(resumed.data.worker_id, from);
    assert.ok(resumed.data.from_step > 0 && resumed.data.from_step >= reported,
      `resumed from step ${resumed.data.from_step}, reported ${reported} before the drain`);
    assert.equal((await events(id)).find((e) => e.type === 'requeued')?.data.reason, 'WORKER_DRAINING');
    await cancel(id);
  });

  it('preemption by a CRITICAL task checkpoints the preempted job at its current step', async () => {
    // One worker (h-b) with one slot is left: a CRITICAL single point preempts the LOW MD job on it.
    const id = await md('LOW');
    const reported = await reportedPast(id, 100);
    const crit = (await submit(stack.baseUrl, 'single-point-energy', { model: 'lj_test', structure: calf, options: { priority: 'CRITICAL' } })).body.data.task_id;
    await statusIs(crit, 'COMPLETED');
    const ev = await until('preempted job resumed', async () => {
      const list = await events(id);
      return list.some((e) => e.type === 'resumed') && list;
    });
    assert.equal(ev.find((e) => e.type === 'preempted')?.data.by, crit);
    const from = ev.find((e) => e.type === 'resumed')!.data.from_step;
    assert.ok(from > 0 && from >= reported, `resumed from step ${from}, reported ${reported} before the preemption`);
    await cancel(id);
  });
});
