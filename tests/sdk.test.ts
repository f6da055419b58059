/**
 * The TypeScript SDK (`@mofsim/sdk`, resolved as a package from the repo root) and its CLI against the real stack:
 * every client method, typed results and errors, and the parity table against the Python SDK's method list
 * (CONTRACT §12.1 mofsim_client and the §12.3 documented superset).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import * as sdk from '@mofsim/sdk';
import { repoRoot } from '../common/config.js';
import { calfPath, startTestStack, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';

const { MOFSimClient } = sdk;
let stack: TestStack;
let client: InstanceType<typeof MOFSimClient>;
let admin: InstanceType<typeof MOFSimClient>;
before(async () => {
  stack = await startTestStack({ workers: 1 });
  client = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.userKey });
  admin = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.adminKey });
});
after(async () => { await stack?.stop(); });

/** Python method → where its TypeScript counterpart lives (README "Python → TypeScript" table). */
export const PARITY: [python: string, ts: string][] = [
  // §12.1 mofsim_client.MOFSimClient
  ['health_check', 'healthCheck'], ['is_healthy', 'isHealthy'], ['upload_structure', 'uploadStructure'],
  ['submit_optimization', 'submitOptimization'], ['submit_stability', 'submitStability'], ['submit_bulk_modulus', 'submitBulkModulus'],
  ['submit_heat_capacity', 'submitHeatCapacity'], ['submit_interaction_energy', 'submitInteractionEnergy'], ['submit_single_point', 'submitSinglePoint'],
  ['submit_batch', 'submitBatch'], ['get_task', 'getTask'], ['get_task_info', 'getTaskInfo'], ['get_task_result', 'getTaskResult'],
  ['cancel_task', 'cancelTask'], ['list_tasks', 'listTasks'], ['get_task_logs', 'getTaskLogs'], ['stream_task_logs', 'streamTaskLogs'],
  ['list_structures', 'listStructures'], ['get_structure', 'getStructure'], ['delete_structure', 'deleteStructure'],
  ['list_builtin_structures', 'listBuiltinStructures'], ['list_models', 'listModels'], ['get_model', 'getModel'],
  ['load_model', 'loadModel'], ['unload_model', 'unloadModel'], ['get_gpu_status', 'getGpuStatus'], ['get_queue_status', 'getQueueStatus'],
  ['get_system_config', 'getSystemConfig'], ['get_system_stats', 'getSystemStats'], ['list_alert_rules', 'listAlertRules'],
  ['get_active_alerts', 'getActiveAlerts'], ['get_alert_history', 'getAlertHistory'], ['close', 'close'],
  // §12.3 documented superset
  ['optimization.submit', 'optimization.submit'], ['stability.submit', 'stability.submit'], ['bulk_modulus.submit', 'bulkModulus.submit'],
  ['heat_capacity.submit', 'heatCapacity.submit'], ['interaction_energy.submit', 'interactionEnergy.submit'], ['single_point.submit', 'singlePoint.submit'],
  ['retry_task', 'retryTask'], ['wait_all', 'waitAll'],
  ['get_webhook_deliveries', 'getWebhookDeliveries'], ['resend_webhook', 'resendWebhook'],
];
const TASK_PARITY: [string, string][] = [
  ['refresh', 'refresh'], ['wait', 'wait'], ['cancel', 'cancel'], ['get_logs', 'getLogs'], ['get_result', 'getResult'], ['stream_logs', 'events'],
];
const ERROR_PARITY = ['MOFSimError', 'APIError', 'AuthenticationError', 'AuthorizationError', 'TaskNotFoundError', 'ModelNotFoundError',
  'StructureNotFoundError', 'ValidationError', 'RateLimitError', 'ServerError', 'TaskFailedError', 'TaskTimeoutError', 'TaskCancelledError',
  'TaskNotCompletedError', 'ConnectionError'];

