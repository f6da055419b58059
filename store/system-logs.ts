/**
 * Writing system log entries (`system_logs`), shared by the API and worker processes, plus a Postgres NOTIFY so API
 * processes can push new entries to live streams.
 *
 * What is written: notable operational events at INFO and above, each at its call site — process start and stop,
 * workers going online, draining, offline or silent, engine crashes and restarts, out-of-memory jobs, jobs handed
 * back or preempted, key creation and revocation, other admin actions (and what each worker made of a model
 * load/unload), webhook deliveries given up, and 5xx answers.
 * Why not every process log line: request lines and progress dominate the JSON logs (hundreds a second under load);
 * as rows they would cost a write per request and bury the few events an operator looks for. The JSON logs on
 * stderr stay the complete record; this table is the short, queryable one.
 *
 * Writes are cheap for the caller: `record` queues the entry and returns; a flush (next tick) inserts everything
 * queued in one statement. Nothing here throws into the caller: a failed insert is reported on stderr and dropped.
 */
import { sql } from 'drizzle-orm';
import type { Logger } from '../common/logger.js';
import type { Db } from './client.js';
import { systemLogs } from './schema.js';

/** The NOTIFY channel; the payload is a JSON array of new entry ids (clients fetch the rows). */
export const SYSTEM_LOGS_CHANNEL = 'mofsim_system_logs';

/** Levels, lowest first (a level filter is a minimum). */
export const SYSTEM_LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type SystemLogLevel = (typeof SYSTEM_LOG_LEVELS)[number];

/** The levels at or above `min`. */
export function levelsFrom(min: SystemLogLevel): SystemLogLevel[] {
  return SYSTEM_LOG_LEVELS.slice(SYSTEM_LOG_LEVELS.indexOf(min));
}

/** What a call site knows about one event besides its level, component and message. */
export interface SystemLogFields {
  workerId?: string | null;
  taskId?: string | null;
  requestId?: string | null;
  /** Structured details; secrets are redacted (see `redact`). */
  extra?: Record<string, unknown>;
}

type NewRow = typeof systemLogs.$inferInsert;

// Queued entries beyond this are dropped (a database outage must not grow the process without bound).
const MAX_QUEUED = 1000;
// The same (level, component, message) at most this many times per minute per process: a storm of one failure
// (e.g. every request answering 503) leaves a few rows and a count, not thousands of rows.
const SAME_PER_MINUTE = 10;
const MAX_MESSAGE = 2000;
const MAX_EXTRA_JSON = 8000;

const SECRET_NAME = /(secret|password|passwd|token|authorization|cookie|api[_-]?key$|^key$)/i;
// An API key (`msk_<8 hex>_<secret>`): the public prefix may be logged, the rest never.
const API_KEY = /\b(msk_[0-9a-f]{8})_[A-Za-z0-9_-]{8,}/g;

