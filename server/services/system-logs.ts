/**
 * System logs as the API serves them: filtered listing (newest first), statistics, retention (on demand and hourly)
 * and per-month counts, and the live feed — one LISTEN per API process on the system-log channel (the same
 * postgres.js listener connection as the task events), fanned out to SSE streams.
 */
import { and, asc, count, desc, eq, gt, gte, inArray, lt, lte, max, min, sql, type SQL } from 'drizzle-orm';
import type { Logger } from '../../common/logger.js';
import type { Database, Db } from '../../store/client.js';
import { systemLogs, type SystemLogRow } from '../../store/schema.js';
import { levelsFrom, SYSTEM_LOG_LEVELS, SYSTEM_LOGS_CHANNEL, type SystemLogLevel } from '../../store/system-logs.js';
import type { ServerDeps } from '../deps.js';

/** Which entries a listing or a stream wants; `level` is a minimum. */
export interface SystemLogFilter {
  level?: SystemLogLevel;
  source?: string;
  workerId?: string;
  taskId?: string;
}

export interface SystemLogQuery extends SystemLogFilter {
  since?: string;
  until?: string;
  /** Only entries with a smaller id (the next page of an earlier listing). */
  beforeId?: number;
  /** @default 100, at most 1000 */
  limit: number;
}

export function systemLogToApi(r: SystemLogRow) {
  return {
    id: r.id, timestamp: r.createdAt.toISOString(), level: r.level, source: r.source, logger: r.logger, message: r.message,
    worker_id: r.workerId, task_id: r.taskId, request_id: r.requestId, extra: r.extra,
  };
}

function filterSql(f: SystemLogFilter): SQL | undefined {
  return and(
    f.level && f.level !== 'DEBUG' ? inArray(systemLogs.level, levelsFrom(f.level)) : undefined,
    f.source ? eq(systemLogs.source, f.source) : undefined,
    f.workerId ? eq(systemLogs.workerId, f.workerId) : undefined,
    f.taskId ? eq(systemLogs.taskId, f.taskId) : undefined,
  );
}

/** Whether a row passes a stream's filter (the same test as `filterSql`, for rows pushed live). */
export function matches(f: SystemLogFilter, r: SystemLogRow): boolean {
  if (f.level && SYSTEM_LOG_LEVELS.indexOf(r.level as SystemLogLevel) < SYSTEM_LOG_LEVELS.indexOf(f.level)) return false;
  return (!f.source || r.source === f.source) && (!f.workerId || r.workerId === f.workerId) && (!f.taskId || r.taskId === f.taskId);
}

/** The newest `limit` entries that match, newest first. */
export async function listSystemLogs(db: Db, q: SystemLogQuery): Promise<SystemLogRow[]> {
  return db.select().from(systemLogs).where(and(
    filterSql(q),
    q.since ? gte(systemLogs.createdAt, new Date(q.since)) : undefined,
    q.until ? lte(systemLogs.createdAt, new Date(q.until)) : undefined,
    q.beforeId !== undefined ? lt(systemLogs.id, q.beforeId) : undefined,
  )).orderBy(desc(systemLogs.id)).limit(q.limit);
}

/** Entries after `afterId` that match, oldest first (a stream's replay after Last-Event-ID). */
export async function systemLogsAfter(db: Db, afterId: number, f: SystemLogFilter, limit = 1000): Promise<SystemLogRow[]> {
  return db.select().from(systemLogs).where(and(gt(systemLogs.id, afterId), filterSql(f))).orderBy(asc(systemLogs.id)).limit(limit);
}

/** Counts by level and source, the oldest and newest entry, the table's size, the retention in force. */
export async function systemLogStats(deps: ServerDeps, subscribers: number) {
  const { db } = deps.database;
  const groups = await db.select({ level: systemLogs.level, source: systemLogs.source, n: count() }).from(systemLogs)
    .groupBy(systemLogs.level, systemLogs.source);
  const [span] = await db.select({ oldest: min(systemLogs.createdAt), newest: max(systemLogs.createdAt) }).from(systemLogs);
  const [size] = await db.execute<{ bytes: string }>(sql`select pg_total_relation_size('system_logs')::text as bytes`);
  const tally = (key: 'level' | 'source') => groups.reduce<Record<string, number>>((acc, g) => { acc[g[key]] = (acc[g[key]] ?? 0) + Number(g.n); return acc; }, {});
  const days = deps.config.MOFSIM_SYSTEM_LOG_RETENTION_DAYS;
  return {
    total: groups.reduce((a, g) => a + Number(g.n), 0),
    by_level: tally('level'),
    by_source: tally('source'),
    oldest: span?.oldest ? new Date(span.oldest).toISOString() : null,
    newest: span?.newest ? new Date(span.newest).toISOString() : null,
    table_size_mb: Math.round(Number(size?.bytes ?? 0) / 1024 / 10.24) / 100,
    retention: { retention_days: days, cutoff: cutoffOf(days).toISOString(), sweep_interval_s: RETENTION_SWEEP_MS / 1000 },
    active_subscribers: subscribers,
  };
}

const cutoffOf = (days: number) => new Date(Date.now() - days * 86_400_000);

