/**
 * Which callback URLs the server will POST to, and how deliveries are signed. Only public addresses receive
 * deliveries unless their host is allow-listed (common/address-policy.ts: they would let a caller reach internal services).
 */
import { createHmac } from 'node:crypto';
import { vetUrl } from './address-policy.js';

/** Task event types → webhook event names. */
export const WEBHOOK_EVENTS: Record<string, string> = {
  started: 'task.started', progress: 'task.progress', completed: 'task.completed',
  failed: 'task.failed', timeout: 'task.failed', cancelled: 'task.cancelled',
};
export const DEFAULT_WEBHOOK_EVENTS = ['task.started', 'task.completed', 'task.failed', 'task.cancelled'];
export const ALL_WEBHOOK_EVENTS = ['task.started', 'task.progress', 'task.completed', 'task.failed', 'task.cancelled'];

/** Returns why `url` may not receive webhooks, or null when it may (the one address policy: common/address-policy.ts). */
export async function refuseCallbackUrl(url: string, allowHosts: readonly string[]): Promise<string | null> {
  const vetted = await vetUrl(url, allowHosts);
  return 'refused' in vetted ? `callback ${vetted.refused}` : null;
}

/** The signature header value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}
