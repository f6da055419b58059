/**
 * Delivers one task event to the task's callback URL (workflowId `webhook-<event id>`, so an event is delivered by
 * one workflow however many API processes saw it; a resend is its own workflow, `webhook-<event id>-resend-<n>`).
 * Retries with exponential backoff for up to 24 h.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../workers/control-activities.js';

export interface WebhookWorkflowInput {
  taskId: string;
  eventId: number;
  /** First retry delay, seconds (doubling up to 1 h). @default 5 */
  retryInitialSeconds?: number;
  /**
   * Set on a resend (POST /tasks/{id}/webhooks/resend): the delivery's own idempotency key, so receivers see a new
   * delivery of the same event. @default `<task id>:<event id>`, the key every automatic attempt of an event shares
   */
  deliveryId?: string;
}

/** Delivers until the receiver answers 2xx, the URL is refused, or 24 h have passed. */
export async function webhookWorkflow(input: WebhookWorkflowInput): Promise<void> {
  const { deliverWebhook } = proxyActivities<ControlActivities>({
    startToCloseTimeout: '1 minute',
    scheduleToCloseTimeout: '24 hours',
    retry: {
      initialInterval: `${input.retryInitialSeconds ?? 5} seconds`,
      backoffCoefficient: 2,
      maximumInterval: '1 hour',
      nonRetryableErrorTypes: ['WEBHOOK_URL_REFUSED', 'TASK_NOT_FOUND'],
    },
  });
  await deliverWebhook({ taskId: input.taskId, eventId: input.eventId, ...(input.deliveryId ? { deliveryId: input.deliveryId } : {}) });
}
