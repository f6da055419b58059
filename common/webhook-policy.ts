/**
 * Which callback URLs the server will POST to, and how deliveries are signed. Private, loopback and link-local
 * targets are refused (they would let a caller reach internal services) unless their host is allow-listed.
 */
import { createHmac } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

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

function isPrivateAddress(ip: string): boolean {
  if (ip.startsWith('::ffff:')) return isPrivateAddress(ip.slice(7));
  if (isIP(ip) === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    return a === 10 || a === 127 || a === 0 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31)
      || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
  }
  const v = ip.toLowerCase();
  return v === '::1' || v === '::' || v.startsWith('fc') || v.startsWith('fd') || v.startsWith('fe80');
}

/** Returns why `url` may not receive webhooks, or null when it may. Resolves host names (every address must be public). */
export async function refuseCallbackUrl(url: string, allowHosts: readonly string[]): Promise<string | null> {
  let u: URL;
  try { u = new URL(url); } catch { return 'callback url is not a valid URL'; }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `callback url must be http(s) (got ${u.protocol})`;
  if (u.username || u.password) return 'callback url must not carry credentials';
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (allowHosts.includes(host)) return null;
  if (host === 'localhost' || host.endsWith('.localhost')) return `callback host ${host} is loopback`;
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return `callback host ${host} does not resolve`;
  }
  const bad = addresses.find(isPrivateAddress);
  return bad ? `callback host ${host} is a private or loopback address (${bad})` : null;
}

/** The signature header value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}
