/**
 * The speed task (MOFSimBench §1.7) through the API on a real stack: the benchmark's MOF-5 (424 atoms, built-in),
 * its result, its score; bad parameters are refused at submission.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { scoreTasks } from '../scoring/campaign-scores.js';
import { api, startTestStack, submit, waitForTask, type TestStack } from './helpers/stack.js';

let stack: TestStack;
before(async () => { stack = await startTestStack({ workers: 1 }); });
after(async () => { await stack?.stop(); });

describe('speed task', () => {
  it('times FIRE + FrechetCellFilter steps on the built-in MOF-5 and scores atoms·steps/s', async () => {
    const t = await submit(stack.baseUrl, 'speed', { model: 'lj_test', structure: { source: 'builtin', name: 'MOF-5' }, parameters: { steps: 3 } });
    assert.equal(t.status, 202, JSON.stringify(t.body));
    const done = await waitForTask(stack.baseUrl, t.body.data.task_id);
    assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
    const r = (await api(stack.baseUrl, `/api/v1/tasks/${done.task_id}/result`)).body.data.result;
    assert.equal(r.n_atoms, 424);
    assert.equal(r.optimizer_steps, 4); // one warm-up step + 3 timed
    assert.ok(r.time_per_step_s > 0 && Math.abs(r.time_per_step_s - r.total_time_s / 3) < 1e-12);
    const [score] = scoreTasks([{
      id: done.task_id, taskType: 'speed', model: 'lj_test', structureName: 'MOF-5', status: 'COMPLETED', parameters: {},
      result: r, errorType: null, errorMessage: null, createdAt: new Date(),
    }]);
    assert.equal(score.protocol, 'speed');
    assert.ok(Math.abs((score.aggregate.metrics.atoms_steps_per_s as number) - 424 / r.time_per_step_s) < 1e-6);
  });

  it('refuses out-of-bounds parameters with the field named', async () => {
    const t = await submit(stack.baseUrl, 'speed', { model: 'lj_test', structure: { source: 'builtin', name: 'MOF-5' }, parameters: { steps: 1 } });
    assert.equal(t.status, 400);
    assert.match(t.body.error.field, /steps/);
  });
});
