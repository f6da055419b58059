/**
 * Alerts that work, on a real stack (Postgres, Temporal, the API's alert worker, a real CPU worker): stopping the
 * only worker fires "no worker online" within one evaluation, starting it resolves the alert, the alert is
 * deduplicated while the outage lasts, each transition is delivered as exactly one signed webhook, and a rule in
 * its cooldown stays quiet through a second outage while a rule without one fires again.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ALERT_EVALUATOR_WORKFLOW_ID } from '../workflows/alert-workflow.js';
import { api, startTestStack, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from './helpers/webhook-receiver.js';

const SECRET = 'alert-webhook-secret';
const WORKER = 'alert-test-worker';
let stack: TestStack;
let receiver: WebhookReceiver;

before(async () => {
  receiver = await startWebhookReceiver();
  stack = await startTestStack({
    workers: 0,
    alerting: true,
    env: {
      MOFSIM_ALERT_INTERVAL_S: '1',
      // The start-up grace lasts until a worker is seen or this long: long enough that the worker's start (which
      // the built-in rule must not report) always falls inside it, even on a slow machine.
      MOFSIM_WORKER_STALE_S: '120',
      MOFSIM_ALERT_WEBHOOK_URL: receiver.url,
      MOFSIM_ALERT_WEBHOOK_SECRET: SECRET,
      MOFSIM_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
      MOFSIM_WEBHOOK_RETRY_INITIAL_S: '0.5',
    },
  });
  await stack.startWorker(WORKER);
});
after(async () => {
  await stack?.stop();
  receiver?.close();
});

const admin = () => ({ key: stack.adminKey });
const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

// Evaluations completed so far, from the evaluator's history (a new run after continue-as-new counts on).
const runsSeen = new Map<string, number>();
async function evaluations(): Promise<number> {
  const handle = stack.temporalClient.workflow.getHandle(ALERT_EVALUATOR_WORKFLOW_ID);
  const { runId } = await handle.describe();
  const history = await handle.fetchHistory();
  const done = (history.events ?? []).filter((e) => e.activityTaskCompletedEventAttributes).length;
  runsSeen.set(runId, done);
  return [...runsSeen.values()].reduce((a, b) => a + b, 0);
}
/** Waits until `n` more evaluations have completed. */
async function evaluationsPass(n: number): Promise<void> {
  const start = await evaluations();
  await until(`${n} more alert evaluations`, async () => (await evaluations()) >= start + n, 120_000, 250);
}

const hooksOf = (ruleId: string): (ReceivedHook & { json: any })[] => receiver.received
  .map((h) => ({ ...h, json: JSON.parse(h.body) }))
  .filter((h) => h.json.alert?.rule_id === ruleId);

async function alertsOf(ruleId: string): Promise<any[]> {
  const { body } = await api(stack.baseUrl, '/api/v1/alerts/history?page_size=100', {}, admin());
  return body.data.items.filter((a: any) => a.rule_id === ruleId);
}
async function rule(id: string): Promise<any> {
  return (await api(stack.baseUrl, `/api/v1/alerts/rules/${id}`, {}, admin())).body.data;
}

async function stopWorker(): Promise<void> {
  const w = stack.workers.find((x) => x.id === WORKER)!;
  stack.workers.splice(stack.workers.indexOf(w), 1);
  await w.drain('alert test');
}

