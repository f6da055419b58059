/**
 * The lifecycle of one task (workflowId = task id): run the engine job on an engine worker, retry infrastructure
 * failures, and record the terminal state. Deterministic: activity types only, no I/O here.
 */
import {
  ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, proxyActivities, TimeoutFailure,
} from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/retry-policy.js';
import type { EngineActivities } from '../workers/engine-activities.js';
import type { ControlActivities } from '../workers/control-activities.js';

export interface TaskWorkflowInput {
  taskId: string;
  /** Wall-clock budget for the whole task including retries, seconds (options.timeout). */
  timeoutSeconds: number;
  controlQueue: string;
  engineQueue: string;
}

/** Runs one task to a terminal state. */
export async function taskWorkflow(input: TaskWorkflowInput): Promise<string> {
  const control = proxyActivities<ControlActivities>({
    taskQueue: input.controlQueue,
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumAttempts: 20 },
  });
  const engine = proxyActivities<EngineActivities>({
    taskQueue: input.engineQueue,
    scheduleToCloseTimeout: `${input.timeoutSeconds} seconds`,
    // Model loads and the first CUDA calls are slow; the activity heartbeats on a timer as well as on progress.
    heartbeatTimeout: '2 minutes',
    retry: {
      initialInterval: '2 seconds',
      backoffCoefficient: 2,
      maximumInterval: '5 minutes',
      maximumAttempts: 6,
      nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
    },
  });

  try {
    await engine.runEngineJob({ taskId: input.taskId });
    return 'COMPLETED';
  } catch (err) {
    return await CancellationScope.nonCancellable(async () => {
      if (isCancellation(err)) {
        await control.finishTask({ taskId: input.taskId, status: 'CANCELLED', errorType: 'CANCELLED', errorMessage: 'cancelled' });
        return 'CANCELLED';
      }
      const cause = err instanceof ActivityFailure ? err.cause : err;
      if (cause instanceof TimeoutFailure) {
        await control.finishTask({
          taskId: input.taskId, status: 'TIMEOUT', errorType: 'TIMEOUT',
          errorMessage: `task exceeded its timeout of ${input.timeoutSeconds} s`,
        });
        return 'TIMEOUT';
      }
      const type = cause instanceof ApplicationFailure ? cause.type ?? 'ENGINE_ERROR' : 'ENGINE_ERROR';
      const message = cause instanceof Error ? cause.message : String(cause);
      await control.finishTask({ taskId: input.taskId, status: 'FAILED', errorType: type, errorMessage: message });
      return 'FAILED';
    });
  }
}
