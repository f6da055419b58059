/**
 * Delivers one task event to the task's callback URL (workflowId `webhook-<event id>`, so an event is delivered by
 * one workflow however many API processes saw it; a resend is its own workflow, `webhook-<event id>-resend-<n>`),
 * one alert transition to the alert webhook (`alert-webhook-<alert event id>`, on the alerts queue), or one campaign
 * event to the campaign's callback (`campaign-webhook-<campaign event id>`).
 * Retries with exponential backoff for up to 24 h.
 */
import { isCancellation, patched, proxyActivities } from '@temporalio/workflow';
import type { AlertActivities } from '../server/alerting/alert-activities.js';
import type { ControlActivities } from '../workers/control-activities.js';

/** A task event's delivery, an alert transition's, or a campaign event's. */
export type WebhookWorkflowInput = TaskWebhookInput | AlertWebhookInput | CampaignWebhookInput;

export interface CampaignWebhookInput {
  /** The `campaign_events` row to deliver. */
  campaignEventId: number;
  /** First retry delay, seconds (doubling up to 1 h). @default 5 */
  retryInitialSeconds?: number;
}

export interface AlertWebhookInput {
  /** The `alert_events` row to deliver. */
  alertEventId: number;
  /** First retry delay, seconds (doubling up to 1 h). @default 5 */
  retryInitialSeconds?: number;
}

export interface TaskWebhookInput {
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
  if ('alertEventId' in input) return alertWebhook(input);
  if ('campaignEventId' in input) return campaignWebhook(input);
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
  const { webhookGaveUp } = proxyActivities<ControlActivities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } });
  try {
    await deliverWebhook({ taskId: input.taskId, eventId: input.eventId, ...(input.deliveryId ? { deliveryId: input.deliveryId } : {}) });
  } catch (err) {
    // An operator should hear of an event that will never arrive (system_logs); patched: runs started before this
    // change replay without the extra activity.
    if (!isCancellation(err) && patched('webhook-gave-up-log')) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      await webhookGaveUp({ taskId: input.taskId, eventId: input.eventId, error: cause ?? String((err as Error).message ?? err) });
    }
    throw err;
  }
}

// The alert branch: the same retry schedule, activities of the alerts queue (served by every API process, so an
// alert about the workers still goes out while none runs).
async function alertWebhook(input: AlertWebhookInput): Promise<void> {
  const { deliverAlertWebhook } = proxyActivities<AlertActivities>({
    startToCloseTimeout: '1 minute',
    scheduleToCloseTimeout: '24 hours',
    retry: {
      initialInterval: `${input.retryInitialSeconds ?? 5} seconds`,
      backoffCoefficient: 2,
      maximumInterval: '1 hour',
      nonRetryableErrorTypes: ['WEBHOOK_URL_REFUSED', 'ALERT_NOT_FOUND'],
    },
  });
  const { alertWebhookGaveUp } = proxyActivities<AlertActivities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } });
  try {
    await deliverAlertWebhook({ alertEventId: input.alertEventId });
  } catch (err) {
    if (!isCancellation(err)) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      await alertWebhookGaveUp({ alertEventId: input.alertEventId, error: cause ?? String((err as Error).message ?? err) });
    }
    throw err;
  }
}

// The campaign branch: the same retry schedule and control-queue activities as task events.
async function campaignWebhook(input: CampaignWebhookInput): Promise<void> {
  const { deliverCampaignWebhook } = proxyActivities<ControlActivities>({
    startToCloseTimeout: '1 minute',
    scheduleToCloseTimeout: '24 hours',
    retry: {
      initialInterval: `${input.retryInitialSeconds ?? 5} seconds`,
      backoffCoefficient: 2,
      maximumInterval: '1 hour',
      nonRetryableErrorTypes: ['WEBHOOK_URL_REFUSED', 'CAMPAIGN_EVENT_NOT_FOUND'],
    },
  });
  const { campaignWebhookGaveUp } = proxyActivities<ControlActivities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } });
  try {
    await deliverCampaignWebhook({ campaignEventId: input.campaignEventId });
  } catch (err) {
    if (!isCancellation(err)) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      await campaignWebhookGaveUp({ campaignEventId: input.campaignEventId, error: cause ?? String((err as Error).message ?? err) });
    }
    throw err;
  }
}
