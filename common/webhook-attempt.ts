/**
 * One signed webhook POST attempt, for a task event, an alert transition or a campaign event alike: the URL checked by the address
 * policy at every attempt (DNS may change) and the POST sent to the address checked, the task webhooks' headers
 * and signature, the attempt recorded in `webhook_deliveries` and counted in the delivery metrics. The callers
 * build the body; the webhook workflow retries.
 */
import { ApplicationFailure } from '@temporalio/common';
import { pinnedPost, vetUrl } from './address-policy.js';
import { signWebhook } from './webhook-policy.js';
import { countDeliveryAttempt } from '../metrics/webhook-metrics.js';
import type { Db } from '../store/client.js';
import { webhookDeliveries } from '../store/schema.js';

export interface WebhookAttemptDeps {
  db: Db;
  /** Webhook targets allowed although private/loopback. */
  allowHosts: readonly string[];
  /** The POST's time limit, ms. */
  timeoutMs: number;
}

export interface WebhookAttempt {
  /** What is delivered: a task event, an alert transition (`alert_events` row) or a campaign event (`campaign_events` row). */
  subject: { taskId: string; eventId: number } | { alertEventId: number } | { campaignEventId: number };
  url: string;
  /** HMAC secret: with one, `X-MOFSim-Signature: t=<unix>,v1=<hex>` over `<t>.<body>`. */
  secret?: string;
  /** `X-MOFSim-Event`, e.g. `task.completed`, `alert.firing`. */
  event: string;
  /** `X-MOFSim-Delivery` and `Idempotency-Key`: the same on every retry of one delivery. */
  idempotencyKey: string;
  body: string;
  /** More headers (a resend's `X-MOFSim-Resend`). */
  headers?: Record<string, string>;
  /** The activity's attempt number (recorded). */
  attempt: number;
}

/**
 * Sends one attempt; throws `WEBHOOK_URL_REFUSED` (non-retryable) when the address policy refuses the URL and a
 * retryable `WEBHOOK_REJECTED` / `WEBHOOK_UNREACHABLE` on anything but a 2xx answer.
 */
export async function attemptWebhook(deps: WebhookAttemptDeps, a: WebhookAttempt): Promise<{ status: number }> {
  const record = (row: { statusCode?: number; ok: boolean; error?: string; durationMs?: number }) =>
    deps.db.insert(webhookDeliveries).values({ ...a.subject, event: a.event, url: a.url, idempotencyKey: a.idempotencyKey, attempt: a.attempt, ...row });
  const target = await vetUrl(a.url, deps.allowHosts);
  if ('refused' in target) {
    // The `callback ` prefix marks a refusal in the log (the webhook backlog leaves refused URLs out: no retry).
    const refused = `callback ${target.refused}`;
    await record({ ok: false, error: refused });
    countDeliveryAttempt('refused');
    throw ApplicationFailure.nonRetryable(refused, 'WEBHOOK_URL_REFUSED');
  }
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'mofsim-webhooks/1',
    'x-mofsim-event': a.event,
    'x-mofsim-delivery': a.idempotencyKey,
    'idempotency-key': a.idempotencyKey,
    'x-mofsim-timestamp': String(timestamp),
    ...a.headers,
  };
  if (a.secret) headers['x-mofsim-signature'] = signWebhook(a.secret, timestamp, a.body);
  const t0 = Date.now();
  try {
    const status = await pinnedPost(target, headers, a.body, deps.timeoutMs);
    const ok = status >= 200 && status < 300;
    await record({ statusCode: status, ok, durationMs: Date.now() - t0 });
    countDeliveryAttempt(ok ? 'delivered' : 'rejected');
    if (!ok) throw ApplicationFailure.retryable(`receiver answered ${status}`, 'WEBHOOK_REJECTED');
    return { status };
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    await record({ ok: false, error: String((err as Error).message ?? err), durationMs: Date.now() - t0 });
    countDeliveryAttempt('unreachable');
    throw ApplicationFailure.retryable(`delivery failed: ${(err as Error).message}`, 'WEBHOOK_UNREACHABLE');
  }
}
