/**
 * Window counters in Postgres (`rate_limit_windows`), shared by every API process: a key's request rate and an
 * address's failed authentications hold however many API processes serve them.
 *
 * One row per counted subject; its window starts at the subject's first hit and lasts `windowS` (the semantics of
 * the in-process counters these replace), so a hit is one upsert — `INSERT … ON CONFLICT DO UPDATE … RETURNING` —
 * and concurrent hits from several processes serialise on the row. The table is UNLOGGED (migration 0006): no WAL,
 * no fsync per request; a crash merely resets the windows. An authenticated request pays no extra round trip:
 * `admitRequest` looks the key up, reads the address's failures and counts the key's request in one statement.
 */
import { getTableColumns, sql } from 'drizzle-orm';
import type postgres from 'postgres';
import type { Db } from '../store/client.js';
import { apiKeys, rateLimitWindows as w, type ApiKeyRow } from '../store/schema.js';

/** A subject's count in its current window and the seconds until the window ends (0 when there is none). */
export interface WindowCount {
  count: number;
  resetSeconds: number;
}

const resetSeconds = (windowS: number) =>
  sql<number>`greatest(0, extract(epoch from (${w.windowStart} + make_interval(secs => ${windowS}::float8) - now())))::float8`;

/** Counts one hit for `key` in a window of `windowS` seconds; returns the count including this hit. */
export async function hitWindow(db: Db, key: string, windowS: number): Promise<WindowCount> {
  const ended = sql`${w.windowStart} <= now() - make_interval(secs => ${windowS}::float8)`;
  const [row] = await db.insert(w).values({ key, windowStart: sql`now()`, count: 1 })
    .onConflictDoUpdate({
      target: w.key,
      set: {
        windowStart: sql`case when ${ended} then now() else ${w.windowStart} end`,
        count: sql`case when ${ended} then 1 else ${w.count} + 1 end`,
      },
    })
    .returning({ count: w.count, resetSeconds: resetSeconds(windowS) });
  return { count: row!.count, resetSeconds: Number(row!.resetSeconds) };
}

/** Deletes the rows whose window started more than `olderThanS` seconds ago (the longest window in use); returns how many. */
export async function pruneWindows(db: Db, olderThanS: number): Promise<number> {
  const rows = await db.delete(w).where(sql`${w.windowStart} < now() - make_interval(secs => ${olderThanS}::float8)`).returning({ key: w.key });
  return rows.length;
}

/** What `admitRequest` found: the key's row (if the key is live), the address's failures, the key's requests. */
export interface Admission {
  row?: ApiKeyRow;
  failures: WindowCount;
  /** Undefined when nothing was counted (no live key, or the address is blocked). */
  requests?: WindowCount;
}

const keyColumns = Object.entries(getTableColumns(apiKeys));

/**
 * One statement for a request's authentication: reads `address`'s failed authentications, looks up the live key
 * with SHA-256 `keyHash` (null: none presented), and — when there is one and the address is not blocked — counts
 * the request in the key's window (`key:<id>`, `requestWindowS`).
 *
 * Written for postgres.js rather than drizzle: postgres.js prepares and caches the statement, drizzle prepares only
 * named statements, and parsing and planning this CTE anew costs more than running it (≈0.5 ms against ≈0.2 ms).
 */
export async function admitRequest(sql: postgres.Sql, o: {
  address: string; keyHash: string | null; failWindowS: number; failLimit: number; requestWindowS: number;
}): Promise<Admission> {
  const [r] = await sql<Record<string, unknown>[]>`
    with blocked as (
      select count as n, greatest(0, extract(epoch from (window_start + make_interval(secs => ${o.failWindowS}::float8) - now())))::float8 as reset_s
      from rate_limit_windows
      where key = ${`auth:${o.address}`} and window_start > now() - make_interval(secs => ${o.failWindowS}::float8)
    ), found as (
      select * from api_keys where key_hash = ${o.keyHash} and revoked_at is null
    ), hit as (
      insert into rate_limit_windows as w (key, window_start, count)
      select 'key:' || found.id, now(), 1 from found where coalesce((select n from blocked), 0) < ${o.failLimit}
      on conflict (key) do update set
        window_start = case when w.window_start <= now() - make_interval(secs => ${o.requestWindowS}::float8) then now() else w.window_start end,
        count = case when w.window_start <= now() - make_interval(secs => ${o.requestWindowS}::float8) then 1 else w.count + 1 end
      returning w.count as n, greatest(0, extract(epoch from (w.window_start + make_interval(secs => ${o.requestWindowS}::float8) - now())))::float8 as reset_s
    )
    select found.*, (select n from blocked) as rl_failures, (select reset_s from blocked) as rl_failures_reset_s,
           hit.n as rl_requests, hit.reset_s as rl_requests_reset_s
    from (select 1) one left join found on true left join hit on true`;
  const failures = { count: Number(r?.rl_failures ?? 0), resetSeconds: Number(r?.rl_failures_reset_s ?? 0) };
  if (!r || r.id === null || r.id === undefined) return { failures };
  // The row's columns as drizzle maps them (dates, JSON), whatever columns the table has.
  const row = Object.fromEntries(keyColumns.map(([prop, col]) => {
    const v = r[col.name];
    return [prop, v === null || v === undefined ? null : v instanceof Date ? v : col.mapFromDriverValue(v)];
  })) as ApiKeyRow;
  const requests = r.rl_requests === null || r.rl_requests === undefined
    ? undefined : { count: Number(r.rl_requests), resetSeconds: Number(r.rl_requests_reset_s) };
  return { row, failures, requests };
}
