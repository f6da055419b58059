/**
 * Alert rules (CRUD), fired alerts and their stats. The rules are evaluated by the alert evaluator workflow
 * (server/alerting/); a resolution by hand records the same transition the evaluator does, so it notifies too.
 */
import { and, count, desc, eq, not, sql } from 'drizzle-orm';
import { ALERT_METRICS } from '../../store/alert-metrics.js';
import { alertEvents, alertRules, alerts, type AlertRow, type AlertRuleRow } from '../../store/schema.js';
import type { Db } from '../../store/client.js';
import { alertNotFound, conflict, invalidParameter } from '../errors.js';

/** The Python service's built-in rules (CONTRACT §8), seeded once. */
const BUILTIN_RULES = [
  { id: 'gpu_unavailable', name: 'GPU unavailable', alertType: 'gpu', level: 'CRITICAL', condition: { metric: 'available_gpus', operator: '<', threshold: 1 }, cooldownSeconds: 60 },
  { id: 'gpu_memory_low', name: 'GPU memory low', alertType: 'gpu', level: 'WARNING', condition: { metric: 'min_gpu_free_memory_gb', operator: '<', threshold: 2 }, cooldownSeconds: 300 },
  { id: 'gpu_temp_high', name: 'GPU temperature high', alertType: 'gpu', level: 'WARNING', condition: { metric: 'max_gpu_temp', operator: '>', threshold: 85 }, cooldownSeconds: 300 },
  { id: 'queue_backlog', name: 'Queue backlog', alertType: 'queue', level: 'WARNING', condition: { metric: 'queue_length', operator: '>', threshold: 100 }, cooldownSeconds: 600 },
  { id: 'task_failures', name: 'Consecutive task failures', alertType: 'task', level: 'WARNING', condition: { metric: 'consecutive_failures', operator: '>', threshold: 5 }, cooldownSeconds: 300 },
  { id: 'disk_space_low', name: 'Disk space low', alertType: 'system', level: 'WARNING', condition: { metric: 'disk_free_gb', operator: '<', threshold: 50 }, cooldownSeconds: 3600 },
  { id: 'worker_offline', name: 'No worker online', alertType: 'worker', level: 'CRITICAL', condition: { metric: 'active_workers', operator: '<', threshold: 1 }, cooldownSeconds: 60 },
];

// Per database (tests run several stacks in one process).
const seeded = new WeakSet<Db>();
/** Inserts the built-in rules once (a rule an admin changed or deleted is not brought back while the process runs). */
export async function seedBuiltinRules(db: Db) {
  if (seeded.has(db)) return;
  await db.insert(alertRules).values(BUILTIN_RULES.map((r) => ({ ...r, description: r.name, notificationChannels: ['log', 'webhook'] }))).onConflictDoNothing();
  seeded.add(db);
}
const seed = seedBuiltinRules;

// The metric must be one the evaluator measures: a typo would otherwise give a rule that silently never fires.
function checkCondition(c: { metric: string } | undefined) {
  if (c && !Object.hasOwn(ALERT_METRICS, c.metric)) {
    throw invalidParameter(`unknown alert metric ${c.metric}; known: ${Object.keys(ALERT_METRICS).join(', ')}`, 'condition.metric', 'UNKNOWN_METRIC');
  }
}

export interface RuleInput {
  id?: string;
  name?: string;
  description?: string;
  alert_type?: string;
  level?: string;
  condition?: { metric: string; operator: string; threshold: number };
  enabled?: boolean;
  cooldown_seconds?: number;
  notification_channels?: string[];
}

export function ruleToApi(r: AlertRuleRow) {
  return {
    id: r.id, name: r.name, description: r.description, alert_type: r.alertType, level: r.level, condition: r.condition,
    enabled: r.enabled, cooldown_seconds: r.cooldownSeconds, notification_channels: r.notificationChannels,
    last_triggered: r.lastTriggered?.toISOString() ?? null, trigger_count: r.triggerCount,
    created_at: r.createdAt.toISOString(), updated_at: r.updatedAt.toISOString(),
  };
}

export function alertToApi(a: AlertRow) {
  return {
    id: a.id, rule_id: a.ruleId, level: a.level, alert_type: a.alertType, message: a.message, details: a.details,
    resolved: a.resolved, resolved_at: a.resolvedAt?.toISOString() ?? null, resolved_by: a.resolvedBy, created_at: a.createdAt.toISOString(),
  };
}

export async function listRules(db: Db) {
  await seed(db);
  return db.select().from(alertRules).orderBy(alertRules.id);
}

export async function getRule(db: Db, id: string) {
  await seed(db);
  const [r] = await db.select().from(alertRules).where(eq(alertRules.id, id));
  if (!r) throw alertNotFound('alert rule', id);
  return r;
}

