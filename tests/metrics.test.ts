/**
 * Metrics through a real Prometheus: it scrapes the API's /metrics and a worker process's metrics port (a GPU worker
 * fed a recorded nvidia-smi) after a few lj_test tasks with a webhook; every metric family is there with values that
 * follow from what the test did. Dashboards: every panel's PromQL returns a series, every SQL panel runs on Postgres.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { freePort } from '../scripts/services.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { randomBytes } from 'node:crypto';
import { ensureReadOnlyRole } from '../store/readonly-role.js';
import { BENCHMARK_SQL } from '../grafana/dashboards/benchmark-results.js';
import { allPanels, committedDashboards, expandPromql } from './helpers/dashboards.js';
import { startPrometheus, type TestPrometheus } from './helpers/prometheus.js';
import { api, calfPath, startTestStack, submit, upload, waitForTask, type ChildWorker, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';

// Recorded from an 8×H100 box (the format of tests/gpu-discovery.test.ts): index, uuid, name, memory.total,
// memory.used, utilization.gpu, temperature.gpu, power.draw.
const RECORDED = `0, GPU-1a2b, NVIDIA H100 80GB HBM3, 81559, 1024, 37, 41, 118.52
1, GPU-3c4d, NVIDIA H100 80GB HBM3, 81559, 0, 0, 33, 69.90
`;
const TASKS = 3;
const WORKER = 'metrics-gpu0';

let stack: TestStack;
let prom: TestPrometheus;
let hooks: WebhookReceiver;
let worker: ChildWorker;
let taskIds: string[] = [];

before(async () => {
  stack = await startTestStack({ workers: 0, env: { MOFSIM_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
  hooks = await startWebhookReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'smi-'));
  const smi = join(dir, 'nvidia-smi');
  writeFileSync(smi, `#!/bin/sh\ncat <<'CSV'\n${RECORDED}CSV\n`);
  chmodSync(smi, 0o755);
  const metricsPort = await freePort();
  // A GPU worker (its own queue, DCGM telemetry from the recording) whose engine computes on the CPU.
  worker = await stack.spawnWorker(WORKER, {
    MOFSIM_GPU_INDEX: '0', MOFSIM_NVIDIA_SMI: smi, MOFSIM_DEVICE: 'cpu', MOFSIM_WORKER_METRICS_PORT: String(metricsPort),
    MOFSIM_WORKER_METRICS_HOST: '127.0.0.1',
  });
  const fileId = (await upload(stack.baseUrl, 'calf.cif', readFileSync(calfPath))).body.data.id;
  const structure = { source: 'upload', file_id: fileId };
  const options = { callback: { url: hooks.url, events: ['task.completed'] } };
  const submitted = await Promise.all([
    submit(stack.baseUrl, 'single-point-energy', { model: 'lj_test', structure, options }),
    submit(stack.baseUrl, 'single-point-energy', { model: 'lj_test', structure, options: { ...options, priority: 'HIGH' } }),
    submit(stack.baseUrl, 'optimization', { model: 'lj_test', structure, parameters: { max_steps: 20 }, options }),
  ]);
  for (const s of submitted) assert.equal(s.status, 202, JSON.stringify(s.body));
  taskIds = submitted.map((s) => s.body.data.task_id);
  for (const id of taskIds) assert.equal((await waitForTask(stack.baseUrl, id)).status, 'COMPLETED');
  // One task that does not complete (the failure panels need a series) and one 4xx answer.
  const long = await submit(stack.baseUrl, 'stability', { model: 'lj_test', structure, options: { priority: 'LOW' } });
  assert.equal(long.status, 202, JSON.stringify(long.body));
  await api(stack.baseUrl, `/api/v1/tasks/${long.body.data.task_id}/cancel`, { method: 'POST' });
  assert.equal((await waitForTask(stack.baseUrl, long.body.data.task_id)).status, 'CANCELLED');
  assert.equal((await api(stack.baseUrl, '/api/v1/tasks/00000000-0000-4000-8000-000000000000')).status, 404);
  await until('webhooks delivered', async () => hooks.received.length >= TASKS, 120_000);
  // A request whose path carries an id: its label must be the route template.
  await api(stack.baseUrl, `/api/v1/tasks/${taskIds[0]}`);
  prom = await startPrometheus({ 'mofsim-api': [new URL(stack.baseUrl).host], 'mofsim-worker': [`127.0.0.1:${metricsPort}`] });
  await until('both targets scraped', async () => (await prom.query('up == 1')).length === 2, 60_000);
});

after(async () => {
  await prom?.stop();
  hooks?.close();
  await stack?.stop();
});

/** The one value of an instant query (summing every series). */
async function value(promql: string): Promise<number> {
  const r = await prom.query(`sum(${promql})`);
  assert.equal(r.length, 1, `${promql}: no series`);
  return Number(r[0]!.value[1]);
}

