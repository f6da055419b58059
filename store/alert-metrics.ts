/**
 * The quantities alert rules compare against (`condition.metric`), measured from Postgres and the data directory's
 * file system. Each query reads an index or a small table (workers), never a scan of the task table. A metric that
 * cannot be measured now (no GPU worker online, nothing finished recently) is null, and a rule on it does not hold.
 */
import { sql } from 'drizzle-orm';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Db } from './client.js';

/** Every metric name a rule may use, with what it measures (units in the name or the text). */
export const ALERT_METRICS = {
  queue_length: 'tasks waiting for a slot (PENDING or QUEUED)',
  oldest_queued_age_s: 'seconds the oldest waiting task has waited since it was queued (0 when none waits)',
  active_workers: 'workers online or draining with a heartbeat fresher than MOFSIM_WORKER_STALE_S',
  available_gpus: 'GPU workers active (null when no GPU worker ever registered)',
  min_gpu_free_memory_gb: 'least free GPU memory among active GPU workers, GiB (heartbeat telemetry)',
  max_gpu_memory_used_percent: 'highest GPU memory use among active GPU workers, %',
  max_gpu_temp: 'hottest GPU among active GPU workers, °C',
  failure_rate_percent: 'FAILED or TIMEOUT among tasks finished in the last MOFSIM_ALERT_FAILURE_WINDOW_S (cancelled ones left out), %',
  consecutive_failures: 'FAILED or TIMEOUT tasks in a row among the most recently finished (cancelled ones skipped)',
  webhook_backlog: 'webhook events (task and alert) not delivered yet after a failed attempt, last 24 h',
  disk_free_gb: 'free space of the file system holding MOFSIM_DATA_DIR, GiB',
  disk_free_percent: 'free space of that file system, %',
} as const;

export type AlertMetricName = keyof typeof ALERT_METRICS;
export type AlertMetrics = Record<AlertMetricName, number | null>;

export interface AlertMetricOptions {
  /** A worker whose heartbeat is older than this is not active, seconds. */
  staleSeconds: number;
  /** Window of the failure rate, seconds. */
  failureWindowSeconds: number;
  /** The data directory (its nearest existing ancestor is measured). */
  dataDir: string;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Measures every metric once. */
export async function collectAlertMetrics(db: Db, opts: AlertMetricOptions): Promise<AlertMetrics> {
  const [queue] = await db.execute<{ n: string; oldest: string | null }>(sql`
    select count(*) as n, extract(epoch from now() - min(coalesce(queued_at, created_at))) as oldest
    from tasks where status in ('PENDING', 'QUEUED')`);
  const workerRows = await db.execute<{ status: string; gpu_index: number | null; fresh: boolean; telemetry: Record<string, unknown> }>(sql`
    select status, gpu_index, telemetry,
      status <> 'offline' and last_heartbeat > now() - make_interval(secs => ${opts.staleSeconds}) as fresh
    from workers`);
  const [finished] = await db.execute<{ failed: string; total: string }>(sql`
    select count(*) filter (where status in ('FAILED', 'TIMEOUT')) as failed, count(*) as total
    from tasks where completed_at > now() - make_interval(secs => ${opts.failureWindowSeconds})
      and status in ('COMPLETED', 'FAILED', 'TIMEOUT')`);
  const recent = await db.execute<{ status: string }>(sql`
    select status from tasks where completed_at is not null and status in ('COMPLETED', 'FAILED', 'TIMEOUT')
    order by completed_at desc limit 100`);
  const backlog = await webhookBacklog(db);

  const active = workerRows.filter((w) => w.fresh);
  const gpus = active.filter((w) => w.gpu_index !== null).map((w) => w.telemetry);
  const tel = (k: string) => gpus.map((t) => t[k]).filter((v): v is number => typeof v === 'number');
  const free = gpus.flatMap((t) => (typeof t.memory_total_MB === 'number' && typeof t.memory_used_MB === 'number'
    ? [{ freeGB: (t.memory_total_MB - t.memory_used_MB) / 1024, usedPct: (100 * t.memory_used_MB) / t.memory_total_MB }] : []));
  let consecutive = 0;
  for (const r of recent) { if (r.status === 'COMPLETED') break; consecutive += 1; }
  const disk = await dataDirSpace(opts.dataDir);
  const total = Number(finished?.total ?? 0);
  return {
    queue_length: Number(queue?.n ?? 0),
    oldest_queued_age_s: Math.max(0, num(queue?.oldest) ?? 0),
    active_workers: active.length,
    available_gpus: workerRows.some((w) => w.gpu_index !== null) ? gpus.length : null,
    min_gpu_free_memory_gb: free.length ? Math.min(...free.map((f) => f.freeGB)) : null,
    max_gpu_memory_used_percent: free.length ? Math.max(...free.map((f) => f.usedPct)) : null,
    max_gpu_temp: tel('temperature_C').length ? Math.max(...tel('temperature_C')) : null,
    failure_rate_percent: total ? (100 * Number(finished!.failed)) / total : null,
    consecutive_failures: consecutive,
    webhook_backlog: backlog.pending,
    disk_free_gb: disk ? disk.free / 2 ** 30 : null,
    disk_free_percent: disk ? (100 * disk.free) / disk.size : null,
  };
}

/**
 * Webhook deliveries (task events and alert transitions) still being retried: one delivery is one idempotency key
 * (every automatic attempt shares it; a resend has its own) with attempts in the last 24 h and none answered 2xx.
 * A refused URL (its error starts `callback `, common/webhook-attempt.ts) is not retried, so not pending. Reads
 * the last day of the log by its created_at index.
 */
export async function webhookBacklog(db: Db): Promise<{ pending: number; oldestSeconds: number }> {
  const [r] = await db.execute<{ n: number; oldest: number }>(sql`
    select count(*)::int as n, coalesce(extract(epoch from now() - min(first_attempt)), 0)::float8 as oldest
    from (select min(created_at) as first_attempt from webhook_deliveries
          where created_at > now() - interval '24 hours'
          group by idempotency_key
          having not bool_or(ok) and not bool_or(status_code is null and coalesce(error, '') like 'callback %')) pending`);
  return { pending: Number(r?.n ?? 0), oldestSeconds: Math.max(0, Number(r?.oldest ?? 0)) };
}

/** Free and total bytes of the file system holding `dir`; it may not exist yet (nothing uploaded): the file system it will be created on. */
export async function dataDirSpace(dir: string): Promise<{ free: number; size: number } | null> {
  for (let d = dir; ; d = dirname(d)) {
    try {
      const s = await statfs(d);
      return { free: s.bavail * s.bsize, size: s.blocks * s.bsize };
    } catch {
      if (dirname(d) === d) return null;
    }
  }
}
