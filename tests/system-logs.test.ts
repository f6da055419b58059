/**
 * System logs on a real stack: real producers (key management, a worker's life and drain, an engine crash, a
 * webhook given up, a silent worker) write entries the admin API lists with their level and source; the level
 * filter is a minimum; bad input is a 400 naming the field; user keys get 403; the SSE stream pushes new entries and
 * resumes after Last-Event-ID; retention deletes old entries and keeps new ones.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { createLogger } from '../common/logger.js';
import { systemLogs, workers } from '../store/schema.js';
import { SystemLog } from '../store/system-logs.js';
import type { WorkerHandle } from '../workers/worker.js';
// The SDK of this checkout (the `@mofsim/sdk` package may resolve to another build).
import { MOFSimClient } from '../sdk/src/index.js';
import { api, startTestStack, submit, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';

let stack: TestStack;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  stack = await startTestStack({ workers: 0, env: { MOFSIM_SSE_HEARTBEAT_S: '1' } });
});
after(async () => { await stack?.stop(); });

interface Entry { id: number; timestamp: string; level: string; source: string; logger: string; message: string; worker_id: string | null; task_id: string | null; request_id: string | null; extra: Record<string, any> }

const admin = () => ({ key: stack.adminKey });
async function logs(query: string): Promise<Entry[]> {
  const res = await api(stack.baseUrl, `/api/v1/system/logs?${query}`, {}, admin());
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.data.count, res.body.data.logs.length);
  return res.body.data.logs;
}
const entry = (query: string, pred: (e: Entry) => boolean, what = query) =>
  until(`a system log entry: ${what}`, async () => (await logs(query)).find(pred));
const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** An open SSE connection: frames are collected as they arrive. */
function openStream(query: string, headers: Record<string, string> = {}) {
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(), 300_000).unref(); // a stream nobody closes still ends
  const frames: { id?: number; data?: Entry; comment?: string }[] = [];
  const opened = fetch(`${stack.baseUrl}/api/v1/system/logs/stream?${query}`, {
    headers: { authorization: `Bearer ${stack.adminKey}`, accept: 'text/event-stream', ...headers }, signal: ctl.signal,
  });
  const done = opened.then(async (res) => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) return;
      buf += value;
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (block.startsWith(':')) { frames.push({ comment: block.slice(1).trim() }); continue; }
        const f: { id?: number; data?: Entry } = {};
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) f.id = Number(line.slice(4));
          if (line.startsWith('data: ')) f.data = JSON.parse(line.slice(6));
        }
        frames.push(f);
      }
    }
  }).catch(() => {});
  return {
    opened, frames,
    entries: () => frames.filter((f) => f.data).map((f) => f.data!),
    close: async () => { ctl.abort(); await done; },
  };
}

