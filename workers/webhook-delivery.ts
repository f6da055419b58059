/**
 * One webhook POST: the signed payload of one task event (logged in `webhook_deliveries`) or of one campaign event
 * (its outcome kept on the `campaign_events` row).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { eq, sql } from 'drizzle-orm';
import { pinnedPost, vetUrl } from '../common/address-policy.js';
import { countDeliveryAttempt } from '../metrics/webhook-metrics.js';
import { webhookHeaders, WEBHOOK_EVENTS } from '../common/webhook-policy.js';
import type { Db } from '../store/client.js';
import { campaignEvents, campaigns, taskEvents, tasks, webhookDeliveries } from '../store/schema.js';

export interface WebhookDeps {
  db: Db;
  allowHosts: readonly string[];
  timeoutMs: number;
}

interface Callback { url: string; events?: string[]; secret?: string }

/**
 * POSTs the event; throws a retryable failure on anything but a 2xx answer. `deliveryId` (a resend) replaces the
 * event's shared idempotency key and adds `X-MOFSim-Resend: true`; the signed body is the event's, unchanged.
 */
export async function deliverWebhook(deps: WebhookDeps, input: { taskId: string; eventId: number; deliveryId?: string }): Promise<{ status: number }> {
  const attempt = Context.current().info.attempt;
  const [task] = await deps.db.select().from(tasks).where(eq(tasks.id, input.taskId));
  const [event] = await deps.db.select().from(taskEvents).where(eq(taskEvents.id, input.eventId));
  const callback = task?.options?.callback as Callback | undefined;
  if (!task || !event || !callback?.url) throw ApplicationFailure.nonRetryable(`nothing to deliver for event ${input.eventId}`, 'TASK_NOT_FOUND');
  const name = WEBHOOK_EVENTS[event.type] ?? `task.${event.type}`;
  const idempotencyKey = input.deliveryId ?? `${task.id}:${event.id}`;
  const log = (row: { statusCode?: number; ok: boolean; error?: string; durationMs?: number }) =>
    deps.db.insert(webhookDeliveries).values({ taskId: task.id, eventId: event.id, event: name, url: callback.url, idempotencyKey, attempt, ...row });

  // Checked again at delivery (DNS may have changed since submission), and the POST goes to the address checked now.
  const target = await vetUrl(callback.url, deps.allowHosts);
  if ('refused' in target) {
    const refused = `callback ${target.refused}`;
    await log({ ok: false, error: refused });
    countDeliveryAttempt('refused');
    throw ApplicationFailure.nonRetryable(refused, 'WEBHOOK_URL_REFUSED');
  }
  const body = JSON.stringify({
    id: `evt_${event.id}`,
    type: name,
    created_at: event.createdAt.toISOString(),
    task: { task_id: task.id, task_type: task.taskType, status: task.status, model: task.model, progress: task.progress },
    data: event.data,
  });
  const headers = webhookHeaders({ event: name, deliveryId: idempotencyKey, body, secret: callback.secret, resend: !!input.deliveryId });
  const t0 = Date.now();
  try {
    const status = await pinnedPost(target, headers, body, deps.timeoutMs);
    const ok = status >= 200 && status < 300;
    await log({ statusCode: status, ok, durationMs: Date.now() - t0 });
    countDeliveryAttempt(ok ? 'delivered' : 'rejected');
    if (!ok) throw ApplicationFailure.retryable(`receiver answered ${status}`, 'WEBHOOK_REJECTED');
    return { status };
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    await log({ ok: false, error: String((err as Error).message ?? err), durationMs: Date.now() - t0 });
    countDeliveryAttempt('unreachable');
    throw ApplicationFailure.retryable(`delivery failed: ${(err as Error).message}`, 'WEBHOOK_UNREACHABLE');
  }
}

/**
 * POSTs one campaign event: `{id: "cevt_<event id>", type: "campaign.progress" | "campaign.completed", created_at,
 * campaign: {campaign_id, name, status}, data}` with the task webhooks' headers and signature; the delivery id is
 * `campaign:<campaign id>:<event id>`. Throws a retryable failure on anything but a 2xx answer.
 */
export async function deliverCampaignWebhook(deps: WebhookDeps, input: { campaignEventId: number }): Promise<{ status: number }> {
  const [event] = await deps.db.select().from(campaignEvents).where(eq(campaignEvents.id, input.campaignEventId));
  const [campaign] = event ? await deps.db.select().from(campaigns).where(eq(campaigns.id, event.campaignId)) : [];
  const callback = campaign?.options?.callback as Callback | undefined;
  if (!event || !campaign || !callback?.url) throw ApplicationFailure.nonRetryable(`nothing to deliver for campaign event ${input.campaignEventId}`, 'CAMPAIGN_EVENT_NOT_FOUND');
  if (event.deliveredAt) return { status: event.lastStatusCode ?? 200 };
  const record = (row: { statusCode?: number; ok: boolean; error?: string }) => deps.db.update(campaignEvents).set({
    attempts: sql`${campaignEvents.attempts} + 1`, lastStatusCode: row.statusCode ?? null, lastError: row.error ?? null,
    ...(row.ok ? { deliveredAt: new Date() } : {}),
  }).where(eq(campaignEvents.id, event.id));

  const target = await vetUrl(callback.url, deps.allowHosts);
  if ('refused' in target) {
    const refused = `callback ${target.refused}`;
    await record({ ok: false, error: refused });
    countDeliveryAttempt('refused');
    throw ApplicationFailure.nonRetryable(refused, 'WEBHOOK_URL_REFUSED');
  }
  const name = `campaign.${event.type}`;
  const body = JSON.stringify({
    id: `cevt_${event.id}`,
    type: name,
    created_at: event.createdAt.toISOString(),
    campaign: { campaign_id: campaign.id, name: campaign.name, status: (event.data as { status?: string }).status ?? campaign.status },
    data: event.data,
  });
  const headers = webhookHeaders({ event: name, deliveryId: `campaign:${campaign.id}:${event.id}`, body, secret: callback.secret });
  try {
    const status = await pinnedPost(target, headers, body, deps.timeoutMs);
    const ok = status >= 200 && status < 300;
    await record({ statusCode: status, ok, ...(ok ? {} : { error: `receiver answered ${status}` }) });
    countDeliveryAttempt(ok ? 'delivered' : 'rejected');
    if (!ok) throw ApplicationFailure.retryable(`receiver answered ${status}`, 'WEBHOOK_REJECTED');
    return { status };
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    await record({ ok: false, error: String((err as Error).message ?? err) });
    countDeliveryAttempt('unreachable');
    throw ApplicationFailure.retryable(`delivery failed: ${(err as Error).message}`, 'WEBHOOK_UNREACHABLE');
  }
}
