/** `npm run worker`: one worker process (the stack starts one per GPU, or a CPU worker). */
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { startWorker } from './worker.js';

const config = loadConfig();
const logger = createLogger('worker', config.MOFSIM_LOG_LEVEL);
const handle = await startWorker(config, logger, { gpuIndex: config.MOFSIM_GPU_INDEX ?? null });
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    logger.info('stopping worker', { signal: sig });
    handle.shutdown().then(() => process.exit(0), () => process.exit(1));
  });
}
await handle.done;
