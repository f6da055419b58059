/**
 * Downloads in the default data layout (the stack keeps its data under a `.mofsim/data` dot-folder, as a user's
 * checkout does): task output files and uploaded structures, their Content-Type and Content-Disposition, byte
 * ranges, owner-or-admin access, and results that name files instead of server paths.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { api, calfPath, startTestStack, submit, upload, waitForTask, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let otherKey: string;
let taskId: string;
let result: any;
before(async () => {
  stack = await startTestStack({ workers: 1 });
  assert.match(stack.config.MOFSIM_DATA_DIR, /\/\.mofsim\/data$/);
  const created = await api(stack.baseUrl, '/api/v1/keys', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'someone-else' }),
  }, { key: stack.adminKey });
  otherKey = created.body.data.key;
  const fileId = (await upload(stack.baseUrl, 'calf.cif', readFileSync(calfPath))).body.data.id;
  const sub = await submit(stack.baseUrl, 'optimization', {
    model: 'lj_test', structure: { source: 'upload', file_id: fileId }, parameters: { max_steps: 4, trajectory_interval: 1 },
  });
  assert.equal(sub.status, 202, JSON.stringify(sub.body));
  taskId = sub.body.data.task_id;
  const done = await waitForTask(stack.baseUrl, taskId, 180_000);
  assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
  result = (await api(stack.baseUrl, `/api/v1/tasks/${taskId}/result`)).body.data;
}, { timeout: 300_000 });
after(async () => { await stack?.stop(); });

describe('task output files', { timeout: 120_000 }, () => {
  it('names files and download URLs in the result, never a server path', () => {
    const text = JSON.stringify(result);
    assert.ok(!text.includes(stack.config.MOFSIM_DATA_DIR), 'the data directory appears in the result');
    assert.ok(!/_path"/.test(text), `a *_path key is left in ${text.slice(0, 300)}`);
    const labels = result.files.map((f: { label: string }) => f.label).sort();
    assert.deepEqual(labels, ['optimized_structure', 'trajectory']);
    for (const f of result.files) {
      assert.equal(f.url, `/api/v1/tasks/${taskId}/files/${f.name}`);
      assert.equal(result.output_files[f.label], f.url);
    }
  });

  it('serves the final CIF to its owner as a chemical/x-cif attachment', async () => {
    const res = await fetch(stack.baseUrl + result.output_files.optimized_structure, { headers: { authorization: `Bearer ${stack.userKey}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^chemical\/x-cif/);
    assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="?final\.cif"?$/);
    assert.match(await res.text(), /_cell_length_a/);
  });

  it('serves a byte range of the trajectory', async () => {
    const url = stack.baseUrl + result.output_files.trajectory;
    const whole = Buffer.from(await (await fetch(url, { headers: { authorization: `Bearer ${stack.userKey}` } })).arrayBuffer());
    assert.ok(whole.length > 200, `trajectory of ${whole.length} bytes`);
    const part = await fetch(url, { headers: { authorization: `Bearer ${stack.userKey}`, range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-199/${whole.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), whole.subarray(100, 200));
    const beyond = await fetch(url, { headers: { authorization: `Bearer ${stack.userKey}`, range: `bytes=${whole.length + 10}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${whole.length}`);
  });

  it('answers 404 to another user and 200 to an admin', async () => {
    const url = result.output_files.optimized_structure;
    const other = await api(stack.baseUrl, url, {}, { key: otherKey });
    assert.equal(other.status, 404);
    assert.equal(other.body.error.type, 'TASK_NOT_FOUND');
    assert.equal((await api(stack.baseUrl, url, {}, { key: stack.adminKey })).status, 200);
  });

  it('answers 404 FILE_NOT_FOUND for a name the task did not produce', async () => {
    const res = await api(stack.baseUrl, `/api/v1/tasks/${taskId}/files/other.cif`);
    assert.equal(res.status, 404);
    assert.equal(res.body.error.type, 'FILE_NOT_FOUND');
  });
});

describe('structure downloads', { timeout: 120_000 }, () => {
  it('returns the uploaded bytes under their UTF-8 name (RFC 5987) to the owner and an admin only', async () => {
    const bytes = readFileSync(calfPath);
    const up = await upload(stack.baseUrl, 'Zn-MOF-α-β.cif', bytes);
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assert.equal(up.body.data.original_name, 'Zn-MOF-α-β.cif');
    const url = `/api/v1/structures/${up.body.data.id}/download`;
    const res = await fetch(stack.baseUrl + url, { headers: { authorization: `Bearer ${stack.userKey}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^chemical\/x-cif/);
    const disposition = res.headers.get('content-disposition') ?? '';
    assert.match(disposition, /^attachment; filename="Zn-MOF-\?-\?\.cif"; filename\*=UTF-8''Zn-MOF-%CE%B1-%CE%B2\.cif$/);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    assert.equal((await api(stack.baseUrl, url, {}, { key: otherKey })).status, 404);
    assert.equal((await api(stack.baseUrl, url, {}, { key: stack.adminKey })).status, 200);
  });
});