describe('parity with the Python SDK', () => {
  it('has a TypeScript counterpart for every Python SDK method', () => {
    const c = new MOFSimClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'x' }) as unknown as Record<string, any>;
    const missing = PARITY.filter(([, ts]) => typeof ts.split('.').reduce((o, k) => o?.[k], c) !== 'function').map(([py]) => py);
    assert.deepEqual(missing, []);
    const taskProto = sdk.Task.prototype as unknown as Record<string, unknown>;
    assert.deepEqual(TASK_PARITY.filter(([, ts]) => typeof taskProto[ts] !== 'function').map(([py]) => py), []);
    assert.deepEqual(ERROR_PARITY.filter((n) => typeof (sdk as Record<string, unknown>)[n] !== 'function'), []);
    const readme = readFileSync(join(repoRoot, 'sdk', 'README.md'), 'utf8');
    assert.deepEqual(PARITY.filter(([py]) => !readme.includes(`\`${py}\``)).map(([py]) => py), [], 'README maps every Python method');
  });

  it('reads MOFSIM_BASE_URL and MOFSIM_API_KEY', () => {
    process.env.MOFSIM_BASE_URL = 'http://example.test:9';
    process.env.MOFSIM_API_KEY = 'k';
    try {
      const c = new MOFSimClient();
      assert.equal(c.baseUrl, 'http://example.test:9');
      assert.equal(c.http.apiKey, 'k');
    } finally { delete process.env.MOFSIM_BASE_URL; delete process.env.MOFSIM_API_KEY; }
  });

  it('accepts a base URL that already ends in /api/v1 (as the Python docs write it)', () => {
    const c = new MOFSimClient({ baseUrl: 'http://example.test:9/api/v1/', apiKey: 'k' });
    assert.equal(c.baseUrl, 'http://example.test:9');
    assert.equal(c.http.url('/tasks'), 'http://example.test:9/api/v1/tasks');
  });
});

