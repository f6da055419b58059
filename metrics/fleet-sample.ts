/**
 * Fleet-wide gauges read from Postgres — the queue, the workers, the webhook backlog — and the data directory's free
 * space. They are sampled on an interval, not per scrape: a scrape then costs no query at all, however many tasks the
 * database holds, and many scrapers (several Prometheus servers, a curious operator) cost the database nothing more.
 * Every query reads through an index (tasks by status, the small workers and assignments tables, deliveries of the
 * last 24 h).
 */
import { Gauge } from 'prom-client';
import { PRIORITIES } from '../common/task-types.js';
import type { Logger } from '../common/logger.js';
import type { Database } from '../store/client.js';
import { dataDirSpace, webhookBacklog } from '../store/alert-metrics.js';
import { registry } from './registry.js';

const MB = 1024 * 1024;
const g = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
  new Gauge<L>({ name, help, labelNames, registers: [registry] });

const queueDepth = g('mofsim_queue_depth', 'Tasks waiting for a slot (PENDING or QUEUED)', ['priority']);
const queueOldest = g('mofsim_queue_oldest_age_seconds', 'Age of the oldest waiting task (0 when none waits)', ['priority']);
const active = g('mofsim_tasks_active', 'Live tasks by status', ['status']);
const workersByStatus = g('mofsim_workers', 'Registered workers by status', ['status']);
const workerUp = g('mofsim_worker_up', '1 while the worker is online or draining with a fresh heartbeat', ['worker_id', 'device']);
const workerDraining = g('mofsim_worker_draining', '1 while the worker drains', ['worker_id']);
const heartbeatAge = g('mofsim_worker_heartbeat_age_seconds', 'Seconds since the worker\'s last heartbeat', ['worker_id']);
const workerJobs = g('mofsim_worker_jobs', 'Jobs assigned to the worker', ['worker_id']);
const workerSlots = g('mofsim_worker_slots', 'Jobs the worker admits at most', ['worker_id']);
const budget = g('mofsim_worker_memory_budget_bytes', 'Engine memory the worker admits jobs into', ['worker_id']);
const budgetUsed = g('mofsim_worker_memory_used_bytes', 'Engine memory its assigned jobs are expected to need', ['worker_id']);
const pendingRetries = g('mofsim_webhook_pending_retries', 'Webhook events whose delivery failed and is still retried (no 2xx in the last 24 h)');
const oldestUndelivered = g('mofsim_webhook_oldest_undelivered_age_seconds', 'Age of the oldest webhook event still being retried (0 when none)');
const diskFree = g('mofsim_data_dir_free_bytes', 'Free space of the file system holding the data directory');
const diskSize = g('mofsim_data_dir_size_bytes', 'Size of the file system holding the data directory');

const LIVE = ['PENDING', 'QUEUED', 'RUNNING', 'PAUSED'] as const;
const WORKER_STATUSES = ['online', 'draining', 'offline'] as const;

export interface FleetSampleOptions {
  database: Database;
  dataDir: string;
  /** Heartbeat age (s) beyond which a worker counts as down. */
  staleSeconds: number;
  /** Seconds between samples. */
  intervalSeconds: number;
  logger: Logger;
}

/** Reads every fleet gauge once (exported for the scrape benchmark and tests). */
export async function sampleFleet(o: Pick<FleetSampleOptions, 'database' | 'dataDir' | 'staleSeconds'>): Promise<void> {
  const sql = o.database.sql;
  const [queue, live, workerRows, hooks, disk] = await Promise.all([
    sql<{ priority: string; n: number; oldest: number }[]>`
      select priority, count(*)::int as n, extract(epoch from now() - min(coalesce(queued_at, created_at)))::float8 as oldest
      from tasks where status in ('PENDING', 'QUEUED') group by priority`,
    sql<{ status: string; n: number }[]>`
      select status, count(*)::int as n from tasks where status in ('PENDING', 'QUEUED', 'RUNNING', 'PAUSED') group by status`,
    // Workers seen in the last day: a long-gone worker id (they carry a pid) drops out instead of lingering forever.
    sql<{ id: string; device: string; status: string; max_jobs: number; budget: number; age: number; jobs: number; mem: number }[]>`
      select w.id, w.device, w.status, w.max_jobs, w.memory_budget_mb::float8 as budget,
             extract(epoch from now() - w.last_heartbeat)::float8 as age,
             coalesce(a.n, 0)::int as jobs, coalesce(a.mem, 0)::float8 as mem
      from workers w
      left join (select worker_id, count(*) as n, sum(memory_mb) as mem from task_assignments group by worker_id) a on a.worker_id = w.id
      where w.last_heartbeat > now() - interval '1 day'`,
    webhookBacklog(o.database.db),
    dataDirSpace(o.dataDir),
  ]);
  // Reset and refill in one synchronous stretch: a scrape never sees a half-written sample.
  queueDepth.reset();
  queueOldest.reset();
  for (const p of PRIORITIES) { queueDepth.set({ priority: p }, 0); queueOldest.set({ priority: p }, 0); }
  for (const r of queue) { queueDepth.set({ priority: r.priority }, r.n); queueOldest.set({ priority: r.priority }, Math.max(0, r.oldest)); }
  active.reset();
  for (const s of LIVE) active.set({ status: s }, 0);
  for (const r of live) active.set({ status: r.status }, r.n);
  for (const gauge of [workerUp, workerDraining, heartbeatAge, workerJobs, workerSlots, budget, budgetUsed]) gauge.reset();
  const counts: Record<string, number> = { online: 0, draining: 0, offline: 0 };
  for (const w of workerRows) {
    const fresh = w.age <= o.staleSeconds;
    const status = w.status === 'offline' || !fresh ? 'offline' : w.status;
    counts[status] = (counts[status] ?? 0) + 1;
    const id = { worker_id: w.id };
    workerUp.set({ ...id, device: w.device }, status === 'offline' ? 0 : 1);
    workerDraining.set(id, status === 'draining' ? 1 : 0);
    heartbeatAge.set(id, Math.max(0, w.age));
    workerJobs.set(id, w.jobs);
    workerSlots.set(id, w.max_jobs);
    budget.set(id, w.budget * MB);
    budgetUsed.set(id, w.mem * MB);
  }
  for (const s of WORKER_STATUSES) workersByStatus.set({ status: s }, counts[s] ?? 0);
  pendingRetries.set(hooks.pending);
  oldestUndelivered.set(hooks.oldestSeconds);
  if (disk) { diskFree.set(disk.free); diskSize.set(disk.size); }
}

/** Samples now and then every `intervalSeconds`; returns the stop function. */
export function startFleetSample(o: FleetSampleOptions): () => void {
  const log = o.logger.child({ component: 'metrics' });
  let failing = false;
  let running = false;
  const run = () => {
    if (running) return;
    running = true;
    sampleFleet(o).then(() => { failing = false; }, (err) => {
      // Once per outage, not every interval.
      if (!failing) log.warn('metrics sample failed', { error: String((err as Error)?.message ?? err) });
      failing = true;
    }).finally(() => { running = false; });
  };
  run();
  const timer = setInterval(run, o.intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