describe('system log producers', () => {
  it('records key creation and revocation (INFO, source api) with the request id and never the key', async () => {
    const created = await api(stack.baseUrl, '/api/v1/keys', { ...json({ name: 'audited', role: 'user' }), headers: { 'content-type': 'application/json', 'x-request-id': 'req-syslog-key-1' } }, admin());
    assert.equal(created.status, 201);
    const { id, key, prefix } = created.body.data;
    const made = await entry('source=api&level=INFO', (e) => e.logger === 'keys' && e.extra.key_id === id && /created/.test(e.message));
    assert.equal(made.level, 'INFO');
    assert.equal(made.source, 'api');
    assert.equal(made.request_id, 'req-syslog-key-1');
    assert.equal(made.extra.prefix, prefix);
    assert.equal(made.extra.role, 'user');
    assert.ok(made.extra.by_key_id, 'names the admin key that acted');
    assert.equal((await api(stack.baseUrl, `/api/v1/keys/${id}`, { method: 'DELETE' }, admin())).status, 200);
    await entry('source=api', (e) => e.logger === 'keys' && e.extra.key_id === id && /revoked/.test(e.message));
    const everything = JSON.stringify(await logs('limit=1000&level=DEBUG'));
    assert.ok(!everything.includes(key), 'no key material in the system log');
    assert.ok(!everything.includes(key.slice(prefix.length + 1)), 'not even the secret part');
  });

  it('records workers that stopped heartbeating as offline (WARNING), each once, with the tasks they held', async () => {
    const ghost = (id: string, task: string) => ({
      id, hostname: 'nowhere', pid: 1, device: 'cpu', taskQueue: `mofsim.${id}`, status: 'online', maxJobs: 1,
      memoryBudgetMB: 1000, runningTasks: [task], lastHeartbeat: new Date(Date.now() - 3600_000),
    });
    await stack.database.db.insert(workers).values([ghost('ghost-1', '00000000-0000-4000-8000-00000000abc1'), ghost('ghost-2', '00000000-0000-4000-8000-00000000abc2')]);
    assert.equal((await api(stack.baseUrl, '/api/v1/system/workers')).status, 200);
    for (const n of [1, 2]) {
      const e = await entry(`worker_id=ghost-${n}&level=WARNING`, (x) => /marked offline/.test(x.message));
      assert.equal(e.source, 'api');
      assert.deepEqual(e.extra.running_tasks, [`00000000-0000-4000-8000-00000000abc${n}`]);
    }
    await api(stack.baseUrl, '/api/v1/system/workers');
    await sleep(300);
    assert.equal((await logs('worker_id=ghost-1')).length, 1, 'marked offline once, not at every look');
  });

  it('records 5xx answers with their request id: a dependency down (WARNING), an unhandled error (ERROR)', async () => {
    const { body } = await submit(stack.baseUrl, 'single-point-energy', { model: 'lj_test', structure: { source: 'builtin', name: 'calf' } });
    const taskId = body.data.task_id as string;
    const down = () => Promise.reject(new Error('temporal is down'));
    const broken = await stack.startApi({ temporal: { workflowService: { getSystemInfo: down }, workflow: { getHandle: () => ({ signal: down }) } } as never });
    try {
      const ready = await api(broken.baseUrl, '/api/v1/system/readiness', { headers: { 'x-request-id': 'req-syslog-503' } });
      assert.equal(ready.status, 503);
      const warn = await entry('source=api&level=WARNING', (e) => e.request_id === 'req-syslog-503');
      assert.equal(warn.logger, 'http');
      assert.match(warn.message, /^503 NOT_READY/);
      assert.equal(warn.extra.path, '/api/v1/system/readiness');
      const pause = await api(broken.baseUrl, `/api/v1/tasks/${taskId}/pause`, { method: 'POST', headers: { 'x-request-id': 'req-syslog-500' } });
      assert.equal(pause.status, 500);
      const err = await entry('source=api&level=ERROR', (e) => e.request_id === 'req-syslog-500');
      assert.match(err.message, /unhandled error: temporal is down/);
      assert.equal(err.extra.method, 'POST');
      assert.match(err.extra.stack, /temporal is down/);
    } finally {
      await broken.stop();
      await api(stack.baseUrl, `/api/v1/tasks/${taskId}/cancel`, { method: 'POST' });
    }
  });

  describe('a worker', () => {
    let w: WorkerHandle;
    before(async () => { w = await stack.startWorker('syslog-w1', { MOFSIM_DRAIN_TIMEOUT_S: '60' }); });

    it('records that it came online (INFO, source worker)', async () => {
      const e = await entry('worker_id=syslog-w1&source=worker', (x) => x.message === 'worker online');
      assert.equal(e.level, 'INFO');
      assert.equal(e.logger, 'lifecycle');
      assert.equal(e.extra.device, 'cpu');
      assert.match(e.extra.task_queue, /\.cpu\.syslog-w1$/);
    });

    it('records an engine crash (ERROR) and the restart (INFO)', async () => {
      const engine = await w.engine.get();
      engine.kill('SIGKILL');
      const crash = await entry('worker_id=syslog-w1&level=ERROR', (x) => /engine exited unexpectedly/.test(x.message));
      assert.equal(crash.source, 'worker');
      assert.equal(crash.extra.signal, 'SIGKILL');
      assert.equal(crash.extra.pid, engine.pid);
      const restarted = await entry('worker_id=syslog-w1', (x) => x.message === 'engine restarted' && x.id > crash.id);
      assert.equal(restarted.level, 'INFO');
      assert.notEqual(restarted.extra.pid, engine.pid);
    });

    it('records a webhook delivery the webhook workflow gave up (ERROR, source webhook)', async () => {
      const connection = await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS });
      try {
        const taskId = '00000000-0000-4000-8000-00000000beef';
        // No such task or event: the delivery fails for good at once (non-retryable), as a refused URL would.
        const handle = await new Client({ connection }).workflow.start('webhookWorkflow', {
          taskQueue: stack.config.MOFSIM_TASK_QUEUE, workflowId: `webhook-syslog-${Date.now()}`, args: [{ taskId, eventId: 987654 }],
        });
        await assert.rejects(handle.result());
        const e = await entry(`task_id=${taskId}`, (x) => /given up/.test(x.message));
        assert.equal(e.level, 'ERROR');
        assert.equal(e.source, 'webhook');
        assert.equal(e.extra.event_id, 987654);
        assert.equal(e.worker_id, null);
      } finally {
        await connection.close();
      }
    });

    it('records a drain requested through the API: the request (api), the hand-back of its job and the worker going offline', async () => {
      const { body } = await submit(stack.baseUrl, 'stability', {
        model: 'lj_test', structure: { source: 'builtin', name: 'calf' },
        parameters: { opt_steps: 0, nvt_steps: 50_000, npt_steps: 0, checkpoint_interval: 100, trajectory_interval: 1000 },
      });
      const taskId = body.data.task_id as string;
      await until('the job running', async () => (await api(stack.baseUrl, `/api/v1/tasks/${taskId}`)).body.data.status === 'RUNNING');
      const res = await api(stack.baseUrl, '/api/v1/system/workers/syslog-w1/drain', { method: 'POST', headers: { 'x-request-id': 'req-syslog-drain' } }, admin());
      assert.equal(res.status, 202);
      await w.done;
      const mine = await until('the drain entries', async () => {
        const l = await logs('worker_id=syslog-w1&limit=50');
        return l.some((e) => e.message === 'worker offline') && l;
      });
      const requested = mine.find((e) => /drain requested/.test(e.message))!;
      assert.equal(requested.source, 'api');
      assert.equal(requested.level, 'INFO');
      assert.equal(requested.request_id, 'req-syslog-drain');
      const draining = mine.find((e) => e.message === 'worker draining')!;
      assert.equal(draining.source, 'worker');
      assert.equal(draining.extra.reason, 'requested through the API');
      assert.deepEqual(draining.extra.running_tasks, [taskId]);
      const handedBack = await entry(`task_id=${taskId}`, (e) => /handed back/.test(e.message));
      assert.equal(handedBack.worker_id, 'syslog-w1');
      // Newest first: offline after draining after the request.
      const order = ['worker offline', 'worker draining'].map((m) => mine.findIndex((e) => e.message === m));
      assert.ok(order[0]! < order[1]! && order[1]! < mine.indexOf(requested), JSON.stringify(mine.map((e) => e.message)));
      await api(stack.baseUrl, `/api/v1/tasks/${taskId}/cancel`, { method: 'POST' });
    });
  });
});

