/**
 * The reference Python client (`mofsim_client`) on the wire, one test per place it used to break: each request is
 * shaped as that client sends it and each answer is read the way it reads it (see
 * shared/reference/benchservice/CONTRACT.md §12.1): `get_gpu_status()` reads `data.gpus`, `is_healthy()` a
 * top-level `status`, `submit_batch()` sends items keyed `type`, `stream_task_logs()` reads
 * `GET /tasks/{id}/logs/stream`, and callbacks subscribe to `task.created` / `task.timeout`.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../common/logger.js';
import { EngineSupervisor } from '../engine-host/engine-supervisor.js';
import { api, calfPath, startTestStack, submit, upload, waitForTask, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';

let stack: TestStack;
let receiver: WebhookReceiver;
let calfId: string;
/** A task that waits paused until its 60 s timeout (the shortest the spec allows), submitted first to overlap the rest. */
let timeoutTaskId: string;

const lj = (extra: Record<string, unknown> = {}) => ({ model: 'lj_test', structure: { source: 'upload', file_id: calfId }, ...extra });
const eventsFor = (id: string) => receiver.received.filter((r) => JSON.parse(r.body).task.task_id === id).map((r) => JSON.parse(r.body).type as string);

before(async () => {
  stack = await startTestStack({ workers: 1, env: { MOFSIM_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', MOFSIM_WEBHOOK_RETRY_INITIAL_S: '0.2' } });
  receiver = await startWebhookReceiver();
  calfId = (await upload(stack.baseUrl, 'calf.cif', readFileSync(calfPath))).body.data.id;
  const t = await submit(stack.baseUrl, 'optimization', lj({
    parameters: { fmax: 1e-9, max_steps: 100000 },
    options: { timeout: 60, callback: { url: receiver.url, events: ['task.created', 'task.failed', 'task.timeout'] } },
  }));
  assert.equal(t.status, 202, JSON.stringify(t.body));
  timeoutTaskId = t.body.data.task_id;
  assert.equal((await api(stack.baseUrl, `/api/v1/tasks/${timeoutTaskId}/pause`, { method: 'POST' })).status, 202);
});
after(async () => {
  receiver?.close();
  await stack?.stop();
});

/** Reads an SSE response to its end the way stream_task_logs does: `data: ` lines parsed as JSON, the rest skipped. */
async function readStream(path: string, headers: Record<string, string> = {}): Promise<{ status: number; contentType: string | null; ids: number[]; entries: any[] }> {
  const res = await fetch(stack.baseUrl + path, {
    headers: { authorization: `Bearer ${stack.userKey}`, accept: 'text/event-stream', ...headers },
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  const ids: number[] = [];
  const entries: any[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('id: ')) ids.push(Number(line.slice(4)));
    if (line.startsWith('data: ')) entries.push(JSON.parse(line.slice(6)));
  }
  return { status: res.status, contentType: res.headers.get('content-type'), ids, entries };
}

describe('get_gpu_status(): data.gpus', () => {
  it('lists the GPU under data.gpus with the GPUInfo keys the client reads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smi-'));
    const fake = join(dir, 'nvidia-smi');
    writeFileSync(fake, `#!/bin/sh\ncat <<'CSV'
0, GPU-1a2b, NVIDIA H100 80GB HBM3, 81559, 1024, 37, 41, 118.52
1, GPU-5e6f, NVIDIA H100 80GB HBM3, 81559, 40960, 100, 67, 601.10
CSV
`);
    chmodSync(fake, 0o755);
    const w = await stack.startWorker('gpu-1', { MOFSIM_GPU_INDEX: '1', MOFSIM_DEVICE: 'cpu', MOFSIM_NVIDIA_SMI: fake });
    try {
      const data = await until('GPU telemetry', async () => {
        const d = (await api(stack.baseUrl, '/api/v1/system/gpus')).body.data;
        return d?.gpus?.[0]?.utilization !== null && d?.gpus?.[0]?.utilization !== undefined ? d : undefined;
      });
      // GPUInfo.from_dict(g) for g in data["gpus"]
      assert.equal(data.gpus.length, 1);
      const g = data.gpus[0];
      assert.equal(g.gpu_id, 1);
      assert.equal(g.name, 'NVIDIA H100 80GB HBM3');
      assert.ok(Math.abs(g.memory_total - 81559 / 1024) < 0.01, `memory_total ${g.memory_total} GB`);
      assert.ok(Math.abs(g.memory_used - 40 ) < 0.01, `memory_used ${g.memory_used} GB`);
      assert.ok(Math.abs(g.memory_free - (81559 - 40960) / 1024) < 0.01, `memory_free ${g.memory_free} GB`);
      assert.equal(g.memory_free_MB, 81559 - 40960);
      assert.equal(g.utilization, 100);
      assert.equal(g.temperature, 67);
      assert.equal(g.is_available, true, 'online and running nothing');
      assert.equal(g.current_task, null);
      assert.deepEqual(g.loaded_models, []);
      assert.deepEqual(data.items, data.gpus, 'our own name for the same list');
      assert.deepEqual([data.total_gpus, data.available_gpus], [1, 1]);
    } finally {
      await w.drain();
    }
    const drained = (await api(stack.baseUrl, '/api/v1/system/gpus')).body.data;
    assert.equal(drained.available_gpus, 0, 'a drained worker\'s GPU is not available');
  });
});

describe('is_healthy(): top-level status', () => {
  it('repeats data.status at the top of /api/v1/health, healthy and degraded', async () => {
    // _url("/health") → /api/v1/health; is_healthy() is resp.get("status") == "healthy".
    const up = await api(stack.baseUrl, '/api/v1/health');
    assert.equal(up.status, 200);
    assert.ok(['healthy', 'starting', 'degraded'].includes(up.body.status), JSON.stringify(up.body));
    assert.equal(up.body.status, up.body.data.status);
    assert.equal(up.body.status === 'healthy', Object.values(up.body.data.components).every((c: any) => c.status === 'healthy'));
    assert.equal((await api(stack.baseUrl, '/health')).body.status !== undefined, true);

    // A second API process whose Temporal does not answer: the client must see "degraded", not "healthy".
    const down = await stack.startApi({ temporal: { workflowService: { getSystemInfo: () => Promise.reject(new Error('unreachable')) } } as never });
    try {
      const res = await api(down.baseUrl, '/api/v1/health');
      assert.equal(res.body.status, 'degraded');
      assert.equal(res.body.data.components.temporal.status, 'unhealthy');
    } finally {
      await down.stop();
    }
  });

  it('says "starting", not "degraded", while the parse engine starts, and "degraded" when its start fails', async () => {
    const log = createLogger('test', 'error');
    // The real engine behind a few seconds of start-up (what a cold start on a busy box looks like).
    const dir = mkdtempSync(join(tmpdir(), 'slow-engine-'));
    const slow = join(dir, 'python');
    writeFileSync(slow, `#!/bin/sh\nsleep 1\nexec '${stack.config.MOFSIM_PYTHON}' "$@"\n`);
    chmodSync(slow, 0o755);
    const engine = new EngineSupervisor({ python: slow, logger: log, env: { MOFSIM_DEVICE: 'cpu' } }, log);
    const starting = await stack.startApi({ engine });
    try {
      const first = await api(starting.baseUrl, '/health');
      assert.equal(first.status, 200);
      assert.equal(first.body.data.components.engine.status, 'starting', JSON.stringify(first.body));
      assert.equal(first.body.status, 'starting');
      await until('the engine up', async () => (await api(starting.baseUrl, '/health')).body.status === 'healthy', 120_000, 250);
    } finally {
      await starting.stop();
      await engine.stop();
    }
    const broken = new EngineSupervisor({ python: join(dir, 'no-such-python'), logger: log, env: {} }, log);
    const failing = await stack.startApi({ engine: broken });
    try {
      const res = await until('the failed start reported', async () => {
        const r = await api(failing.baseUrl, '/health');
        return r.body.status === 'degraded' ? r : undefined;
      }, 30_000, 100);
      assert.equal(res.body.data.components.engine.status, 'unhealthy');
      assert.match(res.body.data.components.engine.error, /engine failed to start/);
    } finally {
      await failing.stop();
      await broken.stop();
    }
  });
});

describe('submit_batch(): items keyed type', () => {
  it('accepts {type, model, structure, parameters} items with no task_type query, and names a bad type', async () => {
    const structure = { source: 'upload', file_id: calfId };
    const res = await api(stack.baseUrl, '/api/v1/tasks/batch', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tasks: [
        { type: 'single-point', model: 'lj_test', structure, parameters: { calculate_forces: true, calculate_stress: false } },
        { type: 'optimization', model: 'lj_test', structure, parameters: { fmax: 0.05, max_steps: 5, optimizer: 'BFGS' } },
        { type: 'no-such-type', model: 'lj_test', structure, parameters: {} },
      ] }),
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const d = res.body.data;
    assert.deepEqual([d.submitted, d.failed], [2, 1], JSON.stringify(d.errors));
    // The client builds its Task list from data.tasks.
    assert.deepEqual(d.tasks.map((t: any) => t.task_type), ['single-point-energy', 'optimization']);
    assert.deepEqual(d.tasks.map((t: any) => t.task_id), d.task_ids);
    assert.equal(d.tasks[0].parameters.compute_forces, true, 'the SDK\'s parameter names are mapped as on the single routes');
    assert.equal(d.tasks[1].parameters.max_steps, 5);
    assert.equal(d.errors[0].index, 2);
    assert.match(d.errors[0].error, /no-such-type/);
    for (const id of d.task_ids) assert.equal((await waitForTask(stack.baseUrl, id)).status, 'COMPLETED');
  });
});

