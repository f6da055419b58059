/**
 * `/metrics` scrape latency of the API with 10,000 tasks in the database, against the same API with an empty one
 * (the baseline, in the same run). The database-derived gauges come from a sample the API refreshes on an interval
 * (metrics/fleet-sample.ts), so a scrape should cost the same however many tasks there are; the sample refresh
 * itself (the queries) is timed too, running every second here while the scrapes go on.
 *
 * The scraper is a separate Node process (node:http, keep-alive, as Prometheus keeps its connection), so the
 * latency is the server's and the wire's; the same scrapes by `fetch` from inside the API's process are timed too
 * (the client's own CPU and garbage then count against the server: the earlier figures were taken that way).
 *
 *     npx tsx bench/metrics_scrape.ts [--tasks 10000] [--scrapes 400] [--json out.json]
 *
 * Needs PostgreSQL on DATABASE_URL's server (a fresh database is created and dropped).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import postgres from 'postgres';
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { metricsText } from '../metrics/exposition.js';
import { registry } from '../metrics/registry.js';
import { sampleFleet, startFleetSample } from '../metrics/fleet-sample.js';
import { createApp, listenApi } from '../server/app.js';
import type { ServerDeps } from '../server/deps.js';
import { ensureDatabaseExists, migrateDatabase, openDatabase } from '../store/client.js';
import { SystemLog } from '../store/system-logs.js';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const N_TASKS = Number(arg('tasks', '10000'));
const SCRAPES = Number(arg('scrapes', '400'));
const JSON_OUT = process.argv.includes('--json') ? arg('json', '') : '';

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};
const stats = (xs: number[]) => ({ p50: q(xs, 0.5), p95: q(xs, 0.95), p99: q(xs, 0.99), max: Math.max(...xs) });
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const base = loadConfig();
const dbName = `mofsim_bench_${randomBytes(4).toString('hex')}`;
const u = new URL(base.DATABASE_URL);
u.pathname = `/${dbName}`;
const url = u.toString();
await ensureDatabaseExists(url);
await migrateDatabase(url);
const config = loadConfig({ ...process.env, DATABASE_URL: url, MOFSIM_LOG_LEVEL: 'error', MOFSIM_DATA_DIR: tmpdir() });
const logger = createLogger('bench', 'error');
const database = openDatabase(url);
const systemLog = new SystemLog(database.db, 'api', logger);
// /metrics reads only the registry: the Temporal client, engine and live events are never touched on this path.
const deps = { config, database, logger, systemLog, startedAt: new Date() } as unknown as ServerDeps;
const app = createApp(deps);
const server: Server = await listenApi(app, 0, '127.0.0.1');
const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
const sampleOpts = { database, dataDir: tmpdir(), staleSeconds: 15 };
const stopSample = startFleetSample({ ...sampleOpts, intervalSeconds: 1, logger });

// The server's own share of a scrape: building the exposition text, without HTTP and the client in the same process.
async function renderRound(): Promise<ReturnType<typeof stats>> {
  const times: number[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = process.hrtime.bigint();
    await metricsText();
    times.push(ms(t0));
  }
  return stats(times);
}

// The scraper in its own process: 20 warm-up scrapes, then SCRAPES timed ones on one keep-alive connection.
const CLIENT = `
const http = require('node:http');
const [url, n] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = () => new Promise((resolve, reject) => {
  http.get(url, { agent }, (res) => { let bytes = 0; res.on('data', (c) => { bytes += c.length; }); res.on('end', () => resolve([res.statusCode, bytes])); }).on('error', reject);
});
(async () => {
  for (let i = 0; i < 20; i++) await get();
  const times = []; let bytes = 0;
  for (let i = 0; i < Number(n); i++) {
    const t0 = process.hrtime.bigint();
    const [status, b] = await get();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (status !== 200) throw new Error('scrape answered ' + status);
    bytes = b;
  }
  process.stdout.write(JSON.stringify({ times, bytes }));
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
`;

// The server's own time for the scrapes of a round, from the API's HTTP histogram (route /metrics): the share it
// answered within 5 ms, request arrival to the last byte handed to the kernel.
async function serverShareWithin5ms(): Promise<{ within: number; total: number }> {
  const h = await registry.getSingleMetric('mofsim_http_request_duration_seconds')!.get();
  const v = (le: number | string) => h.values.find((x) => x.labels.route === '/metrics' && x.labels.le === le)?.value ?? 0;
  return { within: v(0.005), total: v('+Inf') };
}

async function externalRound(): Promise<{ latency: ReturnType<typeof stats>; bytes: number; serverWithin5ms: number }> {
  const before = await serverShareWithin5ms();
  const child = spawn(process.execPath, ['-e', CLIENT, target, String(SCRAPES)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`scrape client exited ${code}`);
  const { times, bytes } = JSON.parse(out) as { times: number[]; bytes: number };
  const after = await serverShareWithin5ms();
  return { latency: stats(times), bytes, serverWithin5ms: (after.within - before.within) / (after.total - before.total) };
}

async function scrapeRound(): Promise<{ latency: ReturnType<typeof stats>; bytes: number }> {
  for (let i = 0; i < 20; i++) await (await fetch(target)).text(); // warm-up (JIT, keep-alive)
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = process.hrtime.bigint();
    const res = await fetch(target);
    const body = await res.text();
    times.push(ms(t0));
    if (!res.ok) throw new Error(`scrape answered ${res.status}`);
    bytes = body.length;
  }
  return { latency: stats(times), bytes };
}

async function sampleRound(n = 50): Promise<ReturnType<typeof stats>> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await sampleFleet(sampleOpts);
    times.push(ms(t0));
  }
  return stats(times);
}

async function seed(n: number): Promise<void> {
  const sql = database.sql;
  const [s] = await sql`insert into structures (name, original_name, format, checksum, file_path, file_size, n_atoms, formula, elements)
    values ('calf', 'calf.cif', 'cif', ${randomBytes(32).toString('hex')}, '/dev/null', 1, 44, 'C', '["C"]') returning id`;
  // A production-like mix: most tasks finished, a line of waiting ones, some running.
  const statuses = [['COMPLETED', 0.85], ['FAILED', 0.05], ['QUEUED', 0.07], ['RUNNING', 0.02], ['PAUSED', 0.01]] as const;
  const prios = ['CRITICAL', 'HIGH', 'NORMAL', 'NORMAL', 'NORMAL', 'LOW'];
  const rows = [];
  for (let i = 0; i < n; i++) {
    let r = (i * 7919) % n / n;
    let status: string = 'COMPLETED';
    for (const [st, share] of statuses) { if (r < share) { status = st; break; } r -= share; }
    rows.push({
      task_type: ['optimization', 'single-point-energy', 'stability', 'bulk-modulus'][i % 4]!, status, priority: prios[i % prios.length]!,
      model: ['sevennet_prod', 'mace_mp_0', 'lj_test'][i % 3]!, structure_id: s!.id, structure_name: 'calf',
      created_at: new Date(Date.now() - (n - i) * 1000).toISOString(), queued_at: new Date(Date.now() - (n - i) * 1000).toISOString(),
    });
  }
  for (let i = 0; i < rows.length; i += 1000) await sql`insert into tasks ${sql(rows.slice(i, i + 1000))}`;
  const workerRows = Array.from({ length: 8 }, (_, w) => ({
    id: `bench-gpu${w}`, hostname: 'bench', pid: 1000 + w, device: 'cuda', gpu_index: w, task_queue: `mofsim.gpu.bench.${w}`,
    status: 'online', max_jobs: 8, memory_budget_mb: 72000,
  }));
  await sql`insert into workers ${sql(workerRows)}`;
  await sql`insert into task_assignments (task_id, worker_id, memory_mb)
    select id, 'bench-gpu' || (row_number() over () % 8), 2000 from tasks where status = 'RUNNING'`;
  await sql`insert into webhook_deliveries (task_id, event_id, event, url, idempotency_key, attempt, ok, status_code)
    select id, 1, 'task.completed', 'https://example.invalid/hook', id::text || ':1', 1, (random() > 0.02), 200
    from tasks where status in ('COMPLETED', 'FAILED')`;
  await sql`analyze`;
}

try {
  const empty = await externalRound();
  const emptyFetch = await scrapeRound();
  const emptyRender = await renderRound();
  const emptySample = await sampleRound();
  await seed(N_TASKS);
  await sampleFleet(sampleOpts);
  const full = await externalRound();
  const fullFetch = await scrapeRound();
  const fullRender = await renderRound();
  const fullSample = await sampleRound();
  const [{ n }] = await database.sql<{ n: number }[]>`select count(*)::int as n from tasks`;
  const fmt = (x: number) => x.toFixed(2);
  console.log(`tasks in the database: 0 vs ${n}; ${SCRAPES} sequential scrapes each; fleet sample refreshed every 1 s meanwhile; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('| | HTTP scrape p50 ms | HTTP scrape p95 ms | HTTP scrape p99 ms | server ≤ 5 ms | in-process fetch p50 ms | in-process fetch p95 ms | render p50 ms | render p95 ms | answer bytes | sample refresh p50 ms | sample refresh p95 ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [label, r, f, d, smp] of [['empty', empty, emptyFetch, emptyRender, emptySample], [`${n} tasks`, full, fullFetch, fullRender, fullSample]] as const) {
    console.log(`| ${label} | ${fmt(r.latency.p50)} | ${fmt(r.latency.p95)} | ${fmt(r.latency.p99)} | ${(100 * r.serverWithin5ms).toFixed(1)} % | ${fmt(f.latency.p50)} | ${fmt(f.latency.p95)} | ${fmt(d.p50)} | ${fmt(d.p95)} | ${r.bytes} | ${fmt(smp.p50)} | ${fmt(smp.p95)} |`);
  }
  console.log(`HTTP scrape p95 ratio (${n} tasks / empty): ${(full.latency.p95 / empty.latency.p95).toFixed(2)}; in-process fetch p95 ratio: ${(fullFetch.latency.p95 / emptyFetch.latency.p95).toFixed(2)}; render p95 ratio: ${(fullRender.p95 / emptyRender.p95).toFixed(2)}`);
  console.log(`target p95 ≤ 5 ms (HTTP scrape, ${n} tasks): ${full.latency.p95 <= 5 ? 'met' : 'NOT met'}`);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ tasks: n, scrapes: SCRAPES, loadavg: loadavg(), empty, full, emptyFetch, fullFetch, emptyRender, fullRender, emptySample, fullSample }, null, 2));
} finally {
  stopSample();
  server.close();
  await systemLog.flush().catch(() => {});
  await database.close();
  const admin = postgres(base.DATABASE_URL.replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
  await admin.end();
}