describe('system log API', () => {
  const log = createLogger('test', 'error');

  it('treats level as a minimum and lists newest first, paging back with before_id', async () => {
    const rows = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'].map((level) => ({ level, source: 'scheduler', logger: 'test', message: `level ${level}`, workerId: 'level-test' }));
    for (const r of rows) await stack.database.db.insert(systemLogs).values(r);
    const warn = await logs('worker_id=level-test&level=WARNING');
    assert.deepEqual(warn.map((e) => e.level), ['CRITICAL', 'ERROR', 'WARNING']);
    assert.deepEqual((await logs('worker_id=level-test&level=ERROR')).map((e) => e.level), ['CRITICAL', 'ERROR']);
    const all = await logs('worker_id=level-test');
    assert.equal(all.length, 5, 'no level: everything');
    assert.deepEqual(all.map((e) => e.id), [...all.map((e) => e.id)].sort((a, b) => b - a));
    const page1 = await logs('worker_id=level-test&limit=2');
    const page2 = await logs(`worker_id=level-test&limit=2&before_id=${page1.at(-1)!.id}`);
    assert.deepEqual([...page1, ...page2].map((e) => e.level), ['CRITICAL', 'ERROR', 'WARNING', 'INFO']);
    assert.equal((await logs('worker_id=level-test&source=api')).length, 0);
    const client = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.adminKey });
    assert.deepEqual((await client.system.logs({ worker_id: 'level-test', level: 'ERROR' })).logs.map((e) => e.level), ['CRITICAL', 'ERROR']);
    assert.equal((await client.system.logStats()).retention.retention_days, 90);
  });

  it('answers a bad level or limit with 400 naming the field, and a user key with 403', async () => {
    for (const [query, field] of [['level=LOUD', 'level'], ['level=warning', 'level'], ['limit=0', 'limit'], ['limit=1001', 'limit'], ['since=yesterday', 'since'], ['task_id=nope', 'task_id']]) {
      const res = await api(stack.baseUrl, `/api/v1/system/logs?${query}`, {}, admin());
      assert.equal(res.status, 400, query);
      assert.equal(res.body.code, 40002, query);
      assert.equal(res.body.error.field, field, query);
    }
    const stream = await api(stack.baseUrl, '/api/v1/system/logs/stream?level=LOUD', {}, admin());
    assert.equal(stream.status, 400);
    assert.equal(stream.body.error.field, 'level');
    for (const [method, path] of [['GET', '/logs'], ['GET', '/logs/stream'], ['GET', '/logs/stats'], ['POST', '/logs/archive'], ['GET', '/logs/archives']]) {
      const res = await api(stack.baseUrl, `/api/v1/system${path}`, { method });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(res.body.code, 40301);
    }
  });

  it('streams new entries as SSE, sends heartbeats when idle, and resumes after Last-Event-ID', async () => {
    const writer = new SystemLog(stack.database.db, 'worker', log, { workerId: 'sse-test' });
    const s1 = openStream('worker_id=sse-test&level=INFO');
    const res = await s1.opened;
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    await sleep(200);
    writer.record('DEBUG', 'test', 'below the stream level');
    writer.info('test', 'first');
    const first = await until('the first entry live', async () => s1.entries().find((e) => e.message === 'first'));
    assert.equal(first.source, 'worker');
    assert.equal(s1.frames.find((f) => f.data?.message === 'first')!.id, first.id);
    await until('a heartbeat', async () => s1.frames.some((f) => f.comment === 'heartbeat'), 5000);
    assert.ok(!s1.entries().some((e) => e.message === 'below the stream level'));
    await s1.close();

    writer.warning('test', 'second');
    writer.error('test', 'third');
    await writer.flush();
    const s2 = openStream('worker_id=sse-test&level=INFO', { 'Last-Event-ID': String(first.id) });
    await until('the replay', async () => s2.entries().length >= 2);
    writer.info('test', 'fourth');
    await until('the fourth entry live', async () => s2.entries().some((e) => e.message === 'fourth'));
    assert.deepEqual(s2.entries().map((e) => e.message), ['second', 'third', 'fourth']);
    const ids = s2.entries().map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
    await s2.close();
  });

  it('applies retention on request: deletes entries older than the retention, keeps newer ones, counts by month', async () => {
    const [old] = await stack.database.db.insert(systemLogs).values({ level: 'INFO', source: 'api', logger: 'test', message: 'ancient', createdAt: new Date(Date.now() - 100 * 86_400_000) }).returning();
    const [recent] = await stack.database.db.insert(systemLogs).values({ level: 'INFO', source: 'api', logger: 'test', message: 'recent', createdAt: new Date(Date.now() - 80 * 86_400_000) }).returning();
    const before = (await api(stack.baseUrl, '/api/v1/system/logs/archives', {}, admin())).body.data;
    const oldMonth = old!.createdAt.toISOString().slice(0, 7);
    assert.ok(before.archives.some((a: { month: string }) => a.month === oldMonth));
    const res = await api(stack.baseUrl, '/api/v1/system/logs/archive', { method: 'POST' }, admin());
    assert.equal(res.status, 200);
    assert.equal(res.body.data.deleted, 1);
    assert.equal(res.body.data.retention_days, 90);
    assert.deepEqual(res.body.data.errors, []);
    const left = await stack.database.sql`select id from system_logs where id in (${old!.id}, ${recent!.id})`;
    assert.deepEqual(left.map((r) => Number(r.id)), [recent!.id]);
    const months = (await api(stack.baseUrl, '/api/v1/system/logs/archives', {}, admin())).body.data.archives as { month: string; entries: number }[];
    const entriesIn = (list: { month: string; entries: number }[], month: string) => list.find((a) => a.month === month)?.entries ?? 0;
    assert.equal(months[0]!.month, new Date().toISOString().slice(0, 7), 'newest month first');
    assert.equal(entriesIn(months, oldMonth), entriesIn(before.archives, oldMonth) - 1);
    const stats = (await api(stack.baseUrl, '/api/v1/system/logs/stats', {}, admin())).body.data;
    assert.equal(stats.total, Number((await stack.database.sql`select count(*)::int as n from system_logs`)[0]!.n));
    assert.ok(stats.by_level.INFO >= 1 && stats.by_source.api >= 1);
    assert.equal(stats.retention.retention_days, 90);
    assert.ok(stats.table_size_mb > 0);
    assert.equal(Date.parse(stats.oldest), recent!.createdAt.getTime());
  });
});
