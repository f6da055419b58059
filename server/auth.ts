/**
 * Authentication and abuse limits: API keys from `Authorization: Bearer` or `X-API-Key`, per-key request rate
 * limits and per-IP brute-force protection. The counters live in this process (one API process per deployment
 * today; several would each enforce their own share).
 */
import type { NextFunction, Request, Response } from 'express';
import type { ServerDeps } from './deps.js';
import { forbidden, invalidKey, rateLimited, tooManyAuthFailures, unauthorized } from './errors.js';
import { actorOf, findKey, touchKey, type Actor } from './services/keys.js';

/** Paths answered without a key (probes). */
const PUBLIC = new Set(['/health', '/api/v1/health', '/api/v1/system/readiness']);

class WindowCounter {
  private windows = new Map<string, { start: number; count: number }>();
  constructor(private readonly windowMs: number) {}
  /** Counts one hit; returns the count in the current window and the ms until it ends. */
  hit(key: string, now = Date.now()): { count: number; resetMs: number } {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) { w = { start: now, count: 0 }; this.windows.set(key, w); }
    w.count += 1;
    if (this.windows.size > 100_000) this.prune(now);
    return { count: w.count, resetMs: w.start + this.windowMs - now };
  }
  peek(key: string, now = Date.now()): { count: number; resetMs: number } {
    const w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) return { count: 0, resetMs: 0 };
    return { count: w.count, resetMs: w.start + this.windowMs - now };
  }
  private prune(now: number) {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
  }
}

/** The presented key, if any. */
function presentedKey(req: Request): string | undefined {
  const auth = req.get('Authorization');
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1] ?? '';
  }
  const x = req.get('X-API-Key');
  return x === undefined ? undefined : x.trim();
}

/** The middleware: sets `res.locals.actor` or answers 401/429. */
export function authenticate(deps: ServerDeps) {
  const failures = new WindowCounter(deps.config.MOFSIM_AUTH_FAIL_WINDOW_S * 1000);
  const requests = new WindowCounter(60_000);
  const touched = new Map<string, number>();
  return async (req: Request, res: Response, next: NextFunction) => {
    if (PUBLIC.has(req.path) || req.path === '/metrics') return next();
    const ip = req.ip ?? 'unknown';
    const blocked = failures.peek(ip);
    if (blocked.count >= deps.config.MOFSIM_AUTH_FAIL_LIMIT) throw tooManyAuthFailures(blocked.resetMs / 1000);
    const key = presentedKey(req);
    if (key === undefined) throw unauthorized();
    const row = key.length >= 8 && key.length <= 512 ? await findKey(deps.database.db, key) : undefined;
    if (!row) {
      const f = failures.hit(ip);
      // Never log the presented key; the IP and the count are enough to investigate.
      deps.logger.warn('authentication failed', { request_id: res.locals.requestId, ip, failures: f.count });
      throw invalidKey();
    }
    const actor = actorOf(row);
    const r = requests.hit(actor.keyId);
    res.setHeader('X-RateLimit-Limit', String(actor.rateLimitPerMinute));
    res.setHeader('X-RateLimit-Remaining', String(Math.max(0, actor.rateLimitPerMinute - r.count)));
    if (r.count > actor.rateLimitPerMinute) throw rateLimited(r.resetMs / 1000, `rate limit of ${actor.rateLimitPerMinute} requests per minute exceeded`);
    const now = Date.now();
    if ((touched.get(actor.keyId) ?? 0) < now - 60_000) {
      touched.set(actor.keyId, now);
      touchKey(deps.database.db, actor.keyId).catch(() => {});
    }
    res.locals.actor = actor;
    next();
  };
}

/** The caller, set by `authenticate`. */
export function actorOfResponse(res: Response): Actor {
  const a = res.locals.actor as Actor | undefined;
  if (!a) throw unauthorized();
  return a;
}

/** Route guard for admin-only endpoints. */
export function requireAdmin(_req: Request, res: Response, next: NextFunction) {
  if (actorOfResponse(res).role !== 'admin') throw forbidden();
  next();
}
