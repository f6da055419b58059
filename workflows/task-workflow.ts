/**
 * The lifecycle of one task (workflowId = task id): wait in line for a worker slot (it enters the line once and
 * blocks until the scheduler's `slot` signal; no polling, so the history stays short however long it waits), run the engine
 * job on that worker's own queue, re-pick a worker after infrastructure failures (resuming from the last checkpoint),
 * obey pause/resume/cancel signals, and record the terminal state. Deterministic: activity types only, no I/O here.
 */
import {
  ActivityCancellationType, ActivityFailure, ApplicationFailure, CancellationScope, condition, defineQuery, defineSignal,
  getExternalWorkflowHandle, isCancellation, patched, proxyActivities, setHandler, TimeoutFailure, workflowInfo,
} from '@temporalio/workflow';
import { campaignTaskEndedSignal, campaignWorkflowId } from './campaign-ids.js';
import { FIRST_REQUEST } from '../common/line-request.js';
import { isRetryableFailure } from '../common/retry-policy.js';
import type { EngineActivities } from '../workers/engine-activities.js';
import type { ControlActivities } from '../workers/control-activities.js';

export interface TaskWorkflowInput {
  taskId: string;
  /** Wall-clock budget for the whole task including retries and pauses, seconds (options.timeout). */
  timeoutSeconds: number;
  controlQueue: string;
  /** Temporal priority key, 1 (CRITICAL) … 4 (LOW). @default 3 */
  priorityKey?: number;
  /** Fairness key: the task's owner. */
  fairnessKey?: string;
  /** Seconds without an engine heartbeat before an attempt counts as lost. @default 30 */
  heartbeatTimeoutSeconds?: number;
  /** Only workflows started before the line became event-driven poll: seconds between their asks. @default 2 */
  schedulerPollSeconds?: number;
  /** The campaign that owns the task: told when the task ends, so it moves on without polling. */
  campaignId?: string;
}

export interface TaskWorkflowState {
  state: 'queued' | 'running' | 'paused' | 'done';
  workerId: string | null;
  attempt: number;
  /**
   * Why the running attempt is being stopped, once it is: a pause or a preemption hands the job back (its engine
   * saves a checkpoint at the step where it stops, so the next attempt loses nothing), a cancel just stops it.
   * Read by the engine activity (a query) when its cancellation arrives.
   */
  stopping?: 'pause' | 'preempt' | 'cancel' | null;
}

interface Checkpoint { path: string; step: number }

/** Pause a task: a running job is stopped (checkpointed at the step where it stops, if it can resume) and its slot freed; a queued one is held. */
export const pauseSignal = defineSignal('pause');
/** Resume a paused task: it is queued again and continues from its checkpoint. */
export const resumeSignal = defineSignal('resume');
/** Cancel a task in any state; a running job is stopped within seconds. */
export const cancelSignal = defineSignal('cancel');
/** Make room for a CRITICAL task: a running job is stopped (checkpointed at the step where it stops) and requeued. */
export const preemptSignal = defineSignal<[{ by: string }]>('preempt');
/** The scheduler's grant of a worker slot to request `seq` of this task (a grant for an earlier request is stale). */
export const slotSignal = defineSignal<[{ taskId: string; seq: number; workerId: string; taskQueue: string }]>('slot');
/** Where the task is now. */
export const stateQuery = defineQuery<TaskWorkflowState>('state');

/** Infrastructure failures a task survives (each one re-picks a worker); drains do not count. */
const MAX_FAILED_ATTEMPTS = 6;

