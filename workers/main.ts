/** `npm run worker`: one worker process (the stack starts one per GPU, or a CPU worker). */
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { startWorker } from './worker.js';

const config = loadConfig();
const logger = createLogger('worker', config.MOFSIM_LOG_LEVEL);
const handle = await startWorker(config, logger, { gpuIndex: config.MOFSIM_GPU_INDEX ?? null });
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    logger.info('draining worker', { signal: sig });
    handle.drain().then(() => process.exit(0), (err) => {
      logger.error('drain failed', { error: String((err as Error)?.stack ?? err) });
      process.exit(1);
    });
  });
}
// A remote drain also ends here; exit 0 tells `npm start` not to restart a worker that was asked to stop.
await handle.done;
process.exit(0);
