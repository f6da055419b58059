/**
 * Live events and webhooks on a real stack: SSE with Last-Event-ID replay, WebSocket subscriptions, and webhook
 * deliveries that survive a receiver which is down for its first attempts (one accepted delivery per event, signed).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { taskEvents } from '../store/schema.js';
import postgres from 'postgres';
import { TASK_EVENTS_CHANNEL } from '../store/task-events.js';
import { api, calfPath, startTestStack, submit, waitForTask, type TestStack } from './helpers/stack.js';

let stack: TestStack;
const calf = { source: 'builtin', name: 'calf' };
const singlePoint = (options: Record<string, unknown> = {}) =>
  submit(stack.baseUrl, 'single-point-energy', { model: 'lj_test', structure: calf, options });

before(async () => {
  stack = await startTestStack({ workers: 1, env: { MOFSIM_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', MOFSIM_WEBHOOK_RETRY_INITIAL_S: '0.2', MOFSIM_WEBHOOK_SWEEP_S: '1' } });
});
after(async () => { await stack?.stop(); });

// Reads a whole SSE response (the server ends it after the task's final event).
async function readSse(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(stack.baseUrl + path, { headers: { accept: 'text/event-stream', 'X-API-Key': stack.userKey, ...headers } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const text = await res.text();
  return text.split('\n\n').filter((b) => b.startsWith('id:')).map((block) => {
    const f = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
    return { id: Number(f.id), event: f.event!, data: JSON.parse(f.data!) };
  });
}

describe('live events', () => {
  it('streams a task\'s events as SSE and replays after Last-Event-ID', async () => {
    const { body } = await singlePoint();
    const id = body.data.task_id;
    const events = await readSse(`/api/v1/tasks/${id}/events`);
    const types = events.map((e) => e.event);
    assert.equal(types[0], 'queued');
    assert.ok(types.includes('started') && types.at(-1) === 'completed', types.join(','));
    assert.deepEqual(events.map((e) => e.id), [...events.map((e) => e.id)].sort((a, b) => a - b));
    assert.deepEqual(Object.keys(events[0]!.data).sort(), ['created_at', 'data', 'id', 'type']);

    const started = events.find((e) => e.event === 'started')!;
    const replay = await readSse(`/api/v1/tasks/${id}/events`, { 'Last-Event-ID': String(started.id) });
    assert.deepEqual(replay.map((e) => e.id), events.filter((e) => e.id > started.id).map((e) => e.id));
    // JSON stays the default.
    const json = await api(stack.baseUrl, `/api/v1/tasks/${id}/events`);
    assert.equal(json.body.data.items.length, events.length);
  });

  it('pushes events over the WebSocket to subscribers of one task and of all tasks', async () => {
    // Without a key the socket opens but may not subscribe.
    const anon = new WebSocket(stack.baseUrl.replace('http', 'ws') + '/ws');
    await new Promise((r, j) => { anon.once('open', r); anon.once('error', j); });
    const refused = new Promise<any>((r) => anon.once('message', (m) => r(JSON.parse(String(m)))));
    anon.send(JSON.stringify({ action: 'subscribe', all: true }));
    assert.equal((await refused).code, 40101);
    anon.close();
    const ws = new WebSocket(stack.baseUrl.replace('http', 'ws') + '/ws', { headers: { 'X-API-Key': stack.userKey } });
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
    const got: any[] = [];
    ws.on('message', (m) => got.push(JSON.parse(String(m))));
    ws.send(JSON.stringify({ action: 'subscribe', all: true }));
    const { body } = await singlePoint();
    const id = body.data.task_id;
    const end = Date.now() + 60_000;
    while (!got.some((m) => m.type === 'event' && m.event.task_id === id && m.event.type === 'completed')) {
      assert.ok(Date.now() < end, 'no completed event over the WebSocket');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(got.some((m) => m.type === 'event' && m.event.task_id === id && m.event.type === 'started'));
    // A late subscriber to one task gets its history replayed.
    const late: any[] = [];
    ws.removeAllListeners('message');
    ws.on('message', (m) => late.push(JSON.parse(String(m))));
    ws.send(JSON.stringify({ action: 'subscribe', task_id: id, last_event_id: 0 }));
    while (!late.some((m) => m.type === 'subscribed')) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(late.filter((m) => m.type === 'event').map((m) => m.event.type).at(-1), 'completed');
    ws.close();
  });

  it('replays more than one page of stored events over SSE and the WebSocket', async () => {
    const { body } = await singlePoint();
    const id = body.data.task_id;
    await waitForTask(stack.baseUrl, id);
    const before = (await api(stack.baseUrl, `/api/v1/tasks/${id}/events?after_id=0`)).body.data.items as { id: number }[];
    const from = before.at(-1)!.id;
    // A long MD run stores thousands of events; a replay capped at one page (1000) would lose the tail.
    const rows = await stack.database.db.insert(taskEvents)
      .values([...Array.from({ length: 1500 }, (_, i) => ({ taskId: id, type: 'progress', data: { i } })), { taskId: id, type: 'completed', data: { replayed: true } }])
      .returning({ id: taskEvents.id });
    const sse = await readSse(`/api/v1/tasks/${id}/events`, { 'Last-Event-ID': String(from) });
    assert.equal(sse.length, 1501);
    assert.deepEqual(sse.map((e) => e.id), rows.map((r) => r.id));

    const ws = new WebSocket(stack.baseUrl.replace('http', 'ws') + '/ws', { headers: { 'X-API-Key': stack.userKey } });
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
    const got: number[] = [];
    const done = new Promise<void>((r) => ws.on('message', (m) => {
      const x = JSON.parse(String(m));
      if (x.type === 'event') got.push(x.event.id);
      if (x.type === 'subscribed') r();
    }));
    ws.send(JSON.stringify({ action: 'subscribe', task_id: id, last_event_id: from }));
    await done;
    ws.close();
    assert.deepEqual(got, rows.map((r) => r.id));
  });

  it('delivers live events in id order even when they are committed in a burst', async () => {
    const { body } = await singlePoint();
    const id = body.data.task_id;
    await waitForTask(stack.baseUrl, id);
    const ws = new WebSocket(stack.baseUrl.replace('http', 'ws') + '/ws', { headers: { 'X-API-Key': stack.userKey } });
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
    const got: number[] = [];
    let subscribed = false;
    ws.on('message', (m) => { const x = JSON.parse(String(m)); if (x.type === 'subscribed') subscribed = true; if (x.type === 'event' && x.event.type === 'burst') got.push(x.event.id); });
    ws.send(JSON.stringify({ action: 'subscribe', task_id: id, last_event_id: 2 ** 31 - 1 }));
    while (!subscribed) await new Promise((r) => setTimeout(r, 20));
    // A user key's `all` stream checks each event's task asynchronously; the order must survive that too.
    const wsAll = new WebSocket(stack.baseUrl.replace('http', 'ws') + '/ws', { headers: { 'X-API-Key': stack.userKey } });
    await new Promise((r, j) => { wsAll.once('open', r); wsAll.once('error', j); });
    const gotAll: number[] = [];
    let subscribedAll = false;
    wsAll.on('message', (m) => { const x = JSON.parse(String(m)); if (x.type === 'subscribed') subscribedAll = true; if (x.type === 'event' && x.event.type === 'burst') gotAll.push(x.event.id); });
    wsAll.send(JSON.stringify({ action: 'subscribe', all: true }));
    while (!subscribedAll) await new Promise((r) => setTimeout(r, 20));
    // Pipelined on one connection, each insert committing with its NOTIFY, so notifications arrive in id order and
    // faster than the API fetches their rows (a worker's progress-then-completed pair is the same race, smaller).
    const one = postgres(stack.config.DATABASE_URL, { max: 1, onnotice: () => {} });
    const sent = (await Promise.all(Array.from({ length: 60 }, (_, i) => one`
      with e as (insert into task_events (task_id, type, data) values (${id}, 'burst', ${one.json({ i })}) returning id)
      select id, pg_notify(${TASK_EVENTS_CHANNEL}, json_build_object('id', id, 'task_id', ${id}::text, 'type', 'burst')::text) from e`)))
      .map((rows) => Number(rows[0]!.id));
    await one.end();
    assert.deepEqual(sent, [...sent].sort((a, b) => a - b));
    const end = Date.now() + 30_000;
    while (got.length < sent.length) { assert.ok(Date.now() < end, `${got.length} of ${sent.length} burst events`); await new Promise((r) => setTimeout(r, 50)); }
    assert.deepEqual(got, sent);
    while (gotAll.length < sent.length) { assert.ok(Date.now() < end, `${gotAll.length} of ${sent.length} burst events on the all stream`); await new Promise((r) => setTimeout(r, 50)); }
    assert.deepEqual(gotAll, sent);
    ws.close();
    wsAll.close();
  });
});

describe('webhooks', () => {
  let receiver: Server;
  let url: string;
  const received: { key: string; event: string; status: number; signature: string; timestamp: string; body: string }[] = [];
  const FAILURES = 3;
  before(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        // Down for the first attempts, then accepting; a duplicate of an accepted key would be counted below.
        const status = received.length < FAILURES ? 503 : 200;
        received.push({
          key: String(req.headers['idempotency-key']), event: String(req.headers['x-mofsim-event']), status,
          signature: String(req.headers['x-mofsim-signature']), timestamp: String(req.headers['x-mofsim-timestamp']), body,
        });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  after(() => { receiver?.close(); });

  it('refuses callbacks to private addresses that are not allow-listed', async () => {
    const { status, body } = await singlePoint({ callback: { url: 'http://192.168.1.10/hook' } });
    assert.equal(status, 400);
    assert.equal(body.error.type, 'CALLBACK_URL_REFUSED');
    assert.equal(body.error.field, 'options.callback.url');
  });

  it('delivers each event exactly once to a receiver that is down at first, signed with HMAC-SHA256', async () => {
    const secret = 'whsec_test';
    const { body } = await singlePoint({ callback: { url, secret } });
    const id = body.data.task_id;
    assert.equal((await waitForTask(stack.baseUrl, id)).status, 'COMPLETED');
    const end = Date.now() + 60_000;
    const accepted = () => received.filter((r) => r.status === 200);
    while (accepted().length < 2) {
      assert.ok(Date.now() < end, `deliveries so far: ${JSON.stringify(received.map((r) => [r.event, r.status]))}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1500)); // room for a (wrong) duplicate to arrive
    assert.deepEqual(accepted().map((r) => r.event).sort(), ['task.completed', 'task.started']);
    assert.equal(new Set(accepted().map((r) => r.key)).size, accepted().length, 'one accepted delivery per idempotency key');
    assert.equal(received.filter((r) => r.status === 503).length, FAILURES);
    for (const r of received) {
      const expected = createHmac('sha256', secret).update(`${r.timestamp}.${r.body}`).digest('hex');
      assert.equal(r.signature, `t=${r.timestamp},v1=${expected}`);
      assert.equal(JSON.parse(r.body).task.task_id, id);
    }
    const log = (await api(stack.baseUrl, `/api/v1/tasks/${id}/webhooks`)).body.data.items;
    assert.equal(log.length, received.length);
    assert.equal(log.filter((d: any) => d.ok).length, 2);
    assert.ok(log.some((d: any) => !d.ok && d.status_code === 503 && d.attempt === 1));
  });

  it('delivers an event raised while no API process was listening (the sweep)', async () => {
    const { body } = await singlePoint({ callback: { url, events: ['task.completed'] } });
    const id = body.data.task_id;
    assert.equal((await waitForTask(stack.baseUrl, id)).status, 'COMPLETED');
    const accepted = () => received.filter((r) => r.status === 200 && JSON.parse(r.body).task.task_id === id);
    const end = Date.now() + 60_000;
    while (accepted().length < 1) {
      assert.ok(Date.now() < end, 'the live delivery never arrived');
      await new Promise((r) => setTimeout(r, 200));
    }
    // An event written without NOTIFY (as by a worker while every API process was down) is found by the sweep.
    const [row] = await stack.database.db.insert(taskEvents).values({ taskId: id, type: 'completed', data: { replayed: true } }).returning();
    while (accepted().length < 2) {
      assert.ok(Date.now() < end, 'the swept event was never delivered');
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 2500)); // more sweeps: still exactly one delivery per event
    assert.equal(accepted().length, 2);
    const keys = new Set(accepted().map((r) => r.key));
    assert.equal(keys.size, 2);
    const log = (await api(stack.baseUrl, `/api/v1/tasks/${id}/webhooks`)).body.data.items;
    assert.ok(log.some((d: any) => d.ok && d.event_id === row!.id), JSON.stringify(log));
  });

  it("uses the key's default webhook for a task that names none", async () => {
    const created = await api(stack.baseUrl, '/api/v1/keys', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'pipeline', role: 'user', default_callback: { url, events: ['task.completed'], secret: 'whsec_default' } }),
    }, { key: stack.adminKey });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.data.default_callback, { url, events: ['task.completed'], has_secret: true });
    const refused = await api(stack.baseUrl, '/api/v1/keys', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bad', default_callback: { url: 'http://10.1.2.3/hook' } }),
    }, { key: stack.adminKey });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.field, 'default_callback.url');

    const key = created.body.data.key as string;
    const up = await api(stack.baseUrl, '/api/v1/structures', { method: 'POST', body: (() => { const f = new FormData(); f.append('file', new Blob([new Uint8Array(readFileSync(calfPath))]), 'calf.cif'); return f; })() }, { key });
    const { body } = await submit(stack.baseUrl, 'single-point-energy', { model: 'lj_test', structure: { source: 'upload', file_id: up.body.data.id } }, {}, { key });
    const id = body.data.task_id;
    assert.equal((await waitForTask(stack.baseUrl, id, 300_000, { key })).status, 'COMPLETED');
    const end = Date.now() + 60_000;
    const mine = () => received.filter((r) => r.status === 200 && JSON.parse(r.body).task.task_id === id);
    while (mine().length < 1) {
      assert.ok(Date.now() < end, 'no delivery to the default webhook');
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(mine().map((r) => r.event), ['task.completed']);
    const r = mine()[0]!;
    assert.equal(r.signature, `t=${r.timestamp},v1=${createHmac('sha256', 'whsec_default').update(`${r.timestamp}.${r.body}`).digest('hex')}`);
  });
});

describe('gpu workers', () => {
  it('registers a GPU worker with its own queue and reports nvidia-smi telemetry at /system/gpus', async () => {
    // A recorded 4×H100 nvidia-smi; the worker drives GPU 2 (its engine runs on the CPU here).
    const dir = mkdtempSync(join(tmpdir(), 'smi-'));
    const fake = join(dir, 'nvidia-smi');
    writeFileSync(fake, `#!/bin/sh\ncat <<'CSV'
0, GPU-1a2b, NVIDIA H100 80GB HBM3, 81559, 1024, 37, 41, 118.52
1, GPU-3c4d, NVIDIA H100 80GB HBM3, 81559, 0, 0, 33, 69.90
2, GPU-5e6f, NVIDIA H100 80GB HBM3, 81559, 40960, 100, 67, 601.10
3, GPU-7a8b, NVIDIA H100 80GB HBM3, 81559, 0, [N/A], 30, [N/A]
CSV
`);
    chmodSync(fake, 0o755);
    const w = await stack.startWorker('gpu-2', { MOFSIM_GPU_INDEX: '2', MOFSIM_DEVICE: 'cpu', MOFSIM_NVIDIA_SMI: fake });
    assert.match(w.taskQueue, /\.gpu\.[^.]+\.2$/);
    const end = Date.now() + 20_000;
    let gpus: any[] = [];
    while (Date.now() < end) {
      gpus = (await api(stack.baseUrl, '/api/v1/system/gpus')).body.data.items;
      if (gpus[0]?.utilization_percent !== undefined && gpus[0]?.utilization_percent !== null) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(gpus.length, 1);
    assert.equal(gpus[0].worker_id, 'gpu-2');
    assert.equal(gpus[0].index, 2);
    assert.equal(gpus[0].name, 'NVIDIA H100 80GB HBM3');
    assert.equal(gpus[0].memory_used_MB, 40960);
    assert.equal(gpus[0].utilization_percent, 100);
    const worker = (await api(stack.baseUrl, '/api/v1/system/workers')).body.data.items.find((x: any) => x.id === 'gpu-2');
    // Admission budget: 90 % of the GPU's memory.
    assert.equal(worker.memory_budget_MB, Math.round(0.9 * 81559));
    assert.equal(worker.gpu_index, 2);
    await w.drain();
  });
});
