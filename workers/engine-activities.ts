/** The engine activity: runs one task's science job in this worker's engine, heartbeating progress and checkpoints. */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isRetryableFailure } from '../common/retry-policy.js';
import { TASK_TYPES, isTaskType } from '../common/task-types.js';
import type { Logger } from '../common/logger.js';
import type { Db } from '../store/client.js';
import type { SystemLog } from '../store/system-logs.js';
import { structures, tasks } from '../store/schema.js';
import type { EngineMetrics } from '../metrics/engine-metrics.js';
import { observeQueueWait, observeRun } from '../metrics/task-metrics.js';
import { EngineError, type EngineEvent } from '../engine-host/engine-client.js';
import type { EngineSupervisor } from '../engine-host/engine-supervisor.js';
import { addEvent, beginAttempt, completeAttempt, endRun, saveCheckpoint, setProgress } from '../store/task-state.js';
import { resultCacheKeyOf } from '../common/result-cache-key.js';
import type { PassResult } from '../store/scheduler.js';
import type { Dispatcher } from './dispatcher.js';

export interface EngineActivityDeps {
  db: Db;
  engine: EngineSupervisor;
  dataDir: string;
  workerId: string;
  logger: Logger;
  /** Device label recorded in usage rows (`cpu`, `cuda:0`). */
  device: string;
  /** The GPU this worker drives (recorded as the task's gpu_id); null on a CPU worker. */
  gpuIndex?: number | null;
  /** The worker's live jobs (task id → how to hand the job back on a drain); read by heartbeats. */
  jobs: Map<string, RunningJob>;
  /** Minimum time between stored progress events. @default 1000 ms */
  progressIntervalMs?: number;
  /** Where out-of-memory jobs and hand-backs are recorded (`system_logs`). */
  systemLog?: SystemLog;
  /** This worker's engine metrics (out-of-memory failures are counted there). */
  engineMetrics?: EngineMetrics;
  /**
   * The worker's scheduler: a completed job's slot is given to the next task in the transaction that frees it, and
   * the grant announced.
   */
  scheduler?: Pick<Dispatcher, 'policy' | 'announce' | 'kick'>;
}

/** A job running in this worker's engine. */
export interface RunningJob {
  model: string;
  /** Stops the job so that it is handed back (retryable WORKER_DRAINING) and resumed elsewhere from its checkpoint. */
  handBack(): void;
}

interface Checkpoint {
  path: string;
  step: number;
}

const fail = (type: string, message: string, nonRetryable = false) =>
  isRetryableFailure({ type, nonRetryable })
    ? ApplicationFailure.retryable(message, type)
    : ApplicationFailure.nonRetryable(message, type);

