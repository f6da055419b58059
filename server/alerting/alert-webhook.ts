/**
 * One alert webhook POST: an alert's transition (firing or resolved), signed like task webhooks, its outcome kept
 * on the transition's row (`alert_events`: attempts, last status, delivered_at).
 */
import { ApplicationFailure } from '@temporalio/common';
import { eq, sql } from 'drizzle-orm';
import { pinnedPost, vetUrl } from '../../common/address-policy.js';
import { signWebhook } from '../../common/webhook-policy.js';
import type { Db } from '../../store/client.js';
import { alertEvents, alertRules, alerts } from '../../store/schema.js';
import { alertToApi } from '../services/alerts.js';

/** Where alert transitions go (MOFSIM_ALERT_WEBHOOK_URL / _SECRET). */
export interface AlertWebhookTarget { url: string; secret?: string }

export interface AlertWebhookDeps {
  db: Db;
  target: AlertWebhookTarget;
  allowHosts: readonly string[];
  timeoutMs: number;
}

/**
 * POSTs `{type: "alert", event, id, created_at, alert, rule}` with the task webhooks' headers: `X-MOFSim-Event`
 * (`alert.firing` | `alert.resolved`), `X-MOFSim-Delivery` and `Idempotency-Key` (`alert:<alert id>:<transition>`,
 * the same on every retry), `X-MOFSim-Timestamp`, and with a secret `X-MOFSim-Signature`. Throws a retryable
 * failure on anything but a 2xx answer.
 */
export async function deliverAlertWebhook(deps: AlertWebhookDeps, input: { alertEventId: number }): Promise<{ status: number }> {
  const [event] = await deps.db.select().from(alertEvents).where(eq(alertEvents.id, input.alertEventId));
  const [alert] = event ? await deps.db.select().from(alerts).where(eq(alerts.id, event.alertId)) : [];
  if (!event || !alert) throw ApplicationFailure.nonRetryable(`no alert transition ${input.alertEventId}`, 'ALERT_NOT_FOUND');
  if (event.deliveredAt) return { status: event.lastStatusCode ?? 200 };
  const [rule] = event.ruleId ? await deps.db.select().from(alertRules).where(eq(alertRules.id, event.ruleId)) : [];
  const record = (row: { statusCode?: number; ok: boolean; error?: string }) => deps.db.update(alertEvents).set({
    attempts: sql`${alertEvents.attempts} + 1`, lastStatusCode: row.statusCode ?? null, lastError: row.error ?? null,
    ...(row.ok ? { deliveredAt: new Date() } : {}),
  }).where(eq(alertEvents.id, event.id));

  // Checked at every delivery (DNS may change), and the POST goes to the address checked now.
  const target = await vetUrl(deps.target.url, deps.allowHosts);
  if ('refused' in target) {
    const refused = `alert webhook ${target.refused}`;
    await record({ ok: false, error: refused });
    throw ApplicationFailure.nonRetryable(refused, 'WEBHOOK_URL_REFUSED');
  }
  const name = `alert.${event.type}`;
  const idempotencyKey = `alert:${alert.id}:${event.type}`;
  const body = JSON.stringify({
    type: 'alert',
    event: name,
    id: `alert_evt_${event.id}`,
    created_at: event.createdAt.toISOString(),
    alert: alertToApi(alert),
    rule: rule ? { id: rule.id, name: rule.name, level: rule.level, condition: rule.condition, cooldown_seconds: rule.cooldownSeconds } : null,
  });
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'mofsim-webhooks/1',
    'x-mofsim-event': name,
    'x-mofsim-delivery': idempotencyKey,
    'idempotency-key': idempotencyKey,
    'x-mofsim-timestamp': String(timestamp),
  };
  if (deps.target.secret) headers['x-mofsim-signature'] = signWebhook(deps.target.secret, timestamp, body);
  try {
    const status = await pinnedPost(target, headers, body, deps.timeoutMs);
    const ok = status >= 200 && status < 300;
    await record({ statusCode: status, ok, ...(ok ? {} : { error: `receiver answered ${status}` }) });
    if (!ok) throw ApplicationFailure.retryable(`receiver answered ${status}`, 'WEBHOOK_REJECTED');
    return { status };
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    await record({ ok: false, error: String((err as Error).message ?? err) });
    throw ApplicationFailure.retryable(`delivery failed: ${(err as Error).message}`, 'WEBHOOK_UNREACHABLE');
  }
}
