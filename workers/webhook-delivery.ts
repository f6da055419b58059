/** One webhook POST: the signed payload of one task event, logged in `webhook_deliveries`. */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import { pinnedPost, vetUrl } from '../common/address-policy.js';
import { countDeliveryAttempt } from '../metrics/webhook-metrics.js';
import { signWebhook, WEBHOOK_EVENTS } from '../common/webhook-policy.js';
import type { Db } from '../store/client.js';
import { taskEvents, tasks, webhookDeliveries } from '../store/schema.js';

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
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'mofsim-webhooks/1',
    'x-mofsim-event': name,
    'x-mofsim-delivery': idempotencyKey,
    'idempotency-key': idempotencyKey,
    'x-mofsim-timestamp': String(timestamp),
    ...(input.deliveryId ? { 'x-mofsim-resend': 'true' } : {}),
  };
  if (callback.secret) headers['x-mofsim-signature'] = signWebhook(callback.secret, timestamp, body);
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