/**
 * Applies retention now: deletes entries older than `days`, in batches (a large backlog never holds one long lock).
 * Answers in the reference's shape: entries are rows, so nothing is compressed or moved (`compressed` and
 * `monthly_archived` stay 0); `deleted` counts rows.
 */
export async function applyRetention(db: Db, days: number) {
  const cutoff = cutoffOf(days);
  let deleted = 0;
  const errors: string[] = [];
  try {
    for (;;) {
      const rows = await db.delete(systemLogs).where(inArray(systemLogs.id,
        db.select({ id: systemLogs.id }).from(systemLogs).where(lt(systemLogs.createdAt, cutoff)).limit(10_000))).returning({ id: systemLogs.id });
      deleted += rows.length;
      if (rows.length < 10_000) break;
    }
  } catch (err) {
    errors.push(String((err as Error).message ?? err));
  }
  return { compressed: 0, monthly_archived: 0, deleted, errors, retention_days: days, cutoff: cutoff.toISOString() };
}

/** Entries per calendar month (UTC), newest month first: what retention keeps. */
export async function systemLogMonths(db: Db) {
  const month = sql<string>`to_char(${systemLogs.createdAt} at time zone 'UTC', 'YYYY-MM')`;
  const rows = await db.select({
    month, level: systemLogs.level, n: count(), bytes: sql<string>`sum(pg_column_size(${systemLogs}.*))::text`,
    first: min(systemLogs.createdAt), last: max(systemLogs.createdAt),
  }).from(systemLogs).groupBy(month, systemLogs.level).orderBy(desc(month));
  const months = new Map<string, { month: string; entries: number; total_size_mb: number; bytes: number; first_at: Date; last_at: Date; by_level: Record<string, number> }>();
  for (const r of rows) {
    const first = new Date(r.first!);
    const last = new Date(r.last!);
    let m = months.get(r.month);
    if (!m) months.set(r.month, (m = { month: r.month, entries: 0, total_size_mb: 0, bytes: 0, first_at: first, last_at: last, by_level: {} }));
    m.entries += Number(r.n);
    m.bytes += Number(r.bytes);
    m.by_level[r.level] = Number(r.n);
    if (first < m.first_at) m.first_at = first;
    if (last > m.last_at) m.last_at = last;
  }
  return [...months.values()].map(({ bytes, ...m }) => ({
    ...m, total_size_mb: Math.round(bytes / 1024 / 10.24) / 100, first_at: m.first_at.toISOString(), last_at: m.last_at.toISOString(),
  }));
}

// Retention is a cheap indexed delete; hourly keeps the table within a day of the configured age.
const RETENTION_SWEEP_MS = 3600_000;

/** Applies retention at start and hourly; returns the stop function. */
export function startSystemLogRetention(deps: ServerDeps): () => void {
  const run = () => {
    applyRetention(deps.database.db, deps.config.MOFSIM_SYSTEM_LOG_RETENTION_DAYS).then((r) => {
      if (r.deleted) deps.logger.info('system log retention', { deleted: r.deleted, cutoff: r.cutoff });
      if (r.errors.length) deps.logger.warn('system log retention failed', { errors: r.errors });
    }, () => {});
  };
  run();
  const timer = setInterval(run, RETENTION_SWEEP_MS);
  timer.unref();
  return () => clearInterval(timer);
}

export type SystemLogListener = (row: SystemLogRow) => void;

/** New system log entries, pushed from Postgres NOTIFY to this process's subscribers. */
export class SystemLogFeed {
  private readonly listeners = new Set<SystemLogListener>();
  private listening?: Promise<unknown>;
  // Highest id handed out: after the listener connection comes back, what was written meanwhile is fetched.
  private lastId = 0;
  private connected = false;

  constructor(private readonly database: Database, private readonly logger: Logger) {}

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Subscribes to every new entry; resolves (with the unsubscribe function) once LISTEN is active. */
  async subscribe(fn: SystemLogListener): Promise<() => void> {
    this.listening ??= this.database.sql.listen(SYSTEM_LOGS_CHANNEL, (payload) => { void this.dispatch(payload); }, () => {
      if (this.connected && this.lastId) void this.catchUp();
      this.connected = true;
    }).catch((err) => { this.listening = undefined; throw err; });
    await this.listening;
    this.listeners.add(fn);
    return () => { this.listeners.delete(fn); };
  }

  private async dispatch(payload: string): Promise<void> {
    try {
      const ids = (JSON.parse(payload) as unknown[]).map(Number).filter(Number.isSafeInteger);
      if (!this.listeners.size || !ids.length) return;
      this.deliver(await this.database.db.select().from(systemLogs).where(inArray(systemLogs.id, ids)).orderBy(asc(systemLogs.id)));
    } catch (err) {
      this.logger.warn('bad system log notification', { error: String(err) });
    }
  }

  private async catchUp(): Promise<void> {
    try {
      if (this.listeners.size) this.deliver(await systemLogsAfter(this.database.db, this.lastId, {}));
    } catch (err) {
      this.logger.warn('system log catch-up failed', { error: String(err) });
    }
  }

  private deliver(rows: SystemLogRow[]): void {
    for (const row of rows) {
      this.lastId = Math.max(this.lastId, row.id);
      for (const fn of this.listeners) {
        try { fn(row); } catch (err) { this.logger.warn('system log listener failed', { error: String(err) }); }
      }
    }
  }
}