/** Builds the engine activities around their dependencies. */
export function createEngineActivities(deps: EngineActivityDeps) {
  const progressEvery = deps.progressIntervalMs ?? 1000;

  return {
    /** Runs the task's job to its result and stores it; throws typed ApplicationFailures for everything else. */
    async runEngineJob(input: { taskId: string; attempt?: number; checkpoint?: Checkpoint }): Promise<{ status: string; released?: boolean }> {
      const ctx = Context.current();
      const { taskId } = input;
      const attempt = input.attempt ?? ctx.info.attempt;
      const log = deps.logger.child({ task_id: taskId, attempt });
      const [found] = await deps.db.select({ task: tasks, structure: structures }).from(tasks)
        .leftJoin(structures, eq(structures.id, tasks.structureId)).where(eq(tasks.id, taskId));
      const task = found?.task;
      if (!task) throw fail('TASK_NOT_FOUND', `task ${taskId} does not exist`);
      if (!isTaskType(task.taskType)) throw fail('UNKNOWN_TASK_TYPE', `unknown task type ${task.taskType}`);
      if (!task.structureId) throw fail('STRUCTURE_FILE_MISSING', 'task has no structure');
      const structure = found.structure;
      if (!structure || !existsSync(structure.filePath)) throw fail('STRUCTURE_FILE_MISSING', `structure file of task ${taskId} is missing`);
      const workDir = join(deps.dataDir, 'tasks', taskId);
      await mkdir(workDir, { recursive: true });
      // Heartbeat details (passed on by the workflow) are the fast path; the row is the durable one (heartbeats are
      // throttled and may lag, row writes are asynchronous): take the later of the two.
      const candidates = [input.checkpoint, ctx.info.heartbeatDetails as Checkpoint | undefined, task.checkpoint ?? undefined]
        .filter((c): c is Checkpoint => !!c && typeof c.path === 'string' && existsSync(c.path))
        .sort((a, b) => b.step - a.step);
      let checkpoint: Checkpoint | undefined = candidates[0];

      const params = await resolveParameterFiles(deps.db, task.parameters);
      const engine = await deps.engine.get().catch((err) => { throw fail('ENGINE_UNAVAILABLE', (err as Error).message); });
      const run = await beginAttempt(deps.db, task, { workerId: deps.workerId, gpuIndex: deps.gpuIndex ?? null, device: deps.device }, {
        type: checkpoint ? 'resumed' : 'started',
        data: { attempt, worker_id: deps.workerId, engine_pid: engine.pid, device: engine.hello.device, ...(checkpoint ? { from_step: checkpoint.step } : {}) },
      });
      if (run === null) return { status: task.status };
      // The wait for a slot, once per task: a retry's or a resumed hand-back's second wait is not queueing time.
      if (!task.startedAt) observeQueueWait(task, (Date.now() - (task.queuedAt ?? task.createdAt).getTime()) / 1000);
      const runStarted = Date.now();
      const jobId = `${taskId}:${attempt}`;
      // The first progress event is stored a full interval into the run: a job shorter than that (a single point)
      // gets only its closing 100 % event, written with its result.
      let lastStored = runStarted;
      let lastProgress: Record<string, unknown> | undefined;
      // This attempt's event writes go one after another: ids are assigned at insert, and live clients (SSE, ws,
      // Last-Event-ID replay) rely on a task's events being committed in id order.
      let writes: Promise<unknown> = Promise.resolve();
      const inOrder = (what: string, fn: () => Promise<unknown>) => {
        writes = writes.then(fn).catch((err) => log.warn(`${what} write failed`, { error: String(err) }));
        return writes;
      };
      const onEvent = (e: EngineEvent) => {
        if (e.event === 'checkpoint') {
          checkpoint = { path: String(e.data.path), step: Number(e.data.step) };
          ctx.heartbeat(checkpoint);
          const cp = checkpoint;
          void inOrder('checkpoint', () => saveCheckpoint(deps.db, taskId, cp));
          return;
        }
        if (e.event !== 'progress') return;
        // No heartbeat per event (each is a write in Temporal): the timer below is enough.
        lastProgress = e.data;
        const now = Date.now();
        if (now - lastStored < progressEvery) return;
        lastStored = now;
        const pct = Number(e.data.progress);
        void inOrder('progress', async () => {
          if (Number.isFinite(pct)) await setProgress(deps.db, taskId, Math.max(0, Math.min(100, pct)));
          await addEvent(deps.db, taskId, 'progress', e.data);
        });
      };
      // Heartbeat on a timer, not per event: model loading and the first step emit no events, and cancellation
      // reaches an activity only through a heartbeat's answer.
      const beat = setInterval(() => ctx.heartbeat(checkpoint), 1000);
      // A hand-back (drain, pause, preemption) asks the engine for a checkpoint at the step where the job stops, so
      // the next attempt resumes there instead of at the last periodic checkpoint; a cancel of the task does not.
      const stop = (checkpoint: boolean) => {
        engine.request('cancel', { job_id: jobId, ...(checkpoint ? { checkpoint: true } : {}) }).catch(() => {});
      };
      const onCancel = () => {
        if (handedBack) return stop(true);
        void stopKeepsCheckpoint(ctx, taskId).then(stop);
      };
      ctx.cancellationSignal.addEventListener('abort', onCancel);
      let handedBack = false;
      deps.jobs.set(taskId, { model: task.model, handBack: () => { handedBack = true; stop(true); } });
      let outcome = 'failed';
      let runClosed = false;

      try {
        const result = await engine.request<Record<string, unknown>>('run', {
          job_id: jobId,
          task_type: TASK_TYPES[task.taskType],
          model: task.model,
          structure_path: structure.filePath,
          structure_name: structure.name,
          params,
          work_dir: workDir,
          ...(checkpoint ? { resume_from: checkpoint.path } : {}),
        }, onEvent);
        const outputFiles = collectOutputFiles(result);
        await writes;
        // The engine is done with the job: its slot goes to the next task now rather than after the workflow's
        // next step (two Temporal round trips later), and the workflow ends without a release of its own.
        const record = {
          taskId, runId: run, result, outputFiles, cacheKey: resultCacheKeyOf(task.taskType, structure.checksum, result),
          ...(lastProgress ? { lastProgress } : {}),
        };
        let pass: PassResult | undefined;
        try {
          pass = (await completeAttempt(deps.db, record, deps.scheduler?.policy)).pass;
        } catch (err) {
          if (!deps.scheduler) throw err;
          // A decision that failed must not cost the result: stored on its own, the slot is decided on next.
          log.warn('decision with the completion failed; storing the result alone', { error: String(err) });
          await completeAttempt(deps.db, record);
        }
        runClosed = true;
        if (pass) deps.scheduler?.announce(pass);
        else deps.scheduler?.kick();
        outcome = 'completed';
        log.info('task completed', { result_status: result.status });
        return { status: 'COMPLETED', released: true };
      } catch (err) {
        if (err instanceof EngineError) {
          log.warn('engine job failed', { code: err.code, retryable: err.retryable, message: err.message });
          // A stop with a checkpoint: its `checkpoint` event came first and is being stored; the answer names it
          // too (in case the event was missed). The row is written before the hand-back below, for the next attempt.
          if (err.checkpoint && (!checkpoint || err.checkpoint.step >= checkpoint.step)) {
            const cp = err.checkpoint;
            if (cp.path !== checkpoint?.path || cp.step !== checkpoint?.step) void inOrder('checkpoint', () => saveCheckpoint(deps.db, taskId, cp));
            checkpoint = cp;
          }
          await writes;
          await addEvent(deps.db, taskId, 'attempt_failed', {
            attempt, code: err.code, message: err.message, retryable: err.retryable,
            ...(err.checkpoint ? { checkpoint_step: err.checkpoint.step } : {}),
          });
          if (err.code === 'OUT_OF_MEMORY') {
            deps.engineMetrics?.outOfMemory(task.model);
            deps.systemLog?.warning('engine', 'job ran out of memory; it will be retried', {
              taskId, extra: { model: task.model, structure: structure.name, n_atoms: structure.nAtoms, attempt, device: deps.device, message: err.message.slice(0, 500) },
            });
          }
          if (err.code === 'CANCELLED' && handedBack) {
            deps.systemLog?.info('drain', 'job handed back (worker draining); it resumes elsewhere', {
              taskId, extra: { attempt, checkpoint_step: checkpoint?.step ?? null },
            });
            outcome = 'handed_back';
            throw ApplicationFailure.retryable(`worker ${deps.workerId} is draining; the job resumes elsewhere`, 'WORKER_DRAINING');
          }
          if (err.code === 'CANCELLED' && ctx.cancellationSignal.aborted) {
            outcome = 'stopped';
            throw ctx.cancellationSignal.reason ?? err;
          }
          throw fail(err.code, err.message, !err.retryable);
        }
        throw err;
      } finally {
        clearInterval(beat);
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
        deps.jobs.delete(taskId);
        observeRun(task, outcome, (Date.now() - runStarted) / 1000);
        if (!runClosed) await endRun(deps.db, run, outcome).catch((err) => log.warn('usage write failed', { error: String(err) }));
      }
    },
  };
}