/** Waits until Prometheus holds a sample that satisfies `ok` (the worker's heartbeat and the API's sample lag a little). */
async function eventually(promql: string, ok: (v: number) => boolean, what = promql): Promise<number> {
  let last = NaN;
  await until(what, async () => {
    const r = await prom.query(`sum(${promql})`);
    last = r.length ? Number(r[0]!.value[1]) : NaN;
    return r.length > 0 && ok(last);
  }, 60_000, 500).catch(() => { throw new Error(`${what}: last value ${last}`); });
  return last;
}

describe('metrics scraped by Prometheus', () => {
  it('times API requests by route template, never by raw path', async () => {
    const byRoute = await prom.query('mofsim_http_request_duration_seconds_count');
    const routes = new Set(byRoute.map((s) => s.metric.route));
    assert.ok(routes.has('/api/v1/tasks/:task_id') || [...routes].some((r) => r?.startsWith('/api/v1/tasks/:')), [...routes].join(', '));
    assert.ok(routes.has('/api/v1/tasks/single-point-energy') || routes.has('/api/v1/tasks/:taskType'), [...routes].join(', '));
    for (const r of routes) assert.doesNotMatch(r ?? '', /[0-9a-f]{8}-[0-9a-f]{4}/, `a task id in a route label: ${r}`);
    assert.ok(byRoute.every((s) => /^\d{3}$/.test(s.metric.status ?? '') && s.metric.method));
    assert.ok(await value('mofsim_http_request_duration_seconds_count{status="202"}') >= TASKS);
  });

  it('counts tasks submitted and finished by type and model, and their queue waits and run times', async () => {
    assert.equal(await value('mofsim_tasks_submitted_total{model="lj_test"}'), TASKS + 1);
    assert.equal(await value('mofsim_tasks_finished_total{status="CANCELLED",error_type="CANCELLED"}'), 1);
    assert.equal(await value('mofsim_tasks_submitted_total{priority="HIGH"}'), 1);
    assert.equal(await value('mofsim_tasks_finished_total{model="lj_test",status="COMPLETED",error_type=""}'), TASKS);
    assert.equal(await value('mofsim_tasks_finished_total{task_type="optimization"}'), 1);
    // The cancelled task may or may not have started before its cancel arrived.
    assert.ok([TASKS, TASKS + 1].includes(await value('mofsim_queue_wait_seconds_count')));
    assert.equal(await value('mofsim_task_run_seconds_count{outcome="completed",model="lj_test"}'), TASKS);
    assert.equal(await value('mofsim_tasks_submitted_total{task_type="stability",priority="LOW"}'), 1);
    assert.ok(await value('mofsim_task_run_seconds_sum') > 0);
  });

  it('reports the queue by priority and the live tasks from the database', async () => {
    const depth = await prom.query('mofsim_queue_depth');
    assert.deepEqual(depth.map((s) => s.metric.priority).sort(), ['CRITICAL', 'HIGH', 'LOW', 'NORMAL']);
    assert.equal(await value('mofsim_queue_depth'), 0);
    assert.equal(await value('mofsim_queue_oldest_age_seconds'), 0);
    assert.equal(await value('mofsim_tasks_active'), 0);
  });

  it('reports the worker: up, not draining, fresh heartbeat, slots and memory budget', async () => {
    const w = `{worker_id="${WORKER}"}`;
    assert.equal(await value(`mofsim_worker_up${w}`), 1);
    assert.equal(await value(`mofsim_worker_draining${w}`), 0);
    assert.ok(await value(`mofsim_worker_heartbeat_age_seconds${w}`) < stack.config.MOFSIM_WORKER_STALE_S);
    assert.equal(await value(`mofsim_worker_slots${w}`), stack.config.MOFSIM_ENGINE_MAX_JOBS);
    assert.equal(await value(`mofsim_worker_jobs${w}`), 0);
    // 90 % of the recorded GPU's 81559 MiB.
    assert.ok(Math.abs(await value(`mofsim_worker_memory_budget_bytes${w}`) - 0.9 * 81559 * 2 ** 20) < 2 ** 21);
    assert.ok(await value('mofsim_workers{status="online"}') >= 1);
  });

  it('reports the engine: up, resident model with its memory and load time, evaluations, no restarts or OOMs', async () => {
    const w = `{worker_id="${WORKER}"}`;
    assert.equal(await value(`mofsim_engine_up${w}`), 1);
    assert.ok(await eventually(`mofsim_engine_resident_models${w}`, (v) => v >= 1) >= 1);
    await eventually(`mofsim_engine_model_memory_bytes{worker_id="${WORKER}",model="lj_test"}`, (v) => v >= 0);
    assert.ok(await value(`mofsim_engine_model_load_seconds{model="lj_test"}`) >= 0);
    // Every single point is one evaluation, every optimisation step one more.
    assert.ok(await eventually(`mofsim_engine_model_evaluations_total{model="lj_test"}`, (v) => v >= TASKS) >= TASKS);
    // Batch size and atoms per batch are histograms: every batch counted, its structures and atoms summed.
    const batches = await value('mofsim_engine_batch_size_count{model="lj_test"}');
    assert.ok(batches >= 1);
    assert.ok(await value('mofsim_engine_batch_size_sum{model="lj_test"}') >= batches);
    // Compared within one query: a later scrape may have added batches.
    const lj = '{model="lj_test"}';
    const same = await prom.query(`sum(mofsim_engine_batch_size_bucket{model="lj_test",le="+Inf"}) - sum(mofsim_engine_batch_size_count${lj}) + sum(mofsim_engine_batch_atoms_count${lj}) - sum(mofsim_engine_batch_size_count${lj})`);
    assert.equal(Number(same[0]?.value[1]), 0);
    assert.ok(await value('mofsim_engine_batch_atoms_sum{model="lj_test"}') >= 44);
    assert.equal(await value(`mofsim_engine_restarts_total${w}`), 0);
    assert.equal(await value(`mofsim_engine_oom_total{model="lj_test"}`), 0);
    assert.equal(await value(`mofsim_engine_model_oom_total{model="lj_test"}`), 0);
  });

  it('exports the worker GPU under dcgm-exporter names and labels, from its nvidia-smi reading', async () => {
    const util = await prom.query('DCGM_FI_DEV_GPU_UTIL');
    // Only the GPU this worker drives (index 0), not every GPU nvidia-smi lists.
    assert.deepEqual(util.map((s) => s.metric.gpu), ['0']);
    assert.equal(util[0]!.metric.UUID, 'GPU-1a2b');
    assert.equal(util[0]!.metric.modelName, 'NVIDIA H100 80GB HBM3');
    assert.ok(util[0]!.metric.Hostname);
    assert.equal(Number(util[0]!.value[1]), 37);
    assert.equal(await value('DCGM_FI_DEV_FB_USED'), 1024);
    assert.equal(await value('DCGM_FI_DEV_FB_TOTAL'), 81559);
    assert.equal(await value('DCGM_FI_DEV_FB_FREE'), 81559 - 1024);
    assert.equal(await value('DCGM_FI_DEV_GPU_TEMP'), 41);
    assert.equal(await value('DCGM_FI_DEV_POWER_USAGE'), 118.52);
  });

  it('counts webhook deliveries and shows no backlog once they arrived', async () => {
    assert.equal(await value('mofsim_webhook_delivery_attempts_total{outcome="delivered"}'), TASKS);
    assert.equal(await value('mofsim_webhook_deliveries_total{outcome="delivered"}'), TASKS);
    assert.equal(await value('mofsim_webhook_deliveries_total{outcome="gave_up"}'), 0);
    assert.equal(await value('mofsim_webhook_pending_retries'), 0);
    assert.equal(await value('mofsim_webhook_oldest_undelivered_age_seconds'), 0);
  });

  it('carries the Temporal SDK worker metrics, the process metrics and the data directory free space', async () => {
    assert.ok(await value('count({__name__=~"temporal_.+", job="mofsim-worker"})') > 5);
    assert.ok(await value('temporal_worker_task_slots_available{job="mofsim-worker"}') >= 1);
    for (const job of ['mofsim-api', 'mofsim-worker']) {
      assert.ok(await value(`process_resident_memory_bytes{job="${job}"}`) > 1e6, job);
      assert.ok(await value(`nodejs_eventloop_lag_seconds{job="${job}"}`) >= 0, job);
    }
    const free = await value('mofsim_data_dir_free_bytes');
    assert.ok(free > 0 && free <= await value('mofsim_data_dir_size_bytes'));
  });

  it('answers every PromQL query of every dashboard panel with at least one series', async () => {
    for (const [file, d] of Object.entries(committedDashboards())) {
      for (const panel of allPanels(d)) {
        for (const t of panel.targets ?? []) {
          if (!t.expr) continue;
          const expr = expandPromql(t.expr);
          // Rates need two samples inside their window: give Prometheus a few scrapes.
          await until(`${file} / ${panel.title}: ${expr}`, async () => (await prom.query(expr)).length > 0, 30_000, 500);
        }
      }
    }
  });

  it('runs every SQL panel query on Postgres as the read-only Grafana role, which can read nothing else', async () => {
    const role = `mofsim_grafana_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    assert.equal((await api(stack.baseUrl, '/api/v1/leaderboard')).status, 200);
    await ensureReadOnlyRole(stack.database.sql, role, password);
    await ensureReadOnlyRole(stack.database.sql, role, password); // idempotent
    const url = new URL(stack.config.DATABASE_URL);
    url.username = role;
    url.password = password;
    const ro = postgres(url.toString(), { max: 1, onnotice: () => {} });
    try {
      let queries = 0;
      for (const [file, d] of Object.entries(committedDashboards())) {
        for (const panel of allPanels(d)) {
          for (const t of panel.targets ?? []) {
            if (!t.rawSql) continue;
            queries += 1;
            await ro.unsafe(t.rawSql).catch((err) => { throw new Error(`${file} / ${panel.title}: ${(err as Error).message}`); });
          }
        }
      }
      assert.ok(queries >= 3, `only ${queries} SQL panels`);
      // The summary panel shows the classical baselines' optimisation score (stored when the leaderboard is first read).
      const summary = await ro.unsafe(BENCHMARK_SQL.summary);
      const uff = summary.find((r) => /UFF/i.test(String(r.model)));
      assert.ok(uff, JSON.stringify(summary));
      const within = Number(uff['optimisation: within ±10 % of DFT volume']);
      assert.ok(within > 0 && within <= 1, JSON.stringify(uff));
      await assert.rejects(ro`select key_hash from api_keys`, /permission denied/);
      await assert.rejects(ro`select options from tasks`, /permission denied/);
      await assert.rejects(ro`delete from leaderboard`, /read-only|permission denied|cannot delete/);
    } finally {
      await ro.end();
      await stack.database.sql.unsafe(`drop owned by ${role}`);
      await stack.database.sql.unsafe(`drop role ${role}`);
    }
  });

  it('marks a stopped worker down', async () => {
    worker.process.kill('SIGKILL');
    await worker.exited;
    await eventually(`mofsim_worker_up{worker_id="${WORKER}",job="mofsim-api"}`, (v) => v === 0, 'worker down after SIGKILL');
    assert.equal(await value(`mofsim_workers{status="online"}`), 0);
  });
});
