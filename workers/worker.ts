/**
 * One worker process: a Temporal worker on the control queue (workflows + bookkeeping) and one on the engine
 * queue, with the engine process it supervises (pinned to one GPU via CUDA_VISIBLE_DEVICES, or the CPU).
 */
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot, type Config } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import { openDatabase } from '../server/db/client.js';
import { createControlActivities } from './control-activities.js';
import { createEngineActivities } from './engine-activities.js';
import { EngineSupervisor } from './engine-supervisor.js';

export interface WorkerHandle {
  engine: EngineSupervisor;
  /** Resolves when both Temporal workers have stopped. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

const require = createRequire(import.meta.url);

/** Starts a worker; `gpuIndex` null means a CPU worker. */
export async function startWorker(config: Config, logger: Logger, opts: { gpuIndex?: number | null } = {}): Promise<WorkerHandle> {
  const gpu = opts.gpuIndex ?? null;
  const log = logger.child({ worker_id: config.MOFSIM_WORKER_ID, gpu });
  installRuntimeLogger(log, config.MOFSIM_LOG_LEVEL);
  const database = openDatabase(config.DATABASE_URL, 5);
  const engine = new EngineSupervisor({
    python: config.MOFSIM_PYTHON,
    logger: log.child({ component: 'engine' }),
    env: {
      MOFSIM_DEVICE: config.MOFSIM_DEVICE ?? (gpu === null ? 'cpu' : 'cuda'),
      ...(gpu === null ? {} : { CUDA_VISIBLE_DEVICES: String(gpu) }),
      MOFSIM_DATA_DIR: join(repoRoot, 'data', 'mofsimbench'),
      ...(config.MOFSIM_GIT_SHA ? { MOFSIM_GIT_SHA: config.MOFSIM_GIT_SHA } : {}),
    },
  }, log);
  // Warm the engine now so the first task does not pay the start-up.
  engine.get().catch((err) => log.error('engine failed to start', { error: String(err) }));

  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const control = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.MOFSIM_TASK_QUEUE,
    workflowsPath: require.resolve(join(repoRoot, 'workflows', 'index.ts')),
    activities: createControlActivities({ db: database.db }),
  });
  const engineWorker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.MOFSIM_ENGINE_QUEUE,
    activities: createEngineActivities({
      db: database.db, engine, dataDir: config.MOFSIM_DATA_DIR, workerId: config.MOFSIM_WORKER_ID, logger: log,
    }),
    maxConcurrentActivityTaskExecutions: config.MOFSIM_ENGINE_MAX_JOBS,
    // Checkpoint references travel in heartbeats: send them promptly rather than the default ~1 min throttle.
    maxHeartbeatThrottleInterval: '2 seconds',
    // Let running jobs finish or checkpoint on SIGTERM before the engine is stopped.
    shutdownGraceTime: '30 seconds',
  });
  const done = Promise.all([control.run(), engineWorker.run()]).then(async () => {
    await engine.stop();
    await database.close();
    await connection.close();
  });
  log.info('worker started', { control_queue: config.MOFSIM_TASK_QUEUE, engine_queue: config.MOFSIM_ENGINE_QUEUE });
  return {
    engine,
    done,
    async shutdown() {
      control.shutdown();
      engineWorker.shutdown();
      await done;
    },
  };
}

let runtimeInstalled = false;
// The Temporal runtime logs through ours (JSON, our level) instead of printing multi-line INFO records.
function installRuntimeLogger(log: Logger, level: Config['MOFSIM_LOG_LEVEL']): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const temporalLevel = ({ debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' } as const)[level] as LogLevel;
  const t = log.child({ component: 'temporal' });
  try {
    Runtime.install({
      logger: new DefaultLogger(temporalLevel, (e) => {
        const fields = { ...(e.meta ?? {}) } as Record<string, unknown>;
        if (e.level === 'ERROR') t.error(e.message, fields);
        else if (e.level === 'WARN') t.warn(e.message, fields);
        else if (e.level === 'INFO') t.info(e.message, fields);
        else t.debug(e.message, fields);
      }),
    });
  } catch {
    // Already installed by the host process (e.g. a test harness): keep its logger.
  }
}