export async function createRule(db: Db, input: RuleInput & { name: string; condition: { metric: string; operator: string; threshold: number } }) {
  await seed(db);
  checkCondition(input.condition);
  const id = input.id ?? (input.name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '').slice(0, 60) || 'rule');
  const [r] = await db.insert(alertRules).values({
    id, name: input.name, description: input.description ?? '', alertType: input.alert_type ?? 'custom', level: input.level ?? 'WARNING',
    condition: input.condition, enabled: input.enabled ?? true, cooldownSeconds: input.cooldown_seconds ?? 300,
    notificationChannels: input.notification_channels ?? ['log'],
  }).onConflictDoNothing().returning();
  if (!r) throw conflict(40906, 'RULE_EXISTS', `alert rule ${id} already exists`, 'id');
  return r;
}

export async function updateRule(db: Db, id: string, input: RuleInput) {
  await getRule(db, id);
  checkCondition(input.condition);
  const [r] = await db.update(alertRules).set({
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.description !== undefined ? { description: input.description } : {}),
    ...(input.alert_type !== undefined ? { alertType: input.alert_type } : {}),
    ...(input.level !== undefined ? { level: input.level } : {}),
    ...(input.condition !== undefined ? { condition: input.condition } : {}),
    ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
    ...(input.cooldown_seconds !== undefined ? { cooldownSeconds: input.cooldown_seconds } : {}),
    ...(input.notification_channels !== undefined ? { notificationChannels: input.notification_channels } : {}),
    updatedAt: new Date(),
  }).where(eq(alertRules.id, id)).returning();
  return r!;
}

export async function deleteRule(db: Db, id: string) {
  await getRule(db, id);
  await db.delete(alertRules).where(eq(alertRules.id, id));
}

export async function listAlerts(db: Db, q: { level?: string; resolved?: boolean; page: number; pageSize: number }) {
  const where = and(q.level ? eq(alerts.level, q.level) : undefined, q.resolved === undefined ? undefined : eq(alerts.resolved, q.resolved));
  const [{ n }] = (await db.select({ n: count() }).from(alerts).where(where)) as [{ n: number }];
  const items = await db.select().from(alerts).where(where).orderBy(desc(alerts.createdAt)).limit(q.pageSize).offset((q.page - 1) * q.pageSize);
  return { items, total: Number(n) };
}

/** Resolves an unresolved alert and records the transition; false when it was already resolved (or is unknown). */
export async function resolveWith(
  tx: Pick<Db, 'update' | 'insert'>, alertId: string, by: string, ruleId: string | null, webhook: boolean, details: Record<string, unknown>,
): Promise<boolean> {
  const [a] = await tx.update(alerts).set({
    resolved: true, resolvedAt: new Date(), resolvedBy: by,
    details: sql`${alerts.details} || ${JSON.stringify({ ...details, resolved_by: by })}::jsonb`,
  }).where(and(eq(alerts.id, alertId), not(alerts.resolved))).returning({ id: alerts.id });
  if (!a) return false;
  await tx.insert(alertEvents).values({ alertId, ruleId, type: 'resolved', webhook });
  return true;
}

/**
 * Resolves an alert by hand. An unresolved one gets its `resolved` transition (notified like the evaluator's, when
 * its rule has a webhook channel and `webhookConfigured`); an already resolved one is answered as it is. The rule
 * fires again once its cooldown has passed if the condition still holds.
 */
export async function resolveAlert(db: Db, id: string, by: string, webhookConfigured = false) {
  const [current] = await db.select().from(alerts).where(eq(alerts.id, id));
  if (!current) throw alertNotFound('alert', id);
  if (!current.resolved) {
    const [rule] = current.ruleId ? await db.select().from(alertRules).where(eq(alertRules.id, current.ruleId)) : [];
    await db.transaction((tx) => resolveWith(tx, id, by, current.ruleId, webhookConfigured && Boolean(rule?.notificationChannels.includes('webhook')), {}));
  }
  const [a] = await db.select().from(alerts).where(eq(alerts.id, id));
  return a!;
}

const LEVELS = ['CRITICAL', 'WARNING', 'INFO'];

/**
 * Counts of fired alerts (`GET /alerts/stats`): total, unresolved, resolved, and per level (every level present,
 * zero when none fired). `webhook_configured` tells whether transitions of rules with a `webhook` channel are POSTed
 * (MOFSIM_ALERT_WEBHOOK_URL is set); task webhooks are per task (`options.callback`).
 */
export async function alertStats(db: Db, webhookConfigured: boolean) {
  const rows = await db.select({ level: alerts.level, resolved: alerts.resolved, n: count() }).from(alerts).groupBy(alerts.level, alerts.resolved);
  const byLevel: Record<string, number> = Object.fromEntries(LEVELS.map((l) => [l, 0]));
  const activeByLevel: Record<string, number> = Object.fromEntries(LEVELS.map((l) => [l, 0]));
  let total = 0;
  let active = 0;
  for (const r of rows) {
    const n = Number(r.n);
    total += n;
    byLevel[r.level] = (byLevel[r.level] ?? 0) + n;
    if (!r.resolved) {
      active += n;
      activeByLevel[r.level] = (activeByLevel[r.level] ?? 0) + n;
    }
  }
  return {
    total_alerts: total, active_alerts: active, resolved_alerts: total - active, by_level: byLevel, active_by_level: activeByLevel,
    webhook_configured: webhookConfigured,
  };
}
