/**
 * The alert evaluator's activities (run by every API process on the alerts queue): one evaluation of every rule
 * against the measured quantities, recording transitions (alerts + alert_events) in one transaction, then starting
 * the signed webhook delivery of each new transition; and that delivery itself.
 */
import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { and, asc, count, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../../store/client.js';
import { alertEvents, alertRules, alerts, webhookDeliveries } from '../../store/schema.js';
import { countDeliveryGaveUp } from '../../metrics/webhook-metrics.js';
import type { SystemLog } from '../../store/system-logs.js';
import { collectAlertMetrics, type AlertMetricOptions, type AlertMetrics } from '../../store/alert-metrics.js';
import type { WebhookWorkflowInput } from '../../workflows/webhook-workflow.js';
import { resolveWith, seedBuiltinRules } from '../services/alerts.js';
import { decide, undecidedAtStartup } from './alert-decision.js';
import { deliverAlertWebhook, type AlertWebhookTarget } from './alert-webhook.js';

export interface AlertActivityDeps {
  db: Db;
  metrics: AlertMetricOptions;
  /** Where rules with a `webhook` channel notify; undefined = no alert webhook configured. */
  webhook?: AlertWebhookTarget;
  /** Webhook targets allowed although private/loopback. */
  allowHosts: readonly string[];
  /** One POST's time limit, ms. */
  webhookTimeoutMs: number;
  webhookRetryInitialSeconds: number;
  systemLog?: SystemLog;
}

/** What one evaluation did (the workflow's history shows it). */
export interface EvaluationSummary {
  skipped?: 'another evaluation holds the lock';
  metrics?: AlertMetrics;
  fired: string[];
  resolved: string[];
  suppressed: string[];
  dispatched: number;
}

// One evaluation at a time across API processes (an activity retried after a timeout may overlap its first try).
const EVALUATION_LOCK = 727275;

const LOG_LEVEL = { CRITICAL: 'CRITICAL', WARNING: 'WARNING', INFO: 'INFO' } as const;

/** Builds the activities around their dependencies. */
export function createAlertActivities(deps: AlertActivityDeps) {
  const log = deps.systemLog?.as('api', {});
  const startedAt = Date.now();
  let workerSeen = false;
  return {
    /** Evaluates every rule once; returns what changed. */
    async evaluateAlerts(): Promise<EvaluationSummary> {
      await seedBuiltinRules(deps.db);
      const metrics = await collectAlertMetrics(deps.db, deps.metrics);
      const undecided = undecidedAtStartup(metrics.active_workers, {
        workerSeen, secondsSinceStart: (Date.now() - startedAt) / 1000, graceSeconds: deps.metrics.staleSeconds,
      });
      workerSeen ||= (metrics.active_workers ?? 0) > 0;
      const summary: EvaluationSummary = { metrics, fired: [], resolved: [], suppressed: [], dispatched: 0 };
      const notices: { level: string; message: string; extra: Record<string, unknown>; log: boolean }[] = [];
      const locked = await deps.db.transaction(async (tx) => {
        const [lock] = await tx.execute<{ ok: boolean }>(sql`select pg_try_advisory_xact_lock(${EVALUATION_LOCK}) as ok`);
        if (!lock?.ok) return false;
        const now = new Date();
        const rules = await tx.select().from(alertRules);
        const firing = await tx.select().from(alerts).where(eq(alerts.resolved, false));
        const byRule = new Map(firing.map((a) => [a.ruleId, a]));
        for (const rule of rules) {
          if (undecided.has(rule.condition.metric)) continue;
          const value = (metrics as Record<string, number | null>)[rule.condition.metric] ?? null;
          const active = byRule.get(rule.id);
          const d = decide({
            enabled: rule.enabled, condition: rule.condition, cooldownSeconds: rule.cooldownSeconds, lastTriggered: rule.lastTriggered,
            value, firing: Boolean(active), now,
          });
          const c = rule.condition;
          const webhook = rule.notificationChannels.includes('webhook') && Boolean(deps.webhook);
          const extra = { rule_id: rule.id, metric: c.metric, operator: c.operator, threshold: c.threshold, value };
          if (d === 'fire') {
            const [a] = await tx.insert(alerts).values({
              ruleId: rule.id, level: rule.level, alertType: rule.alertType,
              message: `${rule.name}: ${c.metric} = ${fmt(value)} (${c.operator} ${c.threshold})`,
              details: { ...extra, fired_value: value, evaluated_at: now.toISOString() },
            }).onConflictDoNothing().returning();
            if (!a) continue;
            await tx.update(alertRules).set({ lastTriggered: now, triggerCount: sql`${alertRules.triggerCount} + 1` }).where(eq(alertRules.id, rule.id));
            await tx.insert(alertEvents).values({ alertId: a.id, ruleId: rule.id, type: 'firing', webhook });
            summary.fired.push(rule.id);
            notices.push({ level: rule.level, message: `alert firing: ${a.message}`, extra: { ...extra, alert_id: a.id }, log: rule.notificationChannels.includes('log') });
          } else if (d === 'resolve' && active) {
            const by = rule.enabled ? 'auto' : 'rule disabled';
            await resolveWith(tx, active.id, by, rule.id, webhook, { resolved_value: value });
            summary.resolved.push(rule.id);
            notices.push({ level: 'INFO', message: `alert resolved: ${rule.name} (${c.metric} = ${fmt(value)})`, extra: { ...extra, alert_id: active.id, resolved_by: by }, log: rule.notificationChannels.includes('log') });
          } else if (d === 'suppress') {
            summary.suppressed.push(rule.id);
          }
        }
        // Alerts whose rule was deleted (rule_id set null) end with it.
        for (const a of firing.filter((x) => x.ruleId === null)) {
          await resolveWith(tx, a.id, 'rule deleted', null, false, {});
          summary.resolved.push(a.id);
        }
        return true;
      });
      if (!locked) return { skipped: 'another evaluation holds the lock', fired: [], resolved: [], suppressed: [], dispatched: 0 };
      for (const n of notices) {
        if (!n.log) continue;
        log?.record(LOG_LEVEL[n.level as keyof typeof LOG_LEVEL] ?? 'WARNING', 'alerts', n.message, { extra: n.extra });
      }
      await log?.flush();
      summary.dispatched = await dispatchWebhooks();
      return summary;
    },

    /** POSTs one alert transition to the alert webhook (retried by the webhook workflow). */
    async deliverAlertWebhook(input: { alertEventId: number }): Promise<{ status: number }> {
      if (!deps.webhook) throw new Error('no alert webhook is configured');
      return deliverAlertWebhook({ db: deps.db, target: deps.webhook, allowHosts: deps.allowHosts, timeoutMs: deps.webhookTimeoutMs }, input);
    },

    /** Records that an alert transition's webhook will not be delivered. */
    async alertWebhookGaveUp(input: { alertEventId: number; error: string }): Promise<void> {
      const [e] = await deps.db.select().from(alertEvents).where(eq(alertEvents.id, input.alertEventId));
      const [attempts] = await deps.db.select({ n: count() }).from(webhookDeliveries).where(eq(webhookDeliveries.alertEventId, input.alertEventId));
      countDeliveryGaveUp();
      log?.error('alerts', 'alert webhook delivery given up', {
        extra: { alert_event_id: input.alertEventId, alert_id: e?.alertId, transition: e?.type, attempts: Number(attempts?.n ?? 0), error: input.error.slice(0, 500) },
      });
      await log?.flush();
    },
  };

  // Transitions whose rule notifies a webhook get one delivery workflow each (id `alert-webhook-<event id>`: a
  // retried evaluation or another API process never delivers one twice). Undispatched rows are picked up by the
  // next evaluation, so a crash between the transition and its dispatch delays the webhook, never loses it.
  async function dispatchWebhooks(): Promise<number> {
    if (!deps.webhook) return 0;
    const pending = await deps.db.select({ id: alertEvents.id }).from(alertEvents)
      .where(and(eq(alertEvents.webhook, true), isNull(alertEvents.dispatchedAt))).orderBy(asc(alertEvents.id)).limit(100);
    const client = Context.current().client;
    const taskQueue = Context.current().info.taskQueue;
    for (const { id } of pending) {
      const input: WebhookWorkflowInput = { alertEventId: id, retryInitialSeconds: deps.webhookRetryInitialSeconds };
      await client.workflow.start('webhookWorkflow', {
        taskQueue, workflowId: `alert-webhook-${id}`, args: [input], workflowIdReusePolicy: 'REJECT_DUPLICATE',
      }).catch((err) => { if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; });
      await deps.db.update(alertEvents).set({ dispatchedAt: new Date() }).where(eq(alertEvents.id, id));
    }
    return pending.length;
  }
}

function fmt(v: number | null): string {
  if (v === null) return 'n/a';
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

export type AlertActivities = ReturnType<typeof createAlertActivities>;
