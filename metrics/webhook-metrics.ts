/** Webhook delivery counters: task webhooks are delivered by workers, alert webhooks by the API's alert worker. */
import { Counter } from 'prom-client';
import { registry } from './registry.js';

const attempts = new Counter({
  name: 'mofsim_webhook_delivery_attempts_total',
  help: 'Webhook POST attempts by outcome (delivered, rejected, unreachable, refused)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

const deliveries = new Counter({
  name: 'mofsim_webhook_deliveries_total',
  help: 'Webhook events delivered, or given up after the retry horizon',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

// Every outcome from the start, at 0: a rate over a counter that has not appeared yet reads as "no data".
for (const outcome of ['delivered', 'rejected', 'unreachable', 'refused']) attempts.inc({ outcome }, 0);
for (const outcome of ['delivered', 'gave_up']) deliveries.inc({ outcome }, 0);

/** One POST attempt ended. */
export function countDeliveryAttempt(outcome: 'delivered' | 'rejected' | 'unreachable' | 'refused'): void {
  attempts.inc({ outcome });
  if (outcome === 'delivered') deliveries.inc({ outcome: 'delivered' });
}

/** An event will never be delivered. */
export function countDeliveryGaveUp(): void {
  deliveries.inc({ outcome: 'gave_up' });
}
