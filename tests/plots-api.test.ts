/** Plots served by the API: a bulk-modulus task's EOS plot is an SVG with one mark per E(V) point. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestStack, submit, waitForTask, type TestStack } from './helpers/stack.js';

let stack: TestStack;
before(async () => { stack = await startTestStack({ workers: 1 }); });
after(async () => { await stack?.stop(); });

describe('task plots over HTTP', () => {
  it('serves eos.svg of a completed bulk-modulus task; a plot the result has no data for is 404', async () => {
    const t = await submit(stack.baseUrl, 'bulk-modulus', { model: 'lj_test', structure: { source: 'builtin', name: 'calf' },
      parameters: { npoints: 5, opt_steps: 5, point_steps: 5 } });
    assert.equal(t.status, 202, JSON.stringify(t.body));
    const done = await waitForTask(stack.baseUrl, t.body.data.task_id);
    assert.equal(done.status, 'COMPLETED', JSON.stringify(done.error));
    const headers = { authorization: `Bearer ${stack.userKey}` };
    const res = await fetch(`${stack.baseUrl}/api/v1/tasks/${done.task_id}/plots/eos.svg`, { headers });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /image\/svg\+xml/);
    const svg = await res.text();
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const group = svg.match(/<g class="mark-symbol role-mark[^"]*"[^>]*>(.*?)<\/g>/s);
    assert.ok(group, 'a symbol layer');
    assert.equal((group[1].match(/<path/g) ?? []).length, 5, 'one point per volume');
    const cv = await fetch(`${stack.baseUrl}/api/v1/tasks/${done.task_id}/plots/cv.svg`, { headers });
    assert.equal(cv.status, 404);
    assert.equal((await cv.json()).error.type, 'FILE_NOT_FOUND');
  });
});
