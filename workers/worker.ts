/**
 * One worker process: a Temporal worker on the control queue (workflows + bookkeeping), one on the engine queue
 * (jobs) and one on its model queue (loads and unloads asked for through the API), with the engine process it
 * supervises (pinned to one GPU via CUDA_VISIBLE_DEVICES, or the CPU).
 */
import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { repoRoot, type Config } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import { openDatabase } from '../store/client.js';
import { SystemLog } from '../store/system-logs.js';
import { createCampaignActivities } from './campaign-activities.js';
import { recordCampaignScores } from '../scoring/leaderboard.js';
import { createControlActivities } from './control-activities.js';
import { TASK_TYPES, isTaskType } from '../common/task-types.js';
import type { ResolvedRun } from '../store/result-cache.js';
import { createDispatcher, schedulerPolicy } from './dispatcher.js';
import { createEngineActivities, type RunningJob } from './engine-activities.js';
import { EngineSupervisor } from '../engine-host/engine-supervisor.js';
import { discoverGpus } from './gpu-discovery.js';
import { EngineMetrics, type EngineModelStatus } from '../metrics/engine-metrics.js';
import { recordGpu } from '../metrics/gpu-metrics.js';
import { createModelResidencyActivities } from './model-residency-activities.js';
import { workflowCode } from '../common/workflow-bundle.js';
import {
  engineQueueName, heartbeatWorker, modelQueueName, registerWorker, setWorkerStatus, type LoadedModelState, type WorkerIdentity,
} from '../store/worker-registry.js';

export interface WorkerHandle {
  id: string;
  /** This worker's engine task queue. */
  taskQueue: string;
  engine: EngineSupervisor;
  /** Resolves when both Temporal workers have stopped and the worker is offline. */
  done: Promise<void>;
  /** Graceful stop: stop taking work, hand running jobs back (they resume elsewhere from their checkpoints), exit. */
  drain(reason?: string): Promise<void>;
  /** The same as drain (kept for callers that just want the worker gone). */
  shutdown(): Promise<void>;
}

// Without a configured budget a CPU worker admits this much engine memory, MB.
const CPU_MEMORY_BUDGET_MB = 16_000;

const require = createRequire(import.meta.url);