describe('stream_task_logs(): GET /tasks/{id}/logs/stream', () => {
  it('streams the log as data: frames and ends with the task; Last-Event-ID resumes', async () => {
    const t = await submit(stack.baseUrl, 'optimization', lj({ parameters: { fmax: 0.05, max_steps: 20 } }));
    const id = t.body.data.task_id;
    // Opened before the task ends: what arrives live, then the stream closes by itself after the final entry.
    const live = await readStream(`/api/v1/tasks/${id}/logs/stream`);
    assert.equal(live.status, 200);
    assert.match(live.contentType ?? '', /^text\/event-stream/);
    assert.ok(live.entries.length >= 3, JSON.stringify(live.entries.map((e) => e.message)));
    for (const e of live.entries) {
      assert.equal(e.task_id, id);
      assert.ok(['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'].includes(e.level));
      assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
    }
    assert.equal(live.entries[0].extra.event, 'queued');
    assert.equal(live.entries.at(-1).extra.event, 'completed');
    assert.deepEqual(live.entries.map((e) => e.id), live.ids.map((n) => `log_${n}`), 'each frame\'s id: is its entry\'s');
    // The same entries as the paged log.
    const paged = (await api(stack.baseUrl, `/api/v1/tasks/${id}/logs?limit=1000`)).body.data.logs;
    assert.deepEqual(live.entries, paged);

    const resumed = await readStream(`/api/v1/tasks/${id}/logs/stream`, { 'last-event-id': String(live.ids[1]) });
    assert.deepEqual(resumed.entries, live.entries.slice(2), 'everything after the given id, nothing before');

    const last = await readStream(`/api/v1/tasks/${id}/logs/stream?history_limit=1`);
    assert.deepEqual(last.entries, live.entries.slice(-1));
    const none = await readStream(`/api/v1/tasks/${id}/logs/stream?include_history=false`);
    assert.deepEqual([none.status, none.entries], [200, []], 'a finished task\'s stream ends at once');
    const errors = await readStream(`/api/v1/tasks/${id}/logs/stream?level=WARNING`);
    assert.deepEqual(errors.entries, live.entries.filter((e) => ['WARNING', 'ERROR', 'CRITICAL'].includes(e.level)));

    const bad = await api(stack.baseUrl, `/api/v1/tasks/${id}/logs/stream?history_limit=501`);
    assert.deepEqual([bad.status, bad.body.error.field], [400, 'history_limit']);
    const missing = await api(stack.baseUrl, '/api/v1/tasks/00000000-0000-4000-8000-000000000000/logs/stream');
    assert.equal(missing.status, 404);
  });
});