export type EngineActivities = ReturnType<typeof createEngineActivities>;

/**
 * Whether the task workflow is stopping this attempt to hand it back (pause, preemption: keep a checkpoint) rather
 * than to end it (cancel). Asked when the activity's cancellation arrives; when the workflow cannot say in time,
 * the job is checkpointed anyway (a checkpoint never hurts, lost steps do).
 */
async function stopKeepsCheckpoint(ctx: Context, taskId: string): Promise<boolean> {
  try {
    // The task workflow's id is the task id.
    const handle = ctx.client.workflow.getHandle(ctx.info.workflowExecution?.workflowId ?? taskId);
    const state = await Promise.race([
      handle.query<{ stopping?: string | null }>('state'),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000).unref()),
    ]);
    return state?.stopping !== 'cancel';
  } catch {
    return true;
  }
}

// Parameters that name other uploaded structures (interaction energy) travel to the engine as file paths.
async function resolveParameterFiles(db: Db, parameters: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { ...parameters };
  for (const [key, pathKey] of [['framework_file_id', 'framework_path'], ['guest_file_id', 'guest_path']] as const) {
    const id = out[key];
    if (typeof id !== 'string') continue;
    const [row] = await db.select().from(structures).where(eq(structures.id, id));
    if (!row) throw fail('STRUCTURE_FILE_MISSING', `structure ${id} (${key}) does not exist`);
    delete out[key];
    out[pathKey] = row.filePath;
  }
  return out;
}

// The engine reports absolute paths inside the task's work dir; the API serves them by file name and never shows
// a server path: every `<label>_path` key leaves the result and becomes an output file `<label>` (two keep the names
// clients already know).
const OUTPUT_LABELS: Record<string, string> = { final_structure_path: 'optimized_structure', trajectory_path: 'trajectory' };
function collectOutputFiles(result: Record<string, unknown>): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [key, value] of Object.entries(result)) {
    if (!key.endsWith('_path')) continue;
    delete result[key];
    if (typeof value === 'string') files[OUTPUT_LABELS[key] ?? key.slice(0, -'_path'.length)] = basename(value);
  }
  return files;
}
