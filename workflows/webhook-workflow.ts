/**
 * Delivers one task event to the task's callback URL (workflowId `webhook-<event id>`, so an event is delivered by
 * one workflow however many API processes saw it; a resend is its own workflow, `webhook-<event id>-resend-<n>`),
 * one alert transition to the alert webhook (`alert-webhook-<alert event id>`, on the alerts queue), or one campaign
 * event to the campaign's callback (`campaign-webhook-<campaign event id>`).
 * Retries with exponential backoff for up to 24 h.
 */
import { isCancellation, patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
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
  const { deliverWebhook } = proxyActivities<ControlActivities>(retrying(input, 'TASK_NOT_FOUND'));
  const { webhookGaveUp } = proxyActivities<ControlActivities>(GAVE_UP);
  await deliverOrReport(
    () => deliverWebhook({ taskId: input.taskId, eventId: input.eventId, ...(input.deliveryId ? { deliveryId: input.deliveryId } : {}) }),
    (error) => webhookGaveUp({ taskId: input.taskId, eventId: input.eventId, error }),
    // Patched: runs started before the gave-up record existed replay without the extra activity.
    () => patched('webhook-gave-up-log'),
  );
}

// The alert branch: activities of the alerts queue (served by every API process, so an alert about the workers
// still goes out while none runs).
async function alertWebhook(input: AlertWebhookInput): Promise<void> {
  const { deliverAlertWebhook } = proxyActivities<AlertActivities>(retrying(input, 'ALERT_NOT_FOUND'));
  const { alertWebhookGaveUp } = proxyActivities<AlertActivities>(GAVE_UP);
  await deliverOrReport(
    () => deliverAlertWebhook({ alertEventId: input.alertEventId }),
    (error) => alertWebhookGaveUp({ alertEventId: input.alertEventId, error }),
    () => true,
  );
}

// The campaign branch: control-queue activities, as for task events.
async function campaignWebhook(input: CampaignWebhookInput): Promise<void> {
  const { deliverCampaignWebhook } = proxyActivities<ControlActivities>(retrying(input, 'CAMPAIGN_EVENT_NOT_FOUND'));
  const { campaignWebhookGaveUp } = proxyActivities<ControlActivities>(GAVE_UP);
  await deliverOrReport(
    () => deliverCampaignWebhook({ campaignEventId: input.campaignEventId }),
    (error) => campaignWebhookGaveUp({ campaignEventId: input.campaignEventId, error }),
    () => true,
  );
}

// Exponential backoff from `retryInitialSeconds`, doubling up to 1 h, for 24 h; a refused URL or a vanished
// subject is final.
function retrying(input: { retryInitialSeconds?: number }, notFound: string): ActivityOptions {
  return {
    startToCloseTimeout: '1 minute',
    scheduleToCloseTimeout: '24 hours',
    retry: {
      initialInterval: `${input.retryInitialSeconds ?? 5} seconds`,
      backoffCoefficient: 2,
      maximumInterval: '1 hour',
      nonRetryableErrorTypes: ['WEBHOOK_URL_REFUSED', notFound],
    },
  };
}

const GAVE_UP: ActivityOptions = { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } };

// An operator should hear of an event that will never arrive (system_logs): retries used up or the URL refused.
async function deliverOrReport(deliver: () => Promise<unknown>, gaveUp: (error: string) => Promise<void>, report: () => boolean): Promise<void> {
  try {
    await deliver();
  } catch (err) {
    if (!isCancellation(err) && report()) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      await gaveUp(cause ?? String((err as Error).message ?? err));
    }
    throw err;
  }
}