/** Runs one task to a terminal state. */
export async function taskWorkflow(input: TaskWorkflowInput): Promise<string> {
  const { taskId } = input;
  const priority = { priorityKey: input.priorityKey ?? 3, fairnessKey: input.fairnessKey ?? 'anonymous' };
  const control = proxyActivities<ControlActivities>({
    taskQueue: input.controlQueue,
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumAttempts: 20 },
    priority,
  });
  const deadline = workflowInfo().startTime.getTime() + input.timeoutSeconds * 1000;
  const pollMs = (input.schedulerPollSeconds ?? 2) * 1000;

  const st: TaskWorkflowState = { state: 'queued', workerId: null, attempt: 0 };
  let paused = false;
  let cancelled = false;
  let runScope: CancellationScope | undefined;
  const stopRun = (why: 'pause' | 'preempt' | 'cancel') => {
    if (!runScope) return;
    if (st.stopping !== 'cancel') st.stopping = why; // a cancel wins over an earlier pause or preemption
    runScope.cancel();
  };
  setHandler(pauseSignal, () => { if (!cancelled && st.state !== 'done') { paused = true; stopRun('pause'); } });
  setHandler(resumeSignal, () => { paused = false; });
  setHandler(cancelSignal, () => { cancelled = true; stopRun('cancel'); });
  let preemptedBy: string | undefined;
  setHandler(preemptSignal, ({ by }) => { if (st.state === 'running' && runScope) { preemptedBy = by; stopRun('preempt'); } });
  setHandler(stateQuery, () => st);
  // Running workflows that began polling keep polling; new ones wait in line for the scheduler's signal.
  const eventDriven = patched('event-driven-slot');
  // The task was put in line when it was inserted (its first request): the first wait only waits. Histories from
  // before ask for their first slot themselves.
  let asked = patched('in-line-from-insert');
  let waitSeq = asked ? FIRST_REQUEST : FIRST_REQUEST - 1;
  let granted: { workerId: string; taskQueue: string } | undefined;
  setHandler(slotSignal, (g) => { if (g.seq === waitSeq && !granted) granted = { workerId: g.workerId, taskQueue: g.taskQueue }; });
  /** Waits in line for a slot; undefined when a pause, a cancel or the deadline came first (the request is withdrawn). */
  const waitForSlot = async (avoidWorkerId: string | undefined, remainingMs: number) => {
    if (!eventDriven) {
      const slot = await control.claimWorker({ taskId, avoidWorkerId });
      if (!slot) await condition(() => paused || cancelled, Math.min(pollMs, remainingMs));
      return slot ?? undefined;
    }
    if (asked) {
      asked = false;
    } else {
      waitSeq += 1;
      granted = undefined;
      const direct = await control.requestSlot({ taskId, seq: waitSeq, avoidWorkerId });
      if (direct && !granted) granted = direct;
    }
    if (!granted) await condition(() => !!granted || paused || cancelled, remainingMs);
    const slot = granted;
    granted = undefined;
    if (slot && !paused && !cancelled) return slot;
    // Withdraw the request; a slot granted meanwhile goes back.
    await CancellationScope.nonCancellable(() => control.leaveLine({ taskId, seq: waitSeq }));
    return undefined;
  };

  /** `released`: the engine activity has already stored the result and given the slot back (nothing left to do). */
  const end = (status: 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TIMEOUT', errorType?: string, errorMessage?: string, released = false) =>
    CancellationScope.nonCancellable(async () => {
      st.state = 'done';
      if (status !== 'COMPLETED') await control.finishTask({ taskId, status, errorType, errorMessage });
      else if (!released) await control.releaseWorker({ taskId });
      // A campaign that has ended (or continues as new right now) catches up from the database on its next look.
      if (input.campaignId) {
        await getExternalWorkflowHandle(campaignWorkflowId(input.campaignId)).signal(campaignTaskEndedSignal).catch(() => undefined);
      }
      return status;
    });

  let failures = 0;
  let checkpoint: Checkpoint | undefined;
  let avoidWorkerId: string | undefined;
  try {
    for (;;) {
      if (cancelled) return await end('CANCELLED', 'CANCELLED', 'cancelled by request');
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) return await end('TIMEOUT', 'TIMEOUT', `task exceeded its timeout of ${input.timeoutSeconds} s`);

      if (paused) {
        st.state = 'paused';
        // Paused before its first wait: the request made at insert goes (with a slot granted to it meanwhile).
        if (asked) {
          asked = false;
          await CancellationScope.nonCancellable(() => control.leaveLine({ taskId, seq: waitSeq }));
        }
        await control.setTaskStatus({ taskId, status: 'PAUSED', event: 'paused' });
        if (!(await condition(() => !paused || cancelled, remainingMs)) || cancelled) continue;
        st.state = 'queued';
        await control.setTaskStatus({ taskId, status: 'QUEUED', event: 'unpaused' });
        continue;
      }

      const slot = await waitForSlot(avoidWorkerId, remainingMs);
      if (!slot) continue;
      st.state = 'running';
      st.workerId = slot.workerId;
      st.attempt += 1;
      st.stopping = null;
      const engine = proxyActivities<EngineActivities>({
        taskQueue: slot.taskQueue,
        // The job must start within a few polls of its worker; a worker that died in between is re-picked.
        scheduleToStartTimeout: `${Math.max(30, 4 * (input.heartbeatTimeoutSeconds ?? 30))} seconds`,
        scheduleToCloseTimeout: remainingMs,
        heartbeatTimeout: `${input.heartbeatTimeoutSeconds ?? 30} seconds`,
        // The workflow re-picks the worker for every retry, so Temporal itself never retries this activity.
        retry: { maximumAttempts: 1 },
        cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        priority,
      });
      let outcome: { status: string; released?: boolean } | undefined;
      try {
        await CancellationScope.cancellable(async () => {
          runScope = CancellationScope.current();
          if (cancelled) stopRun('cancel');
          else if (paused) stopRun('pause');
          outcome = await engine.runEngineJob({ taskId, attempt: st.attempt, checkpoint });
        });
        // Histories recorded before the engine gave its own slot back have a releaseWorker activity here.
        return await end('COMPLETED', undefined, undefined, outcome?.released === true && patched('engine-releases-slot'));
      } catch (err) {
        runScope = undefined;
        // A cancel of the whole workflow (not our signal) ends the task below.
        if (isCancellation(err) && !cancelled && !paused && !preemptedBy) throw err;
        await CancellationScope.nonCancellable(() => control.releaseWorker({ taskId }));
        st.state = 'queued';
        st.workerId = null;
        if (cancelled || paused) { preemptedBy = undefined; continue; }
        if (preemptedBy) {
          await control.setTaskStatus({ taskId, status: 'QUEUED', event: 'preempted', data: { by: preemptedBy, worker_id: slot.workerId } });
          preemptedBy = undefined;
          continue;
        }
        const cause = err instanceof ActivityFailure ? err.cause : err;
        if (cause instanceof TimeoutFailure) {
          const hb = cause.lastHeartbeatDetails as Checkpoint | undefined;
          if (hb && typeof hb.path === 'string' && (!checkpoint || hb.step > checkpoint.step)) checkpoint = hb;
          if (deadline - Date.now() <= 0) continue;
        }
        const type = cause instanceof ApplicationFailure ? cause.type ?? 'ENGINE_ERROR' : cause instanceof TimeoutFailure ? 'WORKER_LOST' : 'ENGINE_ERROR';
        const message = cause instanceof Error ? cause.message : String(cause);
        const retryable = isRetryableFailure({
          type, lost: cause instanceof TimeoutFailure, nonRetryable: !(cause instanceof ApplicationFailure) || cause.nonRetryable === true,
        });
        if (!retryable) return await end('FAILED', type, message);
        const drained = type === 'WORKER_DRAINING';
        if (!drained) {
          failures += 1;
          if (failures >= MAX_FAILED_ATTEMPTS) return await end('FAILED', type, `${message} (after ${failures} attempts)`);
          avoidWorkerId = slot.workerId;
        }
        await control.setTaskStatus({ taskId, status: 'QUEUED', event: 'requeued', data: { reason: type, message, worker_id: slot.workerId } });
        if (!drained) await condition(() => paused || cancelled, Math.min(2000 * 2 ** (failures - 1), 300_000));
      }
    }
  } catch (err) {
    if (isCancellation(err)) return await end('CANCELLED', 'CANCELLED', 'cancelled');
    throw err;
  }
}
