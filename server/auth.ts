/**
 * Authentication and abuse limits: API keys from `Authorization: Bearer` or `X-API-Key`, per-key request rate
 * limits and per-address brute-force protection. The counters live in Postgres (server/rate-limits.ts), so every
 * API process of a deployment enforces the same limit rather than each its own share.
 */
import type { NextFunction, Request, Response } from 'express';
import type { ServerDeps } from './deps.js';
import { forbidden, invalidKey, rateLimited, tooManyAuthFailures, unauthorized } from './errors.js';
import { admitRequest, hitWindow, pruneWindows } from './rate-limits.js';
import { actorOf, hashKey, touchKey, type Actor } from './services/keys.js';

/** Paths answered without a key (probes). */
const PUBLIC = new Set(['/health', '/api/v1/health', '/api/v1/system/readiness']);

const REQUEST_WINDOW_S = 60;
// How often this process deletes counter rows whose window has long ended, ms.
const PRUNE_EVERY_MS = 5 * 60_000;

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
  const { db } = deps.database;
  const failWindowS = deps.config.MOFSIM_AUTH_FAIL_WINDOW_S;
  const failLimit = deps.config.MOFSIM_AUTH_FAIL_LIMIT;
  const touched = new Map<string, number>();
  let lastPrune = Date.now();
  return async (req: Request, res: Response, next: NextFunction) => {
    if (PUBLIC.has(req.path) || req.path === '/metrics') return next();
    if (Date.now() - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = Date.now();
      pruneWindows(db, Math.max(REQUEST_WINDOW_S, failWindowS)).catch(() => {});
    }
    const ip = req.ip ?? 'unknown';
    const key = presentedKey(req);
    const keyHash = key !== undefined && key.length >= 8 && key.length <= 512 ? hashKey(key) : null;
    // One round trip: the address's failures, the key's row, and (for a live key) this request counted.
    const { row, failures, requests } = await admitRequest(deps.database.sql, { address: ip, keyHash, failWindowS, failLimit, requestWindowS: REQUEST_WINDOW_S });
    if (failures.count >= failLimit) throw tooManyAuthFailures(failures.resetSeconds);
    if (key === undefined) throw unauthorized();
    if (!row || row.keyHash !== keyHash) {
      const f = await hitWindow(db, `auth:${ip}`, failWindowS);
      // Never log the presented key; the IP and the count are enough to investigate.
      deps.logger.warn('authentication failed', { request_id: res.locals.requestId, ip, failures: f.count });
      if (f.count === failLimit) {
        deps.systemLog.warning('auth', 'address blocked after repeated failed authentications', {
          requestId: res.locals.requestId, extra: { ip, failures: f.count, blocked_for_s: Math.round(f.resetSeconds) },
        });
      }
      throw invalidKey();
    }
    const actor = actorOf(row);
    if (requests) {
      res.setHeader('X-RateLimit-Limit', String(actor.rateLimitPerMinute));
      res.setHeader('X-RateLimit-Remaining', String(Math.max(0, actor.rateLimitPerMinute - requests.count)));
      if (requests.count > actor.rateLimitPerMinute) throw rateLimited(requests.resetSeconds, `rate limit of ${actor.rateLimitPerMinute} requests per minute exceeded`);
    }
    const now = Date.now();
    if ((touched.get(actor.keyId) ?? 0) < now - 60_000) {
      touched.set(actor.keyId, now);
      touchKey(db, actor.keyId).catch(() => {});
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
