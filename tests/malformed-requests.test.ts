/**
 * Malformed requests against a running API: each answers a 4xx with `error.type` and `error.field`, never a 5xx,
 * and the API and its engine stay up. Callback URLs given here are loopback forms only (with a closed port): a
 * server that wrongly accepted one would contact nothing but this machine. Then the `/ws` failed-auth guard.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { api, calfPath, startTestStack, submit, upload, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let fileId: string;
let taskId: string;
let closedPort: number;
before(async () => {
  stack = await startTestStack({ workers: 0, env: { MOFSIM_AUTH_FAIL_LIMIT: '4', MOFSIM_WEBHOOK_ALLOW_HOSTS: '127.0.0.2' } });
  fileId = (await upload(stack.baseUrl, 'calf.cif', readFileSync(calfPath))).body.data.id;
  const t = await submit(stack.baseUrl, 'optimization', { model: 'lj_test', structure: { source: 'upload', file_id: fileId }, parameters: { max_steps: 2 } });
  assert.equal(t.status, 202, JSON.stringify(t.body));
  taskId = t.body.data.task_id;
  // A port nothing listens on: a refused-but-wrongly-accepted callback would reach nothing.
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closedPort = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
}, { timeout: 300_000 });
after(async () => { await stack?.stop(); });

interface Case { name: string; method?: string; path: string | (() => string); body?: unknown; raw?: string; headers?: Record<string, string>; admin?: boolean; form?: () => FormData; status?: number; type?: string; field?: string }

// Cases are built before the upload exists: this id stands for it and is replaced when a case is sent.
const FILE = '00000000-0000-4000-8000-00000000f11e';
const lj = (parameters: unknown, extra: Record<string, unknown> = {}) => ({ model: 'lj_test', structure: { source: 'upload', file_id: FILE }, parameters, ...extra });
const cb = (url: string) => lj({ max_steps: 2 }, { options: { callback: { url } } });
const hc = (parameters: Record<string, unknown>) => ({ model: 'lj_test', structure: { source: 'upload', file_id: FILE }, parameters });
const big = '100000000000000000000';
const real = <T>(body: T): T => JSON.parse(JSON.stringify(body).replaceAll(FILE, fileId));

const cases: Case[] = [
  // Pagination and ids out of range
  { name: 'page 1e20 on /tasks', path: `/api/v1/tasks?page=${big}`, field: 'page' },
  { name: 'page 1e20 on /structures', path: `/api/v1/structures?page=${big}`, field: 'page' },
  { name: 'page 1e20 on /alerts/history', path: `/api/v1/alerts/history?page=${big}`, admin: true, field: 'page' },
  { name: 'before_id 1e20 on /system/logs', path: `/api/v1/system/logs?before_id=${big}`, admin: true, field: 'before_id' },
  { name: 'page 0', path: '/api/v1/tasks?page=0', field: 'page' },
  { name: 'page -1', path: '/api/v1/tasks?page=-1', field: 'page' },
  { name: 'page 1.5', path: '/api/v1/tasks?page=1.5', field: 'page' },
  { name: 'page abc', path: '/api/v1/tasks?page=abc', field: 'page' },
  { name: 'page_size 0', path: '/api/v1/tasks?page_size=0', field: 'page_size' },
  { name: 'page_size 101', path: '/api/v1/tasks?page_size=101', field: 'page_size' },
  { name: 'after_id 1e20 on task events', path: () => `/api/v1/tasks/${taskId}/events?after_id=${big}`, field: 'after_id' },
  { name: 'Last-Event-ID 1e20 on task events', path: () => `/api/v1/tasks/${taskId}/events`, headers: { 'Last-Event-ID': big }, field: 'Last-Event-ID' },
  { name: 'Last-Event-ID not a number', path: () => `/api/v1/tasks/${taskId}/events`, headers: { 'Last-Event-ID': 'abc' }, field: 'Last-Event-ID' },
  { name: 'task id not a UUID', path: '/api/v1/tasks/not-a-uuid', field: 'task_id' },
  { name: 'log limit too large', path: () => `/api/v1/tasks/${taskId}/logs?limit=100000`, field: 'limit' },
  { name: 'log offset negative', path: () => `/api/v1/tasks/${taskId}/logs?offset=-1`, field: 'offset' },
  { name: 'unknown query parameter', path: '/api/v1/tasks?frobnicate=1', field: 'frobnicate' },
  // Strict RFC 3339 dates
  { name: 'leap second', path: '/api/v1/tasks?created_after=2016-12-31T23:59:60Z', field: 'created_after' },
  { name: 'offset +99:99', path: `/api/v1/tasks?created_after=${encodeURIComponent('2024-01-01T00:00:00+99:99')}`, field: 'created_after' },
  { name: 'February 30th', path: '/api/v1/tasks?created_after=2024-02-30T00:00:00Z', field: 'created_after' },
  { name: 'date without time, impossible', path: '/api/v1/tasks?created_after=2024-02-30', field: 'created_after' },
  { name: 'month 13', path: '/api/v1/tasks?created_before=2024-13-01T00:00:00Z', field: 'created_before' },
  { name: 'a word as a date', path: '/api/v1/tasks?created_before=yesterday', field: 'created_before' },
  { name: 'year 0000', path: '/api/v1/tasks?created_after=0000-01-01T00:00:00Z', field: 'created_after' },
  { name: 'hour 24', path: '/api/v1/tasks?created_after=2024-01-01T24:00:00Z', field: 'created_after' },
  { name: 'log since on February 30th', path: () => `/api/v1/tasks/${taskId}/logs?since=2024-02-30T00:00:00Z`, field: 'since' },
  // Control characters anywhere
  { name: 'NUL in a query value', path: '/api/v1/tasks?model=a%00b', type: 'INVALID_CHARACTERS', field: 'model' },
  { name: 'ANSI escape in a query value', path: '/api/v1/tasks?model=%1b%5b31mred', type: 'INVALID_CHARACTERS', field: 'model' },
  { name: 'NUL in a query name', path: '/api/v1/tasks?mo%00del=x', type: 'INVALID_CHARACTERS' },
  { name: 'NUL in the path', path: '/api/v1/tasks/%00', type: 'INVALID_CHARACTERS', field: 'path' },
  { name: 'NUL in a body key', method: 'POST', path: '/api/v1/tasks/optimization', raw: JSON.stringify(lj({ 'fm\u0000ax': 0.1 })), type: 'INVALID_CHARACTERS' },
  { name: 'ANSI escape in a body key', method: 'POST', path: '/api/v1/tasks/optimization', raw: JSON.stringify(lj({ '\u001b[2Jx': 1 })), type: 'INVALID_CHARACTERS' },
  { name: 'NUL in a body value', method: 'POST', path: '/api/v1/tasks/optimization', body: { ...lj({}), model: 'lj\u0000test' }, type: 'INVALID_CHARACTERS', field: 'model' },
  { name: 'BEL in structure.name', method: 'POST', path: '/api/v1/tasks/optimization', body: { model: 'lj_test', structure: { source: 'builtin', name: 'calf\u0007' } }, type: 'INVALID_CHARACTERS', field: 'structure.name' },
  { name: 'C1 CSI in a value', method: 'POST', path: '/api/v1/tasks/optimization', body: { ...lj({}), model: 'lj\u009btest' }, type: 'INVALID_CHARACTERS', field: 'model' },
  { name: 'escape in an upload file name', method: 'POST', path: '/api/v1/structures', form: () => { const f = new FormData(); f.append('file', new Blob([readFileSync(calfPath)]), 'a\u001b[31m.cif'); return f; }, field: 'file' },
  { name: 'NUL in an upload name field', method: 'POST', path: '/api/v1/structures', form: () => { const f = new FormData(); f.append('file', new Blob([readFileSync(calfPath)]), 'x.cif'); f.append('name', 'a\u0000b'); return f; }, type: 'INVALID_CHARACTERS', field: 'name' },
  { name: 'NUL in a key name (admin)', method: 'POST', path: '/api/v1/keys', admin: true, body: { name: 'k\u0000' }, type: 'INVALID_CHARACTERS', field: 'name' },
  // Types are taken as sent
  { name: 'fmax true', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({ fmax: true }), field: 'parameters.fmax' },
  { name: 'fmax as a string', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({ fmax: '0.05' }), field: 'parameters.fmax' },
  { name: 'max_steps as a string', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({ max_steps: '10' }), field: 'parameters.max_steps' },
  { name: 'max_steps 2.5', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({ max_steps: 2.5 }), field: 'parameters.max_steps' },
  { name: 'fmax negative', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({ fmax: -1 }), field: 'parameters.fmax' },
  { name: 'fmax zero', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({ fmax: 0 }), field: 'parameters.fmax' },
  { name: 'max_steps 0', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({ max_steps: 0 }), field: 'parameters.max_steps' },
  { name: 'unknown parameter', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({ bogus: 1 }), field: 'parameters.bogus' },
  { name: 'parameters an array', method: 'POST', path: '/api/v1/tasks/optimization', body: lj([]), field: 'parameters' },
  { name: 'parameters a string', method: 'POST', path: '/api/v1/tasks/optimization', body: lj('x'), field: 'parameters' },
  { name: 'model a number', method: 'POST', path: '/api/v1/tasks/optimization', body: { ...lj({}), model: 5 }, field: 'model' },
  { name: 'structure null', method: 'POST', path: '/api/v1/tasks/optimization', body: { model: 'lj_test', structure: null }, field: 'structure' },
  { name: 'structure.source ftp', method: 'POST', path: '/api/v1/tasks/optimization', body: { model: 'lj_test', structure: { source: 'ftp', name: 'x' } }, field: 'structure.source' },
  { name: 'structure.file_id not a UUID', method: 'POST', path: '/api/v1/tasks/optimization', body: { model: 'lj_test', structure: { source: 'upload', file_id: 'abc' } }, field: 'structure.file_id' },
  { name: 'body not JSON', method: 'POST', path: '/api/v1/tasks/optimization', raw: '{"model": ', type: 'INVALID_JSON', field: 'body' },
  { name: 'body an array', method: 'POST', path: '/api/v1/tasks/optimization', body: [] },
  { name: 'priority unknown', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({}, { options: { priority: 'URGENT' } }), field: 'options.priority' },
  { name: 'timeout negative', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({}, { options: { timeout: -5 } }), field: 'options.timeout' },
  { name: 'temperature NaN spelled as a string', method: 'POST', path: '/api/v1/tasks/stability', body: hc({ temperature_K: 'NaN' }), field: 'parameters.temperature_K' },
  { name: 'temperature 1e400 (Infinity in JSON)', method: 'POST', path: '/api/v1/tasks/stability', raw: JSON.stringify(hc({})).replace('"parameters":{}', '"parameters":{"temperature_K":1e400}'), field: 'parameters.temperature_K' },
  // Cross-field constraints, by the engine's validators at submission
  { name: 't_max_K below t_min_K', method: 'POST', path: '/api/v1/tasks/heat-capacity', body: hc({ t_min_K: 500, t_max_K: 100 }), field: 'parameters.t_max_K' },
  { name: 't_max_K below t_min_K (generic submit)', method: 'POST', path: '/api/v1/tasks', body: { ...hc({ t_min_K: 500, t_max_K: 100 }), task_type: 'heat-capacity' }, field: 'parameters.t_max_K' },
  // Routes
  { name: 'unknown task-type route', method: 'POST', path: '/api/v1/tasks/teleportation', body: lj({}), status: 404, type: 'UNKNOWN_TASK_TYPE', field: 'task_type' },
  { name: 'unknown task_type in the body', method: 'POST', path: '/api/v1/tasks', body: { ...lj({}), task_type: 'teleportation' }, field: 'task_type' },
  { name: 'batch tasks not an array', method: 'POST', path: '/api/v1/tasks/batch', body: { tasks: 'x' }, field: 'tasks' },
  { name: 'Idempotency-Key over 200 characters', method: 'POST', path: '/api/v1/tasks/optimization', body: lj({}), headers: { 'Idempotency-Key': 'k'.repeat(201) }, field: 'Idempotency-Key' },
  // Callback URLs (loopback forms only, closed port)
  ...['[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[::127.0.0.1]', '[64:ff9b::7f00:1]', '2130706433', '0x7f000001', '127.1', 'localhost', '[::1]', '127.0.0.2.nip.invalid']
    .map((host): Case => ({ name: `callback to ${host}`, method: 'POST', path: '/api/v1/tasks/optimization', body: cb(`http://${host}:${closedPort}/x`), type: 'CALLBACK_URL_REFUSED', field: 'options.callback.url' })),
  { name: 'callback with another scheme', method: 'POST', path: '/api/v1/tasks/optimization', body: cb('ftp://127.0.0.2:21/x'), field: 'options.callback.url' },
  // Uploads
  { name: 'upload without a file', method: 'POST', path: '/api/v1/structures', form: () => { const f = new FormData(); f.append('name', 'x'); return f; }, field: 'file' },
  { name: 'upload of an empty file', method: 'POST', path: '/api/v1/structures', form: () => { const f = new FormData(); f.append('file', new Blob([]), 'empty.cif'); return f; }, field: 'file' },
];

async function send(c: Case) {
  const path = typeof c.path === 'function' ? c.path() : c.path;
  const body = c.body;
  const init: RequestInit = { method: c.method ?? 'GET', headers: { ...c.headers } };
  if (c.form) init.body = c.form();
  else if (c.raw !== undefined || body !== undefined) {
    init.body = (c.raw ?? JSON.stringify(body)).replaceAll(FILE, fileId);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  return api(stack.baseUrl, path, init, c.admin ? { key: stack.adminKey } : {});
}

describe('malformed requests', { timeout: 300_000 }, () => {
  it(`has at least 60 cases (${cases.length})`, () => assert.ok(cases.length >= 60));
  for (const c of cases) {
    it(`refuses: ${c.name}`, async () => {
      const res = await send(c);
      if (res.status === 202) await api(stack.baseUrl, `/api/v1/tasks/${res.body.data.task_id}/cancel`, { method: 'POST' });
      const show = JSON.stringify(res.body).slice(0, 400);
      assert.ok(res.status >= 400 && res.status < 500, `${res.status}: ${show}`);
      if (c.status) assert.equal(res.status, c.status, show);
      assert.equal(typeof res.body.error?.type, 'string', show);
      assert.equal(typeof res.body.error?.field, 'string', show);
      if (c.type) assert.equal(res.body.error.type, c.type, show);
      if (c.field) assert.equal(res.body.error.field, c.field, show);
    });
  }

  it('keeps control characters out of the system log verbatim', async () => {
    const logs = await api(stack.baseUrl, '/api/v1/system/logs?limit=1000', {}, { key: stack.adminKey });
    assert.equal(logs.status, 200);
    const text = JSON.stringify(logs.body.data);
    assert.ok(!/\\u0000|\\u001b|\\u0007/.test(text), 'a raw control character reached the system log');
    assert.ok(!logs.body.data.logs.some((e: { level: string; message: string }) => e.message.startsWith('unhandled error')), 'an unhandled error was logged');
  });

  it('accepts an allow-listed loopback callback host', async () => {
    const res = await submit(stack.baseUrl, 'optimization', real(cb(`http://127.0.0.2:${closedPort}/x`)));
    assert.equal(res.status, 202, JSON.stringify(res.body));
  });

  it('stays up: health, and the engine still parses uploads', async () => {
    assert.equal((await api(stack.baseUrl, '/health')).status, 200);
    const up = await upload(stack.baseUrl, 'again.cif', readFileSync(calfPath));
    assert.equal(up.status, 200, JSON.stringify(up.body));
  });
});

describe('idempotency keys', { timeout: 120_000 }, () => {
  it('returns the first task for the same request, 422 for another body or another route', async () => {
    const body = real(lj({ max_steps: 3 }));
    const first = await submit(stack.baseUrl, 'optimization', body, { 'Idempotency-Key': 'same-1' });
    assert.equal(first.status, 202);
    // The same request with its keys in another order is the same request.
    const again = await submit(stack.baseUrl, 'optimization', { parameters: { max_steps: 3 }, structure: body.structure, model: 'lj_test' }, { 'Idempotency-Key': 'same-1' });
    assert.equal(again.status, 202);
    assert.equal(again.body.data.task_id, first.body.data.task_id);
    const otherBody = await submit(stack.baseUrl, 'optimization', real(lj({ max_steps: 4 })), { 'Idempotency-Key': 'same-1' });
    assert.equal(otherBody.status, 422, JSON.stringify(otherBody.body));
    assert.equal(otherBody.body.error.type, 'IDEMPOTENCY_KEY_REUSED');
    assert.equal(otherBody.body.error.field, 'Idempotency-Key');
    const otherRoute = await submit(stack.baseUrl, 'single-point-energy', real(lj({})), { 'Idempotency-Key': 'same-1' });
    assert.equal(otherRoute.status, 422);
    assert.equal(otherRoute.body.error.type, 'IDEMPOTENCY_KEY_REUSED');
  });
});

// Last: it blocks this test's address.
describe('/ws failed authentication', { timeout: 120_000 }, () => {
  const open = async (headers: Record<string, string> = {}) => {
    const ws = new WebSocket(stack.baseUrl.replace('http', 'ws') + '/ws', { headers });
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
    return ws;
  };
  const tryKey = async (key: string) => {
    const ws = await open();
    const messages: any[] = [];
    ws.on('message', (m) => messages.push(JSON.parse(String(m))));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send(JSON.stringify({ action: 'auth', api_key: key }));
    const code = await closed;
    return { code, messages };
  };

  it('closes the socket on a wrong key and counts it towards the per-address block', async () => {
    const first = await tryKey('mofsim_wrong_key_0000000000');
    assert.equal(first.code, 1008);
    assert.equal(first.messages[0]?.code, 40103);
    for (let i = 1; i < 4; i++) assert.equal((await tryKey(`mofsim_wrong_key_${i}${'0'.repeat(20)}`)).code, 1008);
    // Four failures reached the limit: even the right key is refused now, over /ws and over HTTP.
    const blocked = await tryKey(stack.userKey);
    assert.equal(blocked.code, 1008);
    assert.equal(blocked.messages[0]?.code, 42903);
    const http = await api(stack.baseUrl, '/api/v1/tasks');
    assert.equal(http.status, 429);
    assert.equal(http.body.error.type, 'TOO_MANY_AUTH_FAILURES');
  });
});