describe('callback events task.created and task.timeout', () => {
  it('refuses an unknown event name, naming the field', async () => {
    const res = await submit(stack.baseUrl, 'single-point-energy', lj({ options: { callback: { url: receiver.url, events: ['task.exploded'] } } }));
    assert.deepEqual([res.status, res.body.error.field], [400, 'options.callback.events']);
  });

  it('delivers task.created when a submission is accepted', async () => {
    const t = await submit(stack.baseUrl, 'single-point-energy', lj({ options: { callback: { url: receiver.url, events: ['task.created', 'task.completed'] } } }));
    assert.equal(t.status, 202, JSON.stringify(t.body));
    const id = t.body.data.task_id;
    assert.equal((await waitForTask(stack.baseUrl, id)).status, 'COMPLETED');
    await until('both deliveries', async () => eventsFor(id).length >= 2);
    assert.deepEqual(eventsFor(id).sort(), ['task.completed', 'task.created']);
    const created = receiver.received.find((r) => JSON.parse(r.body).task.task_id === id && JSON.parse(r.body).type === 'task.created')!;
    assert.equal(created.headers['x-mofsim-event'], 'task.created');
  });

  it('delivers a timeout as task.timeout, not task.failed', async () => {
    const done = await waitForTask(stack.baseUrl, timeoutTaskId, 240_000);
    assert.equal(done.status, 'TIMEOUT');
    await until('the timeout delivery', async () => eventsFor(timeoutTaskId).includes('task.timeout'));
    await new Promise((r) => setTimeout(r, 1000)); // room for a (wrong) task.failed
    assert.deepEqual(eventsFor(timeoutTaskId).sort(), ['task.created', 'task.timeout']);
    const log = (await api(stack.baseUrl, `/api/v1/tasks/${timeoutTaskId}/webhooks`)).body.data.items;
    assert.ok(log.some((x: any) => x.event === 'task.timeout' && x.ok), JSON.stringify(log));
  });
});
