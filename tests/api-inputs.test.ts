/** Bad input gets a clear 4xx with a machine-readable code and the offending field, and nothing crashes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { api, calfPath, startTestStack, submit, upload, type TestStack } from './helpers/stack.js';

let stack: TestStack;
before(async () => { stack = await startTestStack({ workers: 0, env: { MOFSIM_MAX_UPLOAD_MB: '1' } }); });
after(async () => { await stack?.stop(); });

const calf = () => readFileSync(calfPath);

describe('structure uploads', () => {
  it('stores a CIF and reports its formula, atom count, cell and checksum', async () => {
    const { status, body, headers } = await upload(stack.baseUrl, 'calf.cif', calf());
    assert.equal(status, 200);
    assert.equal(body.success, true);
    assert.equal(body.data.n_atoms, 44);
    assert.equal(body.data.format, 'cif');
    assert.match(body.data.checksum, /^[0-9a-f]{64}$/);
    assert.deepEqual([...body.data.elements].sort(), ['C', 'H', 'N', 'O', 'Zn']);
    assert.ok(body.data.volume_A3 > 700 && body.data.volume_A3 < 800, `volume ${body.data.volume_A3}`);
    assert.equal(headers.get('x-request-id'), body.request_id);
    const again = await upload(stack.baseUrl, 'calf.cif', calf());
    assert.equal(again.body.data.id, body.data.id, 'identical upload maps to the same record');
    const got = await api(stack.baseUrl, `/api/v1/structures/${body.data.id}`);
    assert.equal(got.body.data.formula, body.data.formula);
  });

  it('expands CIF symmetry operations (LTA zeolite: 72 atoms)', async () => {
    const lta = readFileSync(calfPath.replace('calf.cif', 'LTA.cif'));
    const { status, body } = await upload(stack.baseUrl, 'LTA.cif', lta);
    assert.equal(status, 200);
    assert.equal(body.data.n_atoms, 72);
  });

  const rejects: [string, string, Buffer | string, string][] = [
    ['an empty file', 'empty.cif', '', 'EMPTY_FILE'],
    ['binary junk', 'junk.cif', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)), 'PARSE_ERROR'],
    ['a CIF with no atoms', 'noatoms.cif', 'data_x\n_cell_length_a 10\n_cell_length_b 10\n_cell_length_c 10\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n', 'EMPTY_STRUCTURE'],
    ['an unknown element', 'xx.cif', readFileSync(calfPath, 'utf8').replace(/\bZn\b/g, 'Qz'), 'UNKNOWN_ELEMENT'],
    ['an unsupported extension', 'calf.docx', 'hello', 'UNSUPPORTED_FORMAT'],
  ];
  for (const [what, name, content, type] of rejects) {
    it(`rejects ${what} with 400 / ${type}`, async () => {
      const { status, body } = await upload(stack.baseUrl, name, content);
      assert.equal(status, 400, JSON.stringify(body));
      assert.equal(body.success, false);
      assert.equal(body.code, 40001);
      assert.equal(body.error.type, type);
      assert.equal(body.error.field, 'file');
    });
  }

  it('rejects a file over the size limit with 413', async () => {
    const big = Buffer.alloc(1.5 * 1024 * 1024, 'a');
    const { status, body } = await upload(stack.baseUrl, 'big.cif', big);
    assert.equal(status, 413);
    assert.equal(body.code, 41300);
    assert.equal(body.error.field, 'file');
  });

  it('rejects a multipart request without a file', async () => {
    const form = new FormData();
    form.append('name', 'x');
    const { status, body } = await api(stack.baseUrl, '/api/v1/structures', { method: 'POST', body: form });
    assert.equal(status, 400);
    assert.equal(body.success, false);
    assert.equal(body.error.field, 'file');
  });

  it('answers 404 for an unknown structure and 400 for a malformed id', async () => {
    const missing = await api(stack.baseUrl, '/api/v1/structures/00000000-0000-4000-8000-000000000000');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 40403);
    const bad = await api(stack.baseUrl, '/api/v1/structures/not-a-uuid');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'structure_id');
  });

  it('keeps serving after bad input', async () => {
    const { status, body } = await api(stack.baseUrl, '/api/v1/models');
    assert.equal(status, 200);
    assert.ok(body.data.total >= 1);
  });
});

describe('task submission validation', () => {
  let fileId: string;
  before(async () => { fileId = (await upload(stack.baseUrl, 'calf.cif', calf())).body.data.id; });

  it('rejects invalid JSON', async () => {
    const { status, body } = await api(stack.baseUrl, '/api/v1/tasks/optimization', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": ',
    });
    assert.equal(status, 400);
    assert.equal(body.code, 40000);
    assert.equal(body.error.type, 'INVALID_JSON');
  });

  it('rejects an unknown model with 404 / 40401', async () => {
    const { status, body } = await submit(stack.baseUrl, 'optimization', { model: 'no_such_model', structure: { source: 'upload', file_id: fileId } });
    assert.equal(status, 404);
    assert.equal(body.code, 40401);
    assert.equal(body.error.field, 'model');
  });

  it('rejects an absurd parameter, naming the field', async () => {
    const { status, body } = await submit(stack.baseUrl, 'optimization', {
      model: 'sevennet_prod', structure: { source: 'upload', file_id: fileId }, parameters: { fmax: 0 },
    });
    assert.equal(status, 400);
    assert.equal(body.code, 40002);
    assert.equal(body.error.field, 'parameters.fmax');
  });

  it('rejects an unknown parameter', async () => {
    const { status, body } = await submit(stack.baseUrl, 'optimization', {
      model: 'sevennet_prod', structure: { source: 'upload', file_id: fileId }, parameters: { no_such_parameter: 10 },
    });
    assert.equal(status, 400);
    assert.equal(body.code, 40002);
    assert.match(body.error.field ?? '', /^parameters/);
  });

  it('rejects a structure id that does not exist', async () => {
    const { status, body } = await submit(stack.baseUrl, 'single-point-energy', {
      model: 'sevennet_prod', structure: { source: 'upload', file_id: '00000000-0000-4000-8000-000000000000' },
    });
    assert.equal(status, 404);
    assert.equal(body.code, 40403);
    assert.equal(body.error.field, 'structure.file_id');
  });

  it('rejects a bad priority and a timeout out of range', async () => {
    for (const options of [{ priority: 'URGENT' }, { timeout: 5 }]) {
      const { status, body } = await submit(stack.baseUrl, 'optimization', {
        model: 'sevennet_prod', structure: { source: 'upload', file_id: fileId }, options,
      });
      assert.equal(status, 400, JSON.stringify(options));
      assert.match(body.error.field, /^options\./);
    }
  });

  it('answers 404 for an unknown task', async () => {
    const { status, body } = await api(stack.baseUrl, '/api/v1/tasks/00000000-0000-4000-8000-000000000000');
    assert.equal(status, 404);
    assert.equal(body.code, 40402);
  });
});