describe('SDK against the real server', () => {
  let structureId: string;

  it('checks health and uploads a structure from a path, a Buffer and a stream', async () => {
    // The API's parser engine starts on the first health probe; on a busy machine that first answer is "starting".
    await until('a healthy server', async () => client.isHealthy(), 120_000, 500);
    assert.equal((await client.healthCheck()).status, 'healthy');
    const s = await client.uploadStructure(calfPath);
    assert.equal(s.n_atoms, 44);
    structureId = s.id;
    const b = await client.uploadStructure(readFileSync(calfPath), { filename: 'calf-buffer.cif' });
    assert.equal(b.checksum, s.checksum);
    const { createReadStream } = await import('node:fs');
    const st = await client.uploadStructure(createReadStream(calfPath), { name: 'calf-stream' });
    assert.equal(st.name, 'calf-stream');
    assert.equal((await client.getStructure(s.id)).formula, s.formula);
    const page = await client.listStructures({ pageSize: 2 });
    assert.ok(page.total >= 3);
    let n = 0;
    for await (const _ of page) n++;
    assert.equal(n, page.total, 'the page iterates over every page');
    assert.equal(await client.deleteStructure(st.id), true);
    await assert.rejects(client.getStructure(st.id), sdk.StructureNotFoundError);
    const builtin = await client.listBuiltinStructures({ set: 'essential' });
    assert.equal(builtin.length, 4);
  });

  it('relaxes a structure with a typed result, a progress callback and events', async () => {
    const task = await client.optimization.submit({ model: 'lj_test', structure: structureId, fmax: 0.1, max_steps: 20, priority: 'HIGH' });
    assert.equal(task.priority, 'HIGH');
    const seen: number[] = [];
    const r = await task.wait({ timeout: 240, pollInterval: 0.3, onProgress: (p) => seen.push(p) });
    assert.ok(r instanceof sdk.OptimizationResult);
    assert.equal(typeof r.converged, 'boolean');
    assert.ok(Number.isFinite(r.finalEnergy!));
    assert.ok(Number.isFinite(r.finalVolume!));
    assert.equal(seen.at(-1), 100);
    const types: string[] = [];
    for await (const e of task.events()) types.push(e.type);
    assert.equal(types[0], 'queued');
    assert.equal(types.at(-1), 'completed');
    assert.ok((await task.getLogs()).length >= 2);
    assert.equal(await task.cancel(), false, 'a finished task cannot be cancelled');
    const again = await client.getTaskResult(task.id);
    assert.equal(again.taskId, task.id);
    assert.equal((await client.getTaskInfo(task.id)).status, 'COMPLETED');
  });

  it('submits with a built-in name and the Python-style flat methods, then waits for all', async () => {
    const sp = await client.submitSinglePoint('lj_test', 'calf', { compute_stress: true });
    const bm = await client.submitBulkModulus('lj_test', { id: structureId }, { npoints: 5, eps: 0.02, opt_steps: 5, point_steps: 5 });
    const done: number[] = [];
    const [a, b] = await client.waitAll([sp, bm] as sdk.Task[], { timeout: 300, pollInterval: 0.5, progress: (d) => done.push(d) });
    assert.ok(a instanceof sdk.SinglePointResult && Number.isFinite(a.energy!));
    assert.equal(a.forces!.length, 44);
    assert.ok(b instanceof sdk.BulkModulusResult);
    assert.deepEqual(done, [1, 2]);
  });

  it('lists, filters and iterates tasks; retries; cancels; reads logs; batch-submits', async () => {
    const page = await client.listTasks({ taskType: 'optimization', pageSize: 1 });
    assert.equal(page.items.length, 1);
    const all: string[] = [];
    for await (const t of client.iterTasks({ model: 'lj_test' })) all.push(t.id);
    assert.ok(all.length >= 3);
    const retried = await client.retryTask(page.items[0]!.id);
    assert.notEqual(retried.id, page.items[0]!.id);
    assert.equal(await client.cancelTask(retried.id), true);
    assert.ok(['CANCELLED', 'RUNNING'].includes((await retried.refresh()).status));
    assert.ok(Array.isArray(await client.getTaskLogs(retried.id, { level: 'INFO' })));
    const handles = await client.submitBatch([{ model: 'lj_test', structure: structureId }, { model: 'lj_test', structure: 'calf', taskType: 'single-point-energy' }], { taskType: 'single-point-energy' });
    assert.equal(handles.length, 2);
    for (const h of handles) await h.cancel();
    const logs: string[] = [];
    for await (const l of client.streamTaskLogs(handles[0]!.id, { pollInterval: 0.2 })) logs.push(l.message);
    assert.ok(logs.includes('queued'));
  });

  it('maps errors onto the Python classes, with status, code and request id', async () => {
    await assert.rejects(client.getTask('00000000-0000-4000-8000-000000000000'), (e: any) => e instanceof sdk.TaskNotFoundError && e.status === 404 && e.code === 40402 && !!e.requestId);
    await assert.rejects(client.getModel('nope'), sdk.ModelNotFoundError);
    await assert.rejects(client.submitOptimization('lj_test', structureId, { fmax: -1 }), (e: any) => e instanceof sdk.ValidationError && e.field === 'parameters.fmax');
    await assert.rejects(new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: 'wrong-key-0000' }).listModels(), sdk.AuthenticationError);
    await assert.rejects(client.loadModel('lj_test'), sdk.AuthorizationError);
    await assert.rejects(new MOFSimClient({ baseUrl: 'http://127.0.0.1:9', apiKey: 'x', maxRetries: 0, timeout: 2 }).listModels(), sdk.ConnectionError);
    // Terminal states → errors, with the server's answers replayed (a real cancel races the fast lj_test worker).
    const info = (await client.listTasks({ pageSize: 1 })).items[0]!.info;
    for (const [status, cls] of [['CANCELLED', sdk.TaskCancelledError], ['FAILED', sdk.TaskFailedError], ['TIMEOUT', sdk.TaskTimeoutError]] as const) {
      const replay = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: 'x', fetch: async () => new Response(JSON.stringify({ success: true, code: 200, data: { ...info, status, error_message: 'boom' } }), { headers: { 'content-type': 'application/json' } }) });
      await assert.rejects((await replay.getTask(info.task_id)).wait({ timeout: 5 }), cls);
    }
    const running = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: 'x', fetch: async (u) => new Response(JSON.stringify({ success: true, code: 200, data: String(u).includes('/events') ? { items: [] } : { ...info, status: 'RUNNING' } })) });
    await assert.rejects((await running.getTask(info.task_id)).getResult(), sdk.TaskNotCompletedError);
    await assert.rejects((await running.getTask(info.task_id)).wait({ timeout: 0.2, pollInterval: 0.1 }), sdk.TaskTimeoutError);
    const ctl = new AbortController();
    const slow = await client.submitOptimization('lj_test', structureId, { max_steps: 5000, fmax: 1e-6 });
    setTimeout(() => ctl.abort(new Error('stop waiting')), 50);
    await assert.rejects(slow.wait({ signal: ctl.signal, pollInterval: 1 }), /stop waiting/);
    await slow.cancel();
  });

  it('retries 429 honouring Retry-After', async () => {
    const k = await admin.keys.create({ name: 'slow-sdk', rate_limit_per_minute: 2 });
    let calls = 0;
    const c = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: k.key, maxRetries: 0, fetch: (u, i) => { calls++; return fetch(u, i); } });
    await c.listModels();
    await c.listModels();
    await assert.rejects(c.listModels(), (e: any) => e instanceof sdk.RateLimitError && e.retryAfter! > 0);
    assert.equal(calls, 3);
  });

  it('covers models, system, alerts and keys', async () => {
    const models = await client.listModels();
    assert.ok(models.some((m) => m.name === 'lj_test'));
    assert.equal((await client.getModel('lj_test')).kind, 'classical');
    assert.ok((await client.models.families()).length >= 1);
    assert.ok((await client.models.summary()).total_models >= 1);
    assert.ok(['accepted', 'already_loaded'].includes((await admin.loadModel('lj_test')).status));
    assert.equal(await admin.unloadModel('lj_test'), true);
    assert.ok((await client.getQueueStatus()).queues.length === 4);
    assert.ok((await client.getSystemConfig()).supported_models.includes('lj_test'));
    assert.ok((await client.getSystemStats()).tasks.total! >= 1);
    assert.equal((await client.system.readiness()).status, 'ready');
    assert.ok((await client.listAlertRules()).length >= 7);
    assert.ok(Array.isArray(await client.getActiveAlerts()));
    assert.equal((await client.getAlertHistory()).total, 0);
    const rule = await admin.alerts.createRule({ id: 'sdk_rule', name: 'SDK rule', condition: { metric: 'queue_length', operator: '>', threshold: 3 } });
    assert.equal((await admin.alerts.disableRule(rule.id)).enabled, false);
    assert.equal((await admin.alerts.updateRule(rule.id, { level: 'INFO' })).level, 'INFO');
    assert.equal(await admin.alerts.deleteRule(rule.id), true);
    const me = await client.keys.me();
    assert.equal(me.role, 'user');
    const created = await admin.keys.create({ name: 'sdk-made' });
    assert.ok((await admin.keys.list()).some((k) => k.id === created.id));
    assert.ok((await admin.keys.revoke(created.id)).revoked_at);
    // GET /api/v1/system/gpus: a list (empty on this stack's CPU workers), never an error.
    assert.ok(Array.isArray(await client.getGpuStatus()));
    client.close();
  });
});

