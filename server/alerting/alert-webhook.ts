/**
 * One alert webhook POST: an alert's transition (firing or resolved), sent, signed and recorded in
 * `webhook_deliveries` like a task webhook (common/webhook-attempt.ts).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq } from 'drizzle-orm';
import { attemptWebhook, type WebhookAttemptDeps } from '../../common/webhook-attempt.js';
import { alertEvents, alertRules, alerts, webhookDeliveries } from '../../store/schema.js';
import { alertToApi } from '../services/alerts.js';

/** Where alert transitions go (MOFSIM_ALERT_WEBHOOK_URL / _SECRET). */
export interface AlertWebhookTarget { url: string; secret?: string }

export interface AlertWebhookDeps extends WebhookAttemptDeps {
  target: AlertWebhookTarget;
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
  // Delivered already (an activity retried after its answer was lost): not twice.
  const [done] = await deps.db.select({ status: webhookDeliveries.statusCode }).from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.alertEventId, event.id), eq(webhookDeliveries.ok, true))).limit(1);
  if (done) return { status: done.status ?? 200 };
  const [rule] = event.ruleId ? await deps.db.select().from(alertRules).where(eq(alertRules.id, event.ruleId)) : [];
  const name = `alert.${event.type}`;
  const body = JSON.stringify({
    type: 'alert',
    event: name,
    id: `alert_evt_${event.id}`,
    created_at: event.createdAt.toISOString(),
    alert: alertToApi(alert),
    rule: rule ? { id: rule.id, name: rule.name, level: rule.level, condition: rule.condition, cooldown_seconds: rule.cooldownSeconds } : null,
  });
  return attemptWebhook(deps, {
    subject: { alertEventId: event.id },
    url: deps.target.url,
    ...(deps.target.secret ? { secret: deps.target.secret } : {}),
    event: name,
    idempotencyKey: `alert:${alert.id}:${event.type}`,
    body,
    attempt: Context.current().info.attempt,
  });
}
