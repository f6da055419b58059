/** /api/v1/system: readiness, queue statistics, configuration, stats, system logs. (GPUs and workers: the scheduling work.) */
import { Router, type Request, type Response } from 'express';
import { requireAdmin } from '../auth.js';
import type { SystemLogRow } from '../../store/schema.js';
import type { SystemLogLevel } from '../../store/system-logs.js';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { invalidParameter, unavailable } from '../errors.js';
import { queueStats, systemConfig, systemStats } from '../services/system.js';
import {
  applyRetention, listSystemLogs, matches, SystemLogFeed, systemLogMonths, systemLogsAfter, systemLogStats, systemLogToApi,
  type SystemLogFilter,
} from '../services/system-logs.js';

async function answers(fn: () => Promise<unknown>, ms = 2000): Promise<boolean> {
  try {
    await Promise.race([fn(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms).unref())]);
    return true;
  } catch { return false; }
}

export function systemRouter(deps: ServerDeps): Router {
  const r = Router();
  // Ready = can accept a submission: the database and Temporal answer (the parser engine starts lazily).
  r.get('/readiness', async (_req, res) => {
    const checks = {
      database: await answers(() => deps.database.sql`select 1`),
      temporal: await answers(() => deps.temporal.workflowService.getSystemInfo({})),
    };
    const failing = Object.entries(checks).filter(([, ok]) => !ok).map(([k]) => k);
    if (failing.length) throw unavailable('NOT_READY', `not ready: ${failing.join(', ')} not answering`);
    sendData(res, { status: 'ready', checks });
  });
  r.get('/queue', async (_req, res) => sendData(res, await queueStats(deps)));
  r.get('/stats', async (_req, res) => sendData(res, await systemStats(deps)));
  r.get('/config', async (_req, res) => sendData(res, await systemConfig(deps)));

  // System logs (admin). The spec validates every query parameter (an unknown level is a 400 naming `level`).
  const feed = new SystemLogFeed(deps.database, deps.logger);
  r.get('/logs', requireAdmin, async (req, res) => {
    const q = req.query;
    const logs = (await listSystemLogs(deps.database.db, {
      ...filterOf(req), since: str(q.since), until: str(q.until),
      beforeId: q.before_id === undefined ? undefined : Number(q.before_id), limit: Number(q.limit ?? 100),
    })).map(systemLogToApi);
    sendData(res, { logs, count: logs.length, order: 'newest_first' });
  });
  r.get('/logs/stream', requireAdmin, async (req, res) => {
    // The spec's checks cover both already; this guards the conversion (the header wins, as in the spec).
    const header = req.get('Last-Event-ID');
    const raw = header ?? str(req.query.after_id);
    const after = raw === undefined ? undefined : Number(raw);
    if (after !== undefined && !(Number.isSafeInteger(after) && after >= 0)) {
      throw invalidParameter(`${header !== undefined ? 'Last-Event-ID' : 'after_id'} must be a non-negative integer (got ${raw})`, header !== undefined ? 'Last-Event-ID' : 'after_id');
    }
    await streamSystemLogs(deps, feed, filterOf(req), after, res);
  });
  r.get('/logs/stats', requireAdmin, async (_req, res) => sendData(res, await systemLogStats(deps, feed.subscribers)));
  r.post('/logs/archive', requireAdmin, async (_req, res) => {
    const result = await applyRetention(deps.database.db, deps.config.MOFSIM_SYSTEM_LOG_RETENTION_DAYS);
    deps.systemLog.info('system-logs', 'system log retention applied on request', {
      requestId: res.locals.requestId, extra: { deleted: result.deleted, cutoff: result.cutoff, errors: result.errors },
    });
    sendData(res, result, 200, `deleted ${result.deleted} entries older than ${result.retention_days} days`);
  });
  r.get('/logs/archives', requireAdmin, async (_req, res) => {
    sendData(res, { archives: await systemLogMonths(deps.database.db), retention_days: deps.config.MOFSIM_SYSTEM_LOG_RETENTION_DAYS });
  });
  return r;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

function filterOf(req: Request): SystemLogFilter {
  const q = req.query;
  return { level: str(q.level) as SystemLogLevel | undefined, source: str(q.source), workerId: str(q.worker_id), taskId: str(q.task_id) };
}

/**
 * Server-sent events: with Last-Event-ID (or `after_id`) the stored entries after it first, then new ones as they
 * are written; `id:` is the entry id, frames carry no `event:` name (as the reference's), a comment line goes out
 * after MOFSIM_SSE_HEARTBEAT_S of silence. The stream lasts until the client leaves.
 */
async function streamSystemLogs(deps: ServerDeps, feed: SystemLogFeed, filter: SystemLogFilter, after: number | undefined, res: Response): Promise<void> {
  let replaying = after !== undefined;
  const buffered: SystemLogRow[] = [];
  // Ids already sent (entries from several processes may arrive out of id order); the oldest are forgotten.
  const seen = new Set<number>();
  let ended = false;
  let lastWrite = Date.now();
  const send = (chunk: string) => { lastWrite = Date.now(); res.write(chunk); };
  const write = (row: SystemLogRow) => {
    if (ended || seen.has(row.id) || !matches(filter, row)) return;
    seen.add(row.id);
    if (seen.size > 10_000) seen.delete(seen.values().next().value!);
    send(`id: ${row.id}\ndata: ${JSON.stringify(systemLogToApi(row))}\n\n`);
  };
  const off = await feed.subscribe((row) => (replaying ? buffered.push(row) : write(row)));
  res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  res.flushHeaders();
  const heartbeatMs = deps.config.MOFSIM_SSE_HEARTBEAT_S * 1000;
  const beat = setInterval(() => { if (Date.now() - lastWrite >= heartbeatMs) send(': heartbeat\n\n'); }, Math.min(heartbeatMs, 1000));
  // res, not req: a request's 'close' fires once its (empty) body is read, the response's when the client leaves.
  res.on('close', () => { ended = true; off(); clearInterval(beat); });
  if (after === undefined) return;
  try {
    for (const row of await systemLogsAfter(deps.database.db, after, filter)) write(row);
  } catch (err) {
    // The headers are out: the client learns of the failure by the stream ending, and reconnects.
    deps.logger.warn('system log replay failed', { error: String(err) });
    res.end();
    return;
  }
  replaying = false;
  for (const row of buffered.sort((a, b) => a.id - b.id)) write(row);
  buffered.length = 0;
}