describe('live task events over the WebSocket', () => {
  const calf = { builtin: 'calf' };
  // Langevin NVT with the classical test potential: ~100 steps/s here; the worker stores a progress event per second.
  const md = (c: InstanceType<typeof MOFSimClient>, steps: number) =>
    c.stability.submit({ model: 'lj_test', structure: calf, opt_steps: 0, nvt_steps: steps, npt_steps: 0, checkpoint_interval: 100, trajectory_interval: 1000 } as never);
  const viaSocket = () => new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.userKey, liveEvents: 'websocket' });
  /** A client that records the paths of its REST calls. */
  const recorded = (opts: ConstructorParameters<typeof MOFSimClient>[0]) => {
    const calls: string[] = [];
    const c = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.userKey, ...opts, fetch: (u, i) => { calls.push(new URL(String(u)).pathname); return fetch(u, i); } });
    return { client: c, calls };
  };
  const restEvents = async (id: string) => (await client.http.request<{ items: sdk.TaskEvent[] }>('GET', `/tasks/${id}/events`)).items;
  const socketsClosed = async () => {
    const end = Date.now() + 3000;
    while (stack.liveSocket.clients.size > 0) {
      assert.ok(Date.now() < end, `${stack.liveSocket.clients.size} live socket(s) still open`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const connections = () => {
    let n = 0;
    const count = () => { n++; };
    stack.liveSocket.on('connection', count);
    return { get count() { return n; }, off: () => stack.liveSocket.off('connection', count) };
  };
  const final = ['completed', 'failed', 'cancelled', 'timeout'];

  it('waits for a task with progress pushed over the socket, never polling', { timeout: 90_000 }, async () => {
    const { client: c, calls } = recorded({ liveEvents: 'websocket' });
    const task = await md(c, 400);
    calls.length = 0;
    const seen: number[] = [];
    // With an hour between polls the wait can only end in time if the events arrive over the socket.
    const r = await task.wait({ timeout: 60, pollInterval: 3600, onProgress: (p) => seen.push(p) });
    assert.ok(r instanceof sdk.StabilityResult);
    assert.equal(r.taskId, task.id);
    assert.equal(task.status, 'COMPLETED');
    assert.ok(seen.some((p) => p > 0 && p < 100), `progress seen: ${seen.join(', ')}`);
    assert.equal(seen.at(-1), 100);
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
    assert.deepEqual(calls.filter((p) => p.endsWith('/events')), [], 'no REST event polls');
    await socketsClosed();
  });

  it('waits without polling by default: stored events over REST, then the socket', { timeout: 90_000 }, async () => {
    const { client: c, calls } = recorded({});
    const task = await md(c, 200);
    calls.length = 0;
    const seen: number[] = [];
    const r = await task.wait({ timeout: 60, pollInterval: 3600, onProgress: (p) => seen.push(p) });
    assert.ok(r instanceof sdk.StabilityResult);
    assert.equal(seen.at(-1), 100);
    assert.ok(calls.filter((p) => p.endsWith('/events')).length <= 2, calls.join(' '));
    await socketsClosed();
  });

  it('reports the progress of a task already under way from where it stands, never replaying it from 0', { timeout: 90_000 }, async () => {
    const task = await md(client, 800);
    const end = Date.now() + 60_000;
    while ((await task.refresh()).progress < 25) { assert.ok(Date.now() < end, `progress ${task.progress}`); await new Promise((r) => setTimeout(r, 100)); }
    const p0 = task.progress;
    const waits = (['websocket', 'auto', 'poll'] as const).map(async (liveEvents) => {
      const seen: number[] = [];
      const handle = await new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.userKey, liveEvents }).getTask(task.id);
      await handle.wait({ timeout: 60, pollInterval: liveEvents === 'poll' ? 0.3 : 3600, onProgress: (p) => seen.push(p) });
      assert.ok(seen[0]! >= p0, `${liveEvents}: ${seen.join(', ')}`);
      assert.deepEqual(seen, [...seen].sort((a, b) => a - b), `${liveEvents}: ${seen.join(', ')}`);
      assert.equal(seen.at(-1), 100);
    });
    await Promise.all(waits);
    await socketsClosed();
  });

  it('yields each event once, in id order, ending with the final one, as the REST list has them', { timeout: 90_000 }, async () => {
    const task = await viaSocket().singlePoint.submit({ model: 'lj_test', structure: calf });
    const got: sdk.TaskEvent[] = [];
    for await (const e of task.events()) got.push(e);
    assert.ok(final.includes(got.at(-1)!.type), got.map((e) => e.type).join(','));
    assert.equal(task.status, 'COMPLETED', 'the task is re-read after the final event');
    assert.deepEqual(got, await restEvents(task.id));
    // A finished task's history comes the same way over each transport.
    for (const liveEvents of ['websocket', 'auto', 'poll'] as const) {
      const again: sdk.TaskEvent[] = [];
      for await (const e of (await new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.userKey, liveEvents }).getTask(task.id)).events()) again.push(e);
      assert.deepEqual(again, got, liveEvents);
    }
    await socketsClosed();
  });

  it('resumes after the socket drops, without repeating or losing events', { timeout: 90_000 }, async () => {
    const conns = connections();
    try {
      const task = await md(viaSocket(), 300);
      const got: sdk.TaskEvent[] = [];
      let dropped = false;
      for await (const e of task.events()) {
        got.push(e);
        if (!dropped && e.type === 'started') { dropped = true; for (const s of stack.liveSocket.clients) s.terminate(); }
      }
      assert.ok(dropped && conns.count >= 2, `connections: ${conns.count}`);
      assert.equal(got.at(-1)!.type, 'completed');
      assert.deepEqual(got.map((e) => e.id), (await restEvents(task.id)).map((e) => e.id));
    } finally { conns.off(); }
    await socketsClosed();
  });

  it('falls back to polling when the socket cannot connect, or when asked to poll', { timeout: 90_000 }, async () => {
    const conns = connections();
    // A closed port: the socket never opens.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const noSocket = recorded({ liveSocketUrl: `ws://127.0.0.1:${port}/ws` });
    // A proxy that forwards HTTP but not WebSocket upgrades: 'auto' derives its /ws and cannot reach it.
    const proxy = createServer((req, res) => {
      const up = httpRequest(stack.baseUrl + req.url, { method: req.method, headers: req.headers }, (r) => { res.writeHead(r.statusCode!, r.headers); r.pipe(res); });
      req.pipe(up);
    });
    proxy.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'));
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const behindProxy = recorded({ baseUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
      const polling = recorded({ liveEvents: 'poll' });
      for (const { client: c, calls } of [noSocket, behindProxy, polling]) {
        const task = await c.singlePoint.submit({ model: 'lj_test', structure: calf });
        const r = await task.wait({ timeout: 120, pollInterval: 0.2 });
        assert.ok(r instanceof sdk.SinglePointResult);
        assert.ok(calls.filter((p) => p.endsWith('/events')).length >= 1);
      }
      assert.equal(conns.count, 0, 'nothing reached the real /ws');
    } finally {
      conns.off();
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('raises AuthenticationError for a key the server refuses, whether the socket or REST is asked first', { timeout: 90_000 }, async () => {
    const info = (await client.singlePoint.submit({ model: 'lj_test', structure: calf })).info;
    // 'websocket': the socket's refusal itself, before any REST call.
    const socketOnly = recorded({ apiKey: 'msk_not-a-real-key-000000', liveEvents: 'websocket' });
    await assert.rejects(async () => { for await (const _ of new sdk.Task(info, socketOnly.client.http).events()) { /* none */ } }, sdk.AuthenticationError);
    assert.deepEqual(socketOnly.calls, []);
    // 'auto': REST answers first and is the authority.
    const auto = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: 'msk_not-a-real-key-000000' });
    await assert.rejects(async () => { for await (const _ of new sdk.Task(info, auto.http).events()) { /* none */ } }, sdk.AuthenticationError);
    await assert.rejects(new sdk.Task(info, auto.http).wait({ timeout: 30 }), sdk.AuthenticationError);
    // An unknown task over the socket is the REST error class too.
    await assert.rejects(async () => { for await (const _ of new sdk.Task({ ...info, task_id: '00000000-0000-4000-8000-000000000000' }, viaSocket().http).events()) { /* none */ } }, sdk.TaskNotFoundError);
    await socketsClosed();
  });

  it('stops waiting at once on abort or at the deadline, and closes the socket', { timeout: 90_000 }, async () => {
    const c = viaSocket();
    const task = await md(c, 1_000_000);
    try {
      // Paused, the task sends nothing: only the signal itself can end the socket's wait for the next event.
      await c.http.request('POST', `/tasks/${task.id}/pause`);
      const end = Date.now() + 30_000;
      while ((await task.refresh()).status !== 'PAUSED') { assert.ok(Date.now() < end, `still ${task.status}`); await new Promise((r) => setTimeout(r, 100)); }
      await new Promise((r) => setTimeout(r, 1000));
      for (const stop of ['abort', 'deadline'] as const) {
        const conns = connections();
        const ctl = new AbortController();
        const waiting = task.wait({ signal: ctl.signal, timeout: stop === 'deadline' ? 3 : 120, pollInterval: 3600 });
        waiting.catch(() => {});
        const opened = Date.now() + 10_000;
        while (conns.count === 0 || stack.liveSocket.clients.size === 0) { assert.ok(Date.now() < opened, 'the socket never opened'); await new Promise((r) => setTimeout(r, 20)); }
        conns.off();
        const t0 = Date.now();
        if (stop === 'abort') ctl.abort(new Error('stop waiting'));
        await assert.rejects(waiting, stop === 'abort' ? /stop waiting/ : sdk.TaskTimeoutError);
        if (stop === 'abort') assert.ok(Date.now() - t0 < 500, `rejected after ${Date.now() - t0} ms`);
        await socketsClosed();
      }
      // Scripts end by themselves after a wait, whether it timed out or finished: no socket, timer or listener is left.
      const sdkPath = JSON.stringify(join(repoRoot, 'sdk'));
      const script = (then: string) => `const { MOFSimClient } = require(${sdkPath});
        const c = new MOFSimClient({ baseUrl: process.env.B, apiKey: process.env.K });
        ${then}.then((r) => console.log(r.constructor.name), (e) => console.log(e.name));`;
      const env = { ...process.env, B: stack.baseUrl, K: stack.userKey };
      for (const [then, printed] of [
        [`c.getTask(${JSON.stringify(task.id)}).then((t) => t.wait({ timeout: 2 }))`, 'TaskTimeoutError'],
        [`c.singlePoint.submit({ model: 'lj_test', structure: { builtin: 'calf' } }).then((t) => t.wait())`, 'SinglePointResult'],
      ]) {
        const t0 = Date.now();
        const out = await promisify(execFile)(process.execPath, ['-e', script(then!)], { env, timeout: 30_000 });
        assert.equal(out.stdout.trim(), printed);
        assert.ok(Date.now() - t0 < 25_000);
      }
    } finally { await task.cancel(); }
  });
});

