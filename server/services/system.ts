/** Queue statistics, configuration and readiness for /api/v1/system. */
import { count, gte, inArray, sql } from 'drizzle-orm';
import { PRIORITIES } from '../../common/task-types.js';
import { tasks } from '../../store/schema.js';
import { LIVE_STATUSES } from '../../store/task-status.js';
import type { ServerDeps } from '../deps.js';
import { listModels } from './models.js';

export const VERSION = '0.1.0';

/** Counts by priority of tasks waiting, plus running and finished today (all owners: queue state is shared). */
export async function queueStats(deps: ServerDeps) {
  const { db } = deps.database;
  const rows = await db.select({ status: tasks.status, priority: tasks.priority, n: count() }).from(tasks)
    .where(inArray(tasks.status, [...LIVE_STATUSES])).groupBy(tasks.status, tasks.priority);
  const waiting = (p: string) => rows.filter((r) => r.priority === p && r.status !== 'RUNNING').reduce((a, r) => a + Number(r.n), 0);
  const startOfDay = new Date();
  startOfDay.setUTCHours(0, 0, 0, 0);
  const done = await db.select({ status: tasks.status, n: count() }).from(tasks).where(gte(tasks.completedAt, startOfDay)).groupBy(tasks.status);
  const doneOf = (s: string) => Number(done.find((d) => d.status === s)?.n ?? 0);
  return {
    queues: PRIORITIES.map((priority) => ({ priority, count: waiting(priority) })),
    total_pending: PRIORITIES.reduce((a, p) => a + waiting(p), 0),
    total_running: rows.filter((r) => r.status === 'RUNNING').reduce((a, r) => a + Number(r.n), 0),
    total_completed_today: doneOf('COMPLETED'),
    total_failed_today: doneOf('FAILED') + doneOf('TIMEOUT'),
  };
}

/** Task counts by status and type (what the Python SDK's get_system_stats reads), plus the queue. */
export async function systemStats(deps: ServerDeps) {
  const { db } = deps.database;
  const byStatus = await db.select({ k: tasks.status, n: count() }).from(tasks).groupBy(tasks.status);
  const byType = await db.select({ k: tasks.taskType, n: count() }).from(tasks).groupBy(tasks.taskType);
  const obj = (rows: { k: string; n: number }[]) => Object.fromEntries(rows.map((r) => [r.k, Number(r.n)]));
  const models = await listModels(deps).catch(() => []);
  return {
    tasks: { total: byStatus.reduce((a, r) => a + Number(r.n), 0), by_status: obj(byStatus), by_task_type: obj(byType) },
    queue: await queueStats(deps),
    models: { total: models.length, available: models.filter((m) => m.available).length },
    uptime_seconds: (Date.now() - deps.startedAt.getTime()) / 1000,
    version: VERSION,
  };
}

/** The limits and defaults a client may want to know (no secrets, no paths). */
export async function systemConfig(deps: ServerDeps) {
  const c = deps.config;
  const models = await listModels(deps).catch(() => []);
  return {
    version: VERSION,
    default_timeout: c.MOFSIM_DEFAULT_TASK_TIMEOUT_S,
    max_upload_mb: c.MOFSIM_MAX_UPLOAD_MB,
    max_atoms: c.MOFSIM_MAX_ATOMS,
    max_concurrent_tasks: c.MOFSIM_ENGINE_MAX_JOBS,
    supported_models: models.map((m) => m.id),
    task_types: ['optimization', 'stability', 'bulk-modulus', 'heat-capacity', 'interaction-energy', 'single-point-energy', 'speed'],
    priorities: [...PRIORITIES],
    default_rate_limit_per_minute: c.MOFSIM_DEFAULT_RATE_LIMIT,
  };
}