/** Starts a worker; `gpuIndex` null means a CPU worker. */
export async function startWorker(config: Config, logger: Logger, opts: { gpuIndex?: number | null } = {}): Promise<WorkerHandle> {
  const gpu = opts.gpuIndex ?? null;
  const workerId = config.MOFSIM_WORKER_ID;
  const host = hostname();
  const taskQueue = engineQueueName(config.MOFSIM_QUEUE_PREFIX, host, workerId, gpu);
  const log = logger.child({ worker_id: workerId, gpu });
  installRuntimeLogger(log, config.MOFSIM_LOG_LEVEL);
  const database = openDatabase(config.DATABASE_URL, 5);
  const systemLog = new SystemLog(database.db, 'worker', log, { workerId });
  const engine = new EngineSupervisor({
    python: config.MOFSIM_PYTHON,
    logger: log.child({ component: 'engine' }),
    env: {
      MOFSIM_DEVICE: config.MOFSIM_DEVICE ?? (gpu === null ? 'cpu' : 'cuda'),
      ...(gpu === null ? {} : { CUDA_VISIBLE_DEVICES: String(gpu) }),
      MOFSIM_DATA_DIR: join(repoRoot, 'data', 'mofsimbench'),
      ...(config.MOFSIM_GIT_SHA ? { MOFSIM_GIT_SHA: config.MOFSIM_GIT_SHA } : {}),
    },
  }, log, systemLog);
  const engineMetrics = new EngineMetrics(workerId);
  let restartsCounted = 0;
  // Warm the engine now so the first task does not pay the start-up; its model list sizes admission.
  const modelMemory: Record<string, number> = {};
  try {
    const listed = await (await engine.get()).request<{ models: { id: string; memory_per_atom_MB?: number }[] }>('models');
    for (const m of listed.models) if (typeof m.memory_per_atom_MB === 'number') modelMemory[m.id] = m.memory_per_atom_MB;
  } catch {
    // Recorded by the supervisor (system log); the worker still registers and the engine restarts on demand.
  }
  const gpuInfo = gpu === null ? undefined : (await discoverGpus(config.MOFSIM_NVIDIA_SMI)).find((g) => g.index === gpu);
  const identity: WorkerIdentity = {
    id: workerId,
    hostname: host,
    pid: process.pid,
    device: config.MOFSIM_DEVICE ?? (gpu === null ? 'cpu' : 'cuda'),
    gpuIndex: gpu,
    taskQueue,
    maxJobs: config.MOFSIM_ENGINE_MAX_JOBS,
    memoryBudgetMB: config.MOFSIM_ENGINE_MEMORY_BUDGET_MB
      ?? (gpuInfo ? Math.round(0.9 * gpuInfo.memoryTotalMB) : CPU_MEMORY_BUDGET_MB),
    modelMemoryPerAtomMB: modelMemory,
  };
  const jobs = new Map<string, RunningJob>();

  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const dispatcher = createDispatcher({
    db: database.db, sql: database.sql, client: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), config,
    policy: schedulerPolicy(config), systemLog, sweepSeconds: config.MOFSIM_SCHEDULER_SWEEP_S,
  });
  const control = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.MOFSIM_TASK_QUEUE,
    ...(await workflowCode(require.resolve(join(repoRoot, 'workflows', 'index.ts')))),
    activities: {
      ...createControlActivities({
        db: database.db, dispatcher,
        webhookAllowHosts: config.MOFSIM_WEBHOOK_ALLOW_HOSTS, webhookTimeoutMs: config.MOFSIM_WEBHOOK_TIMEOUT_S * 1000,
        systemLog,
      }),
      ...createCampaignActivities({
        db: database.db,
        config,
        dataDir: config.MOFSIM_DATA_DIR,
        // Scores the finished campaign and records them for the leaderboard.
        scoreCampaign: recordCampaignScores,
        resolve: async (taskType, model, params) => (await engine.get()).request<ResolvedRun>('resolve', {
          task_type: isTaskType(taskType) ? TASK_TYPES[taskType] : taskType, model, params,
        }),
      }),
    },
  });
  const engineWorker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    activities: createEngineActivities({
      db: database.db, engine, dataDir: config.MOFSIM_DATA_DIR, workerId, logger: log,
      device: gpu === null ? identity.device : `${identity.device}:${gpu}`, gpuIndex: gpu, jobs, systemLog, engineMetrics,
      scheduler: dispatcher,
    }),
    maxConcurrentActivityTaskExecutions: config.MOFSIM_ENGINE_MAX_JOBS,
    // Checkpoint references travel in heartbeats: send them promptly rather than the default ~1 min throttle.
    maxHeartbeatThrottleInterval: '2 seconds',
    // Let running jobs finish or checkpoint on SIGTERM before the engine is stopped.
    shutdownGraceTime: '30 seconds',
  });
  const modelWorker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: modelQueueName(taskQueue),
    activities: createModelResidencyActivities({ engine, refreshHeartbeat: () => beatNow() }),
    // Loads of different models may overlap (the engine loads each once, in its own thread); a few is plenty.
    maxConcurrentActivityTaskExecutions: 4,
  });
  await registerWorker(database.db, identity);
  // A new worker is room: decide now (and from here on, on every change and sweep).
  await dispatcher.start();
  systemLog.info('lifecycle', 'worker online', {
    extra: {
      hostname: host, pid: process.pid, device: identity.device, gpu_index: gpu, control_queue: config.MOFSIM_TASK_QUEUE, task_queue: taskQueue, max_jobs: identity.maxJobs,
      memory_budget_MB: identity.memoryBudgetMB, ...(gpuInfo ? { gpu_name: gpuInfo.name } : {}),
    },
  });

  let draining = false;
  let drainReason: string | undefined;
  const done = Promise.all([control.run(), engineWorker.run(), modelWorker.run()]).then(async () => {
    clearInterval(beat);
    await dispatcher.stop();
    await engine.stop();
    await setWorkerStatus(database.db, workerId, 'offline').catch(() => {});
    systemLog.info('lifecycle', 'worker offline', { extra: { reason: drainReason ?? 'stopped' } });
    await systemLog.flush();
    await database.close();
    await connection.close();
    log.info('worker stopped');
  });
  const drain = async (reason = 'shutdown') => {
    if (!draining) {
      draining = true;
      drainReason = `drained (${reason})`;
      systemLog.info('lifecycle', 'worker draining', { extra: { reason, running_tasks: [...jobs.keys()] } });
      await setWorkerStatus(database.db, workerId, 'draining').catch(() => {});
      control.shutdown();
      engineWorker.shutdown();
      modelWorker.shutdown();
      for (const job of jobs.values()) job.handBack();
      // A job that does not stop in time is killed with its engine; its workflow resumes it from the checkpoint.
      setTimeout(() => {
        if (jobs.size) {
          systemLog.warning('lifecycle', 'drain timed out; killing the engine with jobs still running', {
            extra: { running_tasks: [...jobs.keys()], drain_timeout_s: config.MOFSIM_DRAIN_TIMEOUT_S },
          });
        }
        void engine.peek().then((e) => e?.kill('SIGKILL'));
      }, config.MOFSIM_DRAIN_TIMEOUT_S * 1000).unref();
    }
    await done;
  };

  // The engine's model cache as its last `status` answered (kept while a busy engine is slow to answer; empty once
  // the engine is gone): GET /models/loaded/list reads it from the heartbeat.
  let modelCache: LoadedModelState[] = [];
  const sendHeartbeat = async () => {
    const e = await engine.peek();
    const status = e?.alive
      ? await Promise.race([
        e.request<{ loaded_models: (LoadedModelState & EngineModelStatus)[]; device: string }>('status'),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000)),
      ]).catch(() => undefined)
      : undefined;
    if (status) {
      modelCache = status.loaded_models.map((m) => ({
        id: m.id, loaded_at: m.loaded_at, last_used: m.last_used, use_count: m.use_count, in_use: m.in_use, memory_MB: m.memory_MB,
      }));
    } else if (!e?.alive) modelCache = [];
    engineMetrics.update(status, !!e?.alive);
    for (; restartsCounted < engine.restartCount; restartsCounted++) engineMetrics.restarted();
    const g = gpu === null ? undefined : (await discoverGpus(config.MOFSIM_NVIDIA_SMI)).find((x) => x.index === gpu);
    if (g) recordGpu(host, g);
    const telemetry: Record<string, unknown> = {
      engine_pid: e?.alive ? e.pid : null,
      engine_device: status?.device ?? null,
      model_cache: modelCache,
      ...(g ? {
        gpu_name: g.name, gpu_uuid: g.uuid, memory_total_MB: g.memoryTotalMB, memory_used_MB: g.memoryUsedMB,
        utilization_percent: g.utilizationPercent, temperature_C: g.temperatureC, power_W: g.powerW,
      } : {}),
    };
    const row = await heartbeatWorker(database.db, workerId, {
      loadedModels: status ? status.loaded_models.map((m) => m.id) : [...new Set([...jobs.values()].map((j) => j.model))],
      runningTasks: [...jobs.keys()],
      telemetry,
    });
    if (row === undefined) await registerWorker(database.db, identity);
    // Someone asked this worker to drain (POST /system/workers/{id}/drain).
    if (row === 'draining' && !draining) void drain('requested through the API');
  };
  // One heartbeat at a time: a periodic beat that read the engine's cache just before a load finished must not land
  // after the refresh the load asked for, hiding the model again until the next beat. A call while one runs waits
  // for it and then beats afresh; calls while one already waits share that one, so slow beats never pile up.
  let current: Promise<void> = Promise.resolve();
  let waiting: Promise<void> | undefined;
  const beatNow = (): Promise<void> => {
    if (waiting) return waiting;
    const next: Promise<void> = current.catch(() => {}).then(() => { waiting = undefined; return sendHeartbeat(); });
    waiting = next;
    current = next;
    return next;
  };
  const beat = setInterval(() => {
    if (!draining) beatNow().catch((err) => log.warn('worker heartbeat failed', { error: String(err) }));
  }, config.MOFSIM_WORKER_HEARTBEAT_S * 1000);
  void beatNow().catch(() => {});

  return { id: workerId, taskQueue, engine, done, drain, shutdown: drain };
}

let runtimeInstalled = false;
/**
 * Installs the process's Temporal runtime (possible once per process: the first call wins, later ones — e.g. each
 * `startWorker` — do nothing). It logs through ours (JSON, our level) instead of printing multi-line INFO records;
 * with `prometheusAddress` (host:port) it also serves the SDK's own worker metrics there, which the worker's
 * metrics port appends to its answer.
 */
export function installTemporalRuntime(log: Logger, level: Config['MOFSIM_LOG_LEVEL'], opts: { prometheusAddress?: string } = {}): void {
  installRuntimeLogger(log, level, opts.prometheusAddress);
}

function installRuntimeLogger(log: Logger, level: Config['MOFSIM_LOG_LEVEL'], prometheusAddress?: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const temporalLevel = ({ debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' } as const)[level] as LogLevel;
  const t = log.child({ component: 'temporal' });
  try {
    Runtime.install({
      // Signals are ours: SIGTERM drains (hands jobs back) instead of the SDK's own shutdown.
      shutdownSignals: [],
      ...(prometheusAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: prometheusAddress, countersTotalSuffix: true, useSecondsForDurations: true } } } } : {}),
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