describe('mofsim CLI', () => {
  const run = promisify(execFile);
  const cli = (...args: string[]) => run(process.execPath, [join(repoRoot, 'sdk', 'bin', 'mofsim.js'), ...args], {
    env: { ...process.env, MOFSIM_BASE_URL: stack.baseUrl, MOFSIM_API_KEY: stack.userKey }, timeout: 120_000,
  });

  it('uploads, submits, shows status, watches, prints the result and lists models (tables and --json)', async () => {
    const up = JSON.parse((await cli('upload', calfPath, '--json')).stdout);
    assert.equal(up.n_atoms, 44);
    const sub = JSON.parse((await cli('submit', 'single-point', '--model', 'lj_test', '--structure', up.id, '--param', 'compute_stress=false', '--json')).stdout);
    assert.equal(sub.parameters.compute_stress, false);
    const watch = await cli('watch', sub.task_id);
    assert.match(watch.stdout, /COMPLETED/);
    assert.match(watch.stderr, /100%/);
    assert.match((await cli('status', sub.task_id)).stdout, /TASK_ID\s+TYPE/);
    assert.ok(Number.isFinite(JSON.parse((await cli('result', sub.task_id)).stdout).energy_eV));
    assert.match((await cli('models')).stdout, /lj_test\s+\S+\s+classical/);
    const keys = await run(process.execPath, [join(repoRoot, 'sdk', 'bin', 'mofsim.js'), 'keys', 'create', 'from-cli', '--json'], {
      env: { ...process.env, MOFSIM_BASE_URL: stack.baseUrl, MOFSIM_API_KEY: stack.adminKey },
    });
    assert.match(JSON.parse(keys.stdout).key, /^msk_/);
    const opt = JSON.parse((await cli('submit', 'optimization', '--model', 'lj_test', '--structure', up.id, '--param', 'max_steps=500', '--json')).stdout);
    assert.match((await cli('cancel', opt.task_id)).stdout, /CANCELLED|RUNNING/);
    await assert.rejects(cli('status', 'not-a-task'), (e: any) => e.code === 1 && /error:/.test(e.stderr));
  });
});
