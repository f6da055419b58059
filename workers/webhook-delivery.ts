/** One task or campaign webhook POST: the payload of one task event or campaign event, sent and recorded by common/webhook-attempt.ts. */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import { attemptWebhook, type WebhookAttemptDeps } from '../common/webhook-attempt.js';
import { WEBHOOK_EVENTS } from '../common/webhook-policy.js';
import { campaignEvents, campaigns, taskEvents, tasks } from '../store/schema.js';

export type WebhookDeps = WebhookAttemptDeps;

interface Callback { url: string; events?: string[]; secret?: string }

/**
 * POSTs the event; throws a retryable failure on anything but a 2xx answer. `deliveryId` (a resend) replaces the
 * event's shared idempotency key and adds `X-MOFSim-Resend: true`; the signed body is the event's, unchanged.
 */
export async function deliverWebhook(deps: WebhookDeps, input: { taskId: string; eventId: number; deliveryId?: string }): Promise<{ status: number }> {
  const [task] = await deps.db.select().from(tasks).where(eq(tasks.id, input.taskId));
  const [event] = await deps.db.select().from(taskEvents).where(eq(taskEvents.id, input.eventId));
  const callback = task?.options?.callback as Callback | undefined;
  if (!task || !event || !callback?.url) throw ApplicationFailure.nonRetryable(`nothing to deliver for event ${input.eventId}`, 'TASK_NOT_FOUND');
  const name = WEBHOOK_EVENTS[event.type] ?? `task.${event.type}`;
  const body = JSON.stringify({
    id: `evt_${event.id}`,
    type: name,
    created_at: event.createdAt.toISOString(),
    task: { task_id: task.id, task_type: task.taskType, status: task.status, model: task.model, progress: task.progress },
    data: event.data,
  });
  return attemptWebhook(deps, {
    subject: { taskId: task.id, eventId: event.id },
    url: callback.url,
    ...(callback.secret ? { secret: callback.secret } : {}),
    event: name,
    idempotencyKey: input.deliveryId ?? `${task.id}:${event.id}`,
    body,
    ...(input.deliveryId ? { headers: { 'x-mofsim-resend': 'true' } } : {}),
    attempt: Context.current().info.attempt,
  });
}

/**
 * POSTs one campaign event: `{id: "cevt_<event id>", type: "campaign.progress" | "campaign.completed", created_at,
 * campaign: {campaign_id, name, status}, data}` with the task webhooks' headers and signature; the delivery id is
 * `campaign:<campaign id>:<event id>`.
 */
export async function deliverCampaignWebhook(deps: WebhookDeps, input: { campaignEventId: number }): Promise<{ status: number }> {
  const [event] = await deps.db.select().from(campaignEvents).where(eq(campaignEvents.id, input.campaignEventId));
  const [campaign] = event ? await deps.db.select().from(campaigns).where(eq(campaigns.id, event.campaignId)) : [];
  const callback = campaign?.options?.callback as Callback | undefined;
  if (!event || !campaign || !callback?.url) throw ApplicationFailure.nonRetryable(`nothing to deliver for campaign event ${input.campaignEventId}`, 'CAMPAIGN_EVENT_NOT_FOUND');
  const name = `campaign.${event.type}`;
  const body = JSON.stringify({
    id: `cevt_${event.id}`,
    type: name,
    created_at: event.createdAt.toISOString(),
    campaign: { campaign_id: campaign.id, name: campaign.name, status: (event.data as { status?: string }).status ?? campaign.status },
    data: event.data,
  });
  return attemptWebhook(deps, {
    subject: { campaignEventId: event.id },
    url: callback.url,
    ...(callback.secret ? { secret: callback.secret } : {}),
    event: name,
    idempotencyKey: `campaign:${campaign.id}:${event.id}`,
    body,
    attempt: Context.current().info.attempt,
  });
}
