/**
 * The SDK's webhook methods (Python mofsim_sdk: get_webhook_deliveries, resend_webhook) and the reference routes
 * without a Python method (structure validate/details, loaded models, alert stats) against the real stack.
 * Kept apart from tests/sdk.test.ts so the two can change independently.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as sdk from '@mofsim/sdk';
import { calfPath, startTestStack, type TestStack } from './helpers/stack.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';
import { until } from './helpers/until.js';

const { MOFSimClient } = sdk;
let stack: TestStack;
let client: InstanceType<typeof MOFSimClient>;
let receiver: WebhookReceiver;
let url: string;
const received = () => receiver.received;

before(async () => {
  stack = await startTestStack({ workers: 1, env: { MOFSIM_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', MOFSIM_WEBHOOK_RETRY_INITIAL_S: '0.2' } });
  client = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.userKey });
  receiver = await startWebhookReceiver();
  url = receiver.url;
});
after(async () => { receiver?.close(); await stack?.stop(); });


describe('SDK webhooks (getWebhookDeliveries, resendWebhook)', () => {
  it('reads the delivery log and resends the final event as a new delivery', async () => {
    const task = await client.singlePoint.submit({ model: 'lj_test', structure: calfPath, callbackUrl: url, callbackSecret: 'whsec_sdk', callbackEvents: ['task.completed'] });
    await task.wait({ timeout: 240, pollInterval: 0.3 });
    const first = await until('the first delivery', async () => {
      const log = await client.getWebhookDeliveries(task.id);
      return log.some((d) => d.ok) ? log : undefined;
    });
    assert.deepEqual(first.map((d) => [d.event, d.ok, d.idempotency_key]), [['task.completed', true, `${task.id}:${first[0]!.event_id}`]]);

    const resend: sdk.WebhookResend = await client.resendWebhook(task.id);
    assert.equal(resend.task_id, task.id);
    assert.equal(resend.event, 'task.completed');
    assert.equal(resend.event_id, first[0]!.event_id);
    assert.equal(resend.url, url);
    const log = await until('the resent delivery in the log', async () => {
      const l = await client.webhooks.deliveries(task.id);
      return l.some((d) => d.idempotency_key === resend.delivery_id && d.ok) ? l : undefined;
    });
    assert.equal(log.length, 2);
    const got = received().filter((r) => r.headers['idempotency-key'] === resend.delivery_id);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.headers['x-mofsim-resend'], 'true');
    assert.match(String(got[0]!.headers['x-mofsim-signature']), /^t=\d+,v1=[0-9a-f]{64}$/);
  });

  it('maps the refusals onto typed errors', async () => {
    const running = await client.optimization.submit({ model: 'lj_test', structure: calfPath, fmax: 1e-9, max_steps: 100000 });
    await assert.rejects(client.resendWebhook(running.id), (e: any) => e instanceof sdk.ConflictError && e.code === 40902);
    await running.cancel();
    await assert.rejects(client.resendWebhook(running.id), (e: any) => e instanceof sdk.ConflictError && e.code === 40907 && e.type === 'NO_CALLBACK');
    await assert.rejects(client.getWebhookDeliveries('00000000-0000-4000-8000-000000000000'), sdk.TaskNotFoundError);
    await assert.rejects(client.resendWebhook('00000000-0000-4000-8000-000000000000'), sdk.TaskNotFoundError);
  });
});

describe('SDK: structure validate/details, loaded models, alert stats', () => {
  it('validates and describes structures, lists loaded models and counts alerts', async () => {
    const s = await client.uploadStructure(calfPath);
    const v: sdk.StructureValidation = await client.structures.validate(s.id);
    assert.deepEqual([v.structure_id, v.is_valid, v.errors], [s.id, true, []]);
    const missing = await client.structures.validate('00000000-0000-4000-8000-000000000000');
    assert.deepEqual([missing.is_valid, missing.errors], [false, ['Structure not found']]);
    const d: sdk.StructureDetails = await client.structures.details(s.id);
    assert.deepEqual([d.n_atoms, d.source, d.is_valid], [44, 'upload', true]);
    assert.equal((await client.structures.details('calf')).source, 'builtin');
    await assert.rejects(client.structures.details('00000000-0000-4000-8000-000000000000'), sdk.StructureNotFoundError);

    await (await client.submitSinglePoint('lj_test', s.id)).wait({ timeout: 240, pollInterval: 0.3 });
    const loaded: sdk.LoadedModels = await until('lj_test loaded', async () => {
      const l = await client.models.loaded();
      return l.lj_test?.length ? l : undefined;
    });
    assert.ok(loaded.lj_test![0]!.use_count >= 1);

    const stats: sdk.AlertStats = await client.alerts.stats();
    assert.equal(stats.total_alerts, stats.active_alerts + stats.resolved_alerts);
    assert.equal(typeof stats.webhook_configured, 'boolean');
  });
});
