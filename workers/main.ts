/**
 * `npm run worker` (`mofsim worker`): with MOFSIM_GPU_INDEX set (as `npm start` does), one worker for that GPU;
 * otherwise one worker per GPU that nvidia-smi lists, in this process, or one CPU worker when there is none.
 * The process serves `/metrics` on MOFSIM_WORKER_METRICS_PORT: its workers' metrics and the Temporal SDK's.
 */
import { hostname } from 'node:os';
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { discoverGpus } from './gpu-discovery.js';
import { addExpositionSource } from '../metrics/exposition.js';
import { startMetricsServer } from '../metrics/metrics-server.js';
import { freePort } from '../common/free-port.js';
import { installTemporalRuntime, startWorker } from './worker.js';
import { onShutdownSignal } from '../common/shutdown-signals.js';

const config = loadConfig();
const logger = createLogger('worker', config.MOFSIM_LOG_LEVEL);
// The SDK's exporter listens on loopback only; the metrics port below appends its text, so one scrape target per
// worker process carries both.
const temporalMetrics = `127.0.0.1:${await freePort()}`;
installTemporalRuntime(logger, config.MOFSIM_LOG_LEVEL, { prometheusAddress: temporalMetrics });
addExpositionSource(async () => {
  const res = await fetch(`http://${temporalMetrics}/metrics`, { signal: AbortSignal.timeout(2000) });
  return res.ok ? res.text() : '';
});
// A taken port costs the metrics, not the worker: its jobs matter more than its numbers.
await startMetricsServer(config.MOFSIM_WORKER_METRICS_HOST, config.MOFSIM_WORKER_METRICS_PORT).then(
  (m) => logger.info('metrics listening', { host: config.MOFSIM_WORKER_METRICS_HOST, port: m.port }),
  (err) => logger.error('metrics port unavailable; serving no metrics', { port: config.MOFSIM_WORKER_METRICS_PORT, error: String((err as Error)?.message ?? err) }),
);
const gpus = config.MOFSIM_GPU_INDEX !== undefined ? [config.MOFSIM_GPU_INDEX] : (await discoverGpus(config.MOFSIM_NVIDIA_SMI)).map((g) => g.index);
const handles = gpus.length
  ? await Promise.all(gpus.map((gpu) => startWorker(
    // An explicit worker id names a single worker; several GPUs in one process get one id each.
    gpus.length === 1 ? config : { ...config, MOFSIM_WORKER_ID: `${hostname()}-gpu${gpu}` }, logger, { gpuIndex: gpu })))
  : [await startWorker(config, logger, { gpuIndex: null })];
onShutdownSignal((sig) => {
  logger.info('draining worker', { signal: sig });
  Promise.all(handles.map((h) => h.drain(sig))).then(() => process.exit(0), (err) => {
    logger.error('drain failed', { error: String((err as Error)?.stack ?? err) });
    process.exit(1);
  });
});
// A remote drain also ends here; exit 0 tells `npm start` not to restart a worker that was asked to stop.
await Promise.all(handles.map((h) => h.done));
process.exit(0);