describe('alert rules evaluated by the alert evaluator workflow', () => {
  it('refuses a rule on a metric the evaluator does not measure', async () => {
    const r = await api(stack.baseUrl, '/api/v1/alerts/rules', json('POST', {
      name: 'typo', condition: { metric: 'active_wrokers', operator: '<', threshold: 1 },
    }), admin());
    assert.equal(r.status, 400);
    assert.equal(r.body.error.type, 'UNKNOWN_METRIC');
    assert.equal(r.body.error.field, 'condition.metric');
  });

  it('does not report the worker of a starting stack as an outage, and reports an outage at once once a worker was seen', async () => {
    // The stack started with no worker and the evaluator running every second; the worker came up afterwards.
    await evaluationsPass(2);
    assert.deepEqual(await alertsOf('worker_offline'), [], 'the built-in rule stayed quiet while the worker started');
    await stopWorker();
    await evaluationsPass(2);
    const [fired, ...more] = await alertsOf('worker_offline');
    assert.equal(more.length, 0);
    assert.equal(fired?.resolved, false, 'no worker after one was seen: fired well before the 120 s grace');
    await stack.startWorker(WORKER);
    await evaluationsPass(2);
    assert.equal((await alertsOf('worker_offline'))[0]?.resolved, true);
  });

  it('fires when the only worker stops, resolves when it is back, deduplicates, notifies once per transition, and respects the cooldown', async () => {
    // A: no cooldown (fires on every outage); B: an hour's cooldown (fires once).
    for (const [id, cooldown] of [['no_worker_a', 0], ['no_worker_b', 3600]] as const) {
      const r = await api(stack.baseUrl, '/api/v1/alerts/rules', json('POST', {
        id, name: `No worker (${id})`, level: 'CRITICAL', alert_type: 'worker', cooldown_seconds: cooldown,
        condition: { metric: 'active_workers', operator: '<', threshold: 1 }, notification_channels: ['log', 'webhook'],
      }), admin());
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    await evaluationsPass(2);
    assert.deepEqual(await alertsOf('no_worker_a'), [], 'a worker is online: nothing fires');

    // Outage 1: both fire, within one evaluation that started after the worker went offline.
    await stopWorker();
    await evaluationsPass(2);
    for (const id of ['no_worker_a', 'no_worker_b']) {
      const fired = await alertsOf(id);
      assert.equal(fired.length, 1, `${id} fired once`);
      assert.equal(fired[0].resolved, false);
      assert.equal(fired[0].level, 'CRITICAL');
      assert.equal(fired[0].details.value, 0);
    }
    const active = (await api(stack.baseUrl, '/api/v1/alerts/active', {}, admin())).body.data;
    assert.ok(active.alerts.some((a: any) => a.rule_id === 'no_worker_a'));
    // Deduplicated: more evaluations while the condition holds add no alert and no notification.
    await evaluationsPass(3);
    assert.equal((await alertsOf('no_worker_a')).length, 1);
    await until('the firing webhooks', async () => hooksOf('no_worker_a').length >= 1 && hooksOf('no_worker_b').length >= 1);

    // Back: both resolve within one evaluation.
    await stack.startWorker(WORKER);
    await evaluationsPass(2);
    for (const id of ['no_worker_a', 'no_worker_b']) {
      const [a] = await alertsOf(id);
      assert.equal(a.resolved, true, `${id} resolved`);
      assert.equal(a.resolved_by, 'auto');
    }
    await until('the resolved webhooks', async () => hooksOf('no_worker_a').length >= 2 && hooksOf('no_worker_b').length >= 2);

    // Outage 2: A fires again; B is in its cooldown and stays quiet.
    await stopWorker();
    await evaluationsPass(2);
    assert.equal((await alertsOf('no_worker_a')).filter((a) => !a.resolved).length, 1);
    assert.equal((await alertsOf('no_worker_b')).length, 1, 'B in its cooldown: no new alert');
    assert.equal((await rule('no_worker_b')).trigger_count, 1);
    await stack.startWorker(WORKER);
    await evaluationsPass(2);
    assert.ok((await alertsOf('no_worker_a')).every((a) => a.resolved));
    assert.equal((await rule('no_worker_a')).trigger_count, 2);

    // Exactly one signed webhook per transition, and no more after further evaluations.
    await until('the second outage webhooks of A', async () => hooksOf('no_worker_a').length >= 4);
    await evaluationsPass(3);
    const a = hooksOf('no_worker_a');
    const b = hooksOf('no_worker_b');
    assert.deepEqual(a.map((h) => h.json.event), ['alert.firing', 'alert.resolved', 'alert.firing', 'alert.resolved']);
    assert.deepEqual(b.map((h) => h.json.event), ['alert.firing', 'alert.resolved']);
    const keys = [...a, ...b].map((h) => h.headers['x-mofsim-delivery']);
    assert.equal(new Set(keys).size, keys.length, 'one delivery id per transition');
    for (const h of [...a, ...b]) {
      assert.equal(h.headers['x-mofsim-event'], h.json.event);
      const [t, v1] = String(h.headers['x-mofsim-signature']).split(',').map((p) => p.split('=')[1]);
      assert.equal(t, h.headers['x-mofsim-timestamp']);
      assert.equal(v1, createHmac('sha256', SECRET).update(`${t}.${h.body}`).digest('hex'), 'signature over the raw body');
      assert.equal(h.json.type, 'alert');
      assert.equal(h.json.rule.condition.metric, 'active_workers');
    }

    // Every attempt is in webhook_deliveries, as task webhooks' are: one 2xx row per transition delivered.
    const rows = await stack.database.sql<{ key: string; ok: boolean; status_code: number | null }[]>`
      select idempotency_key as key, ok, status_code from webhook_deliveries where alert_event_id is not null and task_id is null`;
    for (const k of keys) assert.equal(rows.filter((r) => r.key === k && r.ok && r.status_code === 200).length, 1, `one delivered attempt of ${k}`);

    // The system log has the transitions of A (its channels include `log`), at the rule's level.
    const logs = (await api(stack.baseUrl, '/api/v1/system/logs?limit=500', {}, admin())).body.data;
    const entries = (logs.items ?? logs.logs ?? logs).filter((e: any) => e.extra?.rule_id === 'no_worker_a');
    assert.ok(entries.some((e: any) => e.level === 'CRITICAL' && /alert firing/.test(e.message)), JSON.stringify(entries.slice(0, 3)));
    assert.ok(entries.some((e: any) => /alert resolved/.test(e.message)));

    const stats = (await api(stack.baseUrl, '/api/v1/alerts/stats', {}, admin())).body.data;
    assert.equal(stats.webhook_configured, true);
    assert.ok(stats.total_alerts >= 3);
    assert.equal(stats.active_alerts + stats.resolved_alerts, stats.total_alerts);
  });

  it('a resolution by hand is a transition too: notified once, and the rule fires again only after its cooldown', async () => {
    const r = await api(stack.baseUrl, '/api/v1/alerts/rules', json('POST', {
      id: 'always', name: 'Always', level: 'INFO', cooldown_seconds: 3600,
      condition: { metric: 'queue_length', operator: '>=', threshold: 0 }, notification_channels: ['webhook'],
    }), admin());
    assert.equal(r.status, 201);
    const [fired] = await until('the always-true rule to fire', async () => {
      const x = await alertsOf('always');
      return x.length ? x : undefined;
    });
    const res = await api(stack.baseUrl, `/api/v1/alerts/${fired.id}/resolve`, json('POST', { resolved_by: 'ops' }), admin());
    assert.equal(res.status, 200);
    await until('the manual resolution webhook', async () => hooksOf('always').length >= 2);
    await evaluationsPass(3);
    assert.equal((await alertsOf('always')).length, 1, 'the condition still holds, but the rule is in its cooldown');
    assert.deepEqual(hooksOf('always').map((h) => h.json.event), ['alert.firing', 'alert.resolved']);
    assert.equal(hooksOf('always')[1]!.json.alert.resolved_by, 'ops');
  });
});
