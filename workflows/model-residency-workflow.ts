/**
 * Loads or unloads one model on the workers the API chose (POST /models/{name}/load|unload; the workflow id is the
 * `request_id` the API answered with). Each worker is reached on its own model queue, so the op runs in that
 * worker's engine; every worker's outcome, failures included, ends up in the system log. Deterministic: activity
 * types only, no I/O here.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities, TimeoutFailure, workflowInfo } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../common/retry-policy.js';
import type { ControlActivities } from '../workers/control-activities.js';
import type { ModelResidencyActivities, ModelResidencyChange } from '../workers/model-residency-activities.js';

export interface ModelResidencyInput {
  action: 'load' | 'unload';
  /** The canonical model id. */
  model: string;
  /** The chosen workers and their model queues. */
  targets: { workerId: string; taskQueue: string }[];
  controlQueue: string;
  /** The HTTP request that asked (its X-Request-ID), carried into the system log. */
  requestId?: string;
  /** The admin key that asked. */
  by?: { keyId?: string; name?: string };
}

/** One worker's outcome: the engine's answer, or why there was none. */
export type ModelResidencyOutcome = { workerId: string } & (
  | ModelResidencyChange
  | { status: 'failed'; errorType: string; message: string }
);

/** Runs the op on every target at once and records the outcomes; never fails for one worker's failure. */
export async function modelResidencyWorkflow(input: ModelResidencyInput): Promise<ModelResidencyOutcome[]> {
  const { recordModelResidency } = proxyActivities<ControlActivities>({
    taskQueue: input.controlQueue,
    startToCloseTimeout: '30 seconds',
    retry: { maximumAttempts: 10 },
  });
  const outcomes = await Promise.all(input.targets.map(async (t): Promise<ModelResidencyOutcome> => {
    const { changeModelResidency } = proxyActivities<ModelResidencyActivities>({
      taskQueue: t.taskQueue,
      // A worker that died after the API chose it never takes the op: give up and say so instead of waiting.
      scheduleToStartTimeout: '1 minute',
      // The largest MLIPs take a while to move onto a GPU (more when their weights are fetched on first use).
      startToCloseTimeout: '15 minutes',
      heartbeatTimeout: '30 seconds',
      // A crashed engine restarts, so a few tries help; a model that cannot load on this worker never will.
      retry: { initialInterval: '2 seconds', maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
    });
    try {
      return { workerId: t.workerId, ...(await changeModelResidency({ action: input.action, model: input.model })) };
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : err;
      const errorType = cause instanceof ApplicationFailure ? cause.type ?? 'ENGINE_ERROR' : cause instanceof TimeoutFailure ? 'WORKER_LOST' : 'ENGINE_ERROR';
      return { workerId: t.workerId, status: 'failed', errorType, message: cause instanceof Error ? cause.message : String(cause) };
    }
  }));
  await recordModelResidency({
    action: input.action, model: input.model, workflowId: workflowInfo().workflowId, requestId: input.requestId, by: input.by, outcomes,
  });
  return outcomes;
}