// Control characters (NUL, ANSI escapes, C1) are written as \uXXXX: NUL cannot be stored in a text column, and an
// escape sequence must not reach an operator's terminal verbatim. Tab and line feed stay (stack traces).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
function escapeControls(s: string): string {
  return s.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A copy of `value` with secret-named fields and API key material replaced (depth-limited). */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return escapeControls(value.replace(API_KEY, '$1_[redacted]'));
  if (value === null || typeof value !== 'object') return value;
  if (depth > 5) return '[nested]';
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[escapeControls(k)] = SECRET_NAME.test(k) && v !== null && v !== undefined && typeof v !== 'boolean' ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

const stderrMethod = { DEBUG: 'debug', INFO: 'info', WARNING: 'warn', ERROR: 'error', CRITICAL: 'error' } as const;

// One process's queue and connection, shared by its SystemLogs of every source.
class Sink {
  queue: NewRow[] = [];
  dropped = 0;
  private flushing: Promise<void> = Promise.resolve();
  private scheduled = false;
  private readonly recent = new Map<string, { start: number; n: number; suppressed: number }>();

  constructor(private readonly db: Db, private readonly logger: Logger) {}

  push(row: NewRow): void {
    if (this.queue.length >= MAX_QUEUED) { this.dropped += 1; return; }
    this.queue.push(row);
    if (!this.scheduled) {
      this.scheduled = true;
      // Entries recorded in the same tick go in one insert.
      setImmediate(() => { this.scheduled = false; void this.flush(); });
    }
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  // null = suppress this one; otherwise how many were suppressed since the last one written.
  throttle(key: string): number | null {
    const now = Date.now();
    const r = this.recent.get(key);
    if (!r || now - r.start >= 60_000) {
      if (this.recent.size > 1000) this.recent.clear();
      this.recent.set(key, { start: now, n: 1, suppressed: 0 });
      return r?.suppressed ?? 0;
    }
    r.n += 1;
    if (r.n > SAME_PER_MINUTE) { r.suppressed += 1; return null; }
    return 0;
  }

  private async write(): Promise<void> {
    const rows = this.queue.splice(0);
    if (this.dropped) {
      rows.push({ level: 'WARNING', source: rows[0]?.source ?? 'unknown', logger: 'system-log', message: `${this.dropped} system log entries dropped (queue full)`, extra: {} });
      this.dropped = 0;
    }
    if (!rows.length) return;
    try {
      const ids = await this.db.insert(systemLogs).values(rows).returning({ id: systemLogs.id });
      await this.db.execute(sql`select pg_notify(${SYSTEM_LOGS_CHANNEL}, ${JSON.stringify(ids.map((r) => r.id))})`);
    } catch (err) {
      this.logger.warn('system log write failed; entries dropped', { entries: rows.length, error: String(err) });
    }
  }
}

/** The system log of one process: `record` writes an entry to `system_logs` and the same line to the JSON log. */
export class SystemLog {
  private readonly sink: Sink;

  constructor(
    /** The database (or, from `as`, the queue of another SystemLog). */
    db: Db | Sink,
    /** The kind of process: api | worker | scheduler | webhook. */
    readonly source: string,
    private readonly logger: Logger,
    /** Set on every entry (a worker's id). */
    private readonly defaults: { workerId?: string } = {},
  ) {
    this.sink = db instanceof Sink ? db : new Sink(db, logger);
  }

  /** A log for another source that shares this one's queue (e.g. a worker's scheduler activities). */
  as(source: string, defaults: { workerId?: string } = this.defaults): SystemLog {
    return new SystemLog(this.sink, source, this.logger, defaults);
  }

  /** Records one event; returns at once and never throws. */
  record(level: SystemLogLevel, component: string, message: string, fields: SystemLogFields = {}): void {
    try {
      const extra = redact(fields.extra ?? {}) as Record<string, unknown>;
      this.logger[stderrMethod[level]](message, {
        component, source: this.source, ...extra,
        ...(fields.workerId ? { worker_id: fields.workerId } : {}),
        ...(fields.taskId ? { task_id: fields.taskId } : {}),
        ...(fields.requestId ? { request_id: fields.requestId } : {}),
      });
      const suppressed = this.sink.throttle(`${level}|${this.source}|${component}|${message}`);
      if (suppressed === null) return;
      if (suppressed > 0) extra.suppressed_before = suppressed;
      const json = JSON.stringify(extra);
      this.sink.push({
        level, source: this.source, logger: component,
        message: String(redact(message)).slice(0, MAX_MESSAGE),
        workerId: fields.workerId ?? this.defaults.workerId ?? null,
        taskId: fields.taskId ?? null,
        requestId: fields.requestId ?? null,
        extra: json.length > MAX_EXTRA_JSON ? { truncated: true, preview: json.slice(0, MAX_EXTRA_JSON) } : extra,
      });
    } catch {
      // A log call must never break its caller.
    }
  }

  info(component: string, message: string, fields?: SystemLogFields): void { this.record('INFO', component, message, fields); }
  warning(component: string, message: string, fields?: SystemLogFields): void { this.record('WARNING', component, message, fields); }
  error(component: string, message: string, fields?: SystemLogFields): void { this.record('ERROR', component, message, fields); }

  /** Writes everything queued so far (call before closing the database); never rejects. */
  flush(): Promise<void> {
    return this.sink.flush();
  }
}
