/**
 * Which callback URLs the server will POST to, and how deliveries are signed. Only public addresses receive
 * deliveries unless their host is allow-listed (common/address-policy.ts: they would let a caller reach internal services).
 */
import { createHmac } from 'node:crypto';
import { vetUrl } from './address-policy.js';

/**
 * Task event types → webhook event names (the reference service's seven). `queued` is written once, when the
 * submission is accepted: that is the reference's `task.created`. A timeout is its own event, not a failure.
 */
export const WEBHOOK_EVENTS: Record<string, string> = {
  queued: 'task.created', started: 'task.started', progress: 'task.progress', completed: 'task.completed',
  failed: 'task.failed', timeout: 'task.timeout', cancelled: 'task.cancelled',
};
/** Every final outcome plus the start; `task.created` and `task.progress` only when asked for. */
export const DEFAULT_WEBHOOK_EVENTS = ['task.started', 'task.completed', 'task.failed', 'task.timeout', 'task.cancelled'];
export const ALL_WEBHOOK_EVENTS = Object.values(WEBHOOK_EVENTS);
/** A campaign's callback events: its throttled progress (counts by status) and its end; both unless it names some. */
export const CAMPAIGN_WEBHOOK_EVENTS = ['campaign.progress', 'campaign.completed'];

/** Returns why `url` may not receive webhooks, or null when it may (the one address policy: common/address-policy.ts). */
export async function refuseCallbackUrl(url: string, allowHosts: readonly string[]): Promise<string | null> {
  const vetted = await vetUrl(url, allowHosts);
  return 'refused' in vetted ? `callback ${vetted.refused}` : null;
}

/** The signature header value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}
