/** `npm run server`: the API process. */
import { Client, Connection } from '@temporalio/client';
import { join } from 'node:path';
import { loadConfig, repoRoot } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { gitSha } from '../common/git-sha.js';
import { EngineSupervisor } from '../engine-host/engine-supervisor.js';
import { startAlerting } from './alerting/alerting.js';
import { createApp, listenApi } from './app.js';
import { migrateDatabase, openDatabase } from '../store/client.js';
import { ensureReferenceScores } from '../scoring/leaderboard.js';
import { SystemLog } from '../store/system-logs.js';
import { attachLiveSocket } from './live-socket.js';
import { LiveEvents } from './services/live-events.js';
import { VERSION } from './services/system.js';
import { startSystemLogRetention } from './services/system-logs.js';
import { startWebhookDispatch } from './services/webhooks.js';
import { startFleetSample } from '../metrics/fleet-sample.js';
import { ensureReadOnlyRole } from '../store/readonly-role.js';
import { onShutdownSignal } from '../common/shutdown-signals.js';

const config = loadConfig();
const logger = createLogger('api', config.MOFSIM_LOG_LEVEL);
await migrateDatabase(config.DATABASE_URL);
const database = openDatabase(config.DATABASE_URL);
if (config.MOFSIM_GRAFANA_DB_PASSWORD) await ensureReadOnlyRole(database.sql, config.MOFSIM_GRAFANA_DB_USER, config.MOFSIM_GRAFANA_DB_PASSWORD);
const systemLog = new SystemLog(database.db, 'api', logger);
// The classical baselines' leaderboard rows, for Grafana before anyone asks the API.
ensureReferenceScores(database.db).catch((err) => logger.warn('reference scores not stored', { err: String(err) }));
const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
const engine = new EngineSupervisor({
  python: config.MOFSIM_PYTHON,
  logger: logger.child({ component: 'parser-engine' }),
  env: { MOFSIM_DEVICE: 'cpu', MOFSIM_DATA_DIR: join(repoRoot, 'data', 'mofsimbench') },
}, logger, systemLog);
engine.get().catch((err) => logger.error('parser engine failed to start', { error: String(err) }));

const liveEvents = new LiveEvents(database, logger);
await liveEvents.start();
const deps = { config, database, engine, temporal, logger, startedAt: new Date(), liveEvents, systemLog };
const stopWebhookSweep = startWebhookDispatch(deps);
const stopRetention = startSystemLogRetention(deps);
const stopFleetSample = startFleetSample({
  database, dataDir: config.MOFSIM_DATA_DIR, staleSeconds: config.MOFSIM_WORKER_STALE_S, intervalSeconds: config.MOFSIM_METRICS_SAMPLE_S, logger,
});
const app = createApp(deps);
const server = await listenApi(app, config.PORT, config.HOST);
systemLog.info('lifecycle', 'api started', { extra: { version: VERSION, port: config.PORT, pid: process.pid, git_sha: config.MOFSIM_GIT_SHA ?? gitSha() } });
attachLiveSocket(server, deps);
// In the background: bundling the alert worker's workflows takes seconds and must not delay the first request.
const alerting = startAlerting(deps).catch((err) => {
  logger.error('alerting failed to start', { error: String((err as Error)?.stack ?? err) });
  return async () => {};
});
onShutdownSignal((sig) => {
  stopWebhookSweep();
  stopRetention();
  stopFleetSample();
  server.close();
  systemLog.info('lifecycle', 'api stopping', { extra: { signal: sig, pid: process.pid } });
  void Promise.allSettled([engine.stop(), alerting.then((stop) => stop()), systemLog.flush()])
    .then(() => Promise.allSettled([database.close(), connection.close()]))
    .then(() => process.exit(0));
});
