/**
 * WebSocket `/ws`: clients send `{"action":"subscribe","task_id":"<id>","last_event_id":N}` (or `"all":true`) and
 * `{"action":"unsubscribe",...}`; the server sends `{"type":"event","event":{id, task_id, type, data, created_at}}`,
 * replaying stored events after `last_event_id` first. `{"action":"subscribe","campaign_id":"<id>","last_event_id":N}`
 * streams a campaign's own events the same way, as `{"type":"campaign_event","event":{id, campaign_id, type, data, …}}`
 * (`last_event_id` then counts campaign event ids). The key comes in the upgrade request's `Authorization: Bearer`
 * or `X-API-Key` header, or (for browsers, which cannot set headers) in a first message `{"action":"auth","api_key":…}`.
 * A user key reaches only its own tasks, for `all` too; an admin key reaches every task. A wrong key (header or
 * message) closes the socket (1008) and counts towards the address's failed-authentication limit, as over HTTP.
 */
import type { IncomingMessage, Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ServerDeps } from './deps.js';
import { campaignEventToApi, taskEventToApi } from './mappers.js';
import { admitRequest, hitWindow } from './rate-limits.js';
import { actorOf, hashKey, type Actor } from './services/keys.js';
import { getCampaign } from './services/campaigns.js';
import { getTask, replayTaskEvents } from './services/tasks.js';
import type { CampaignEventRow, TaskEventRow } from '../store/schema.js';

interface SocketMessage { action?: string; task_id?: string; campaign_id?: string; all?: boolean; last_event_id?: number; api_key?: string }

/** Serves `/ws` on the API's HTTP server. */
export function attachLiveSocket(server: Server, deps: ServerDeps): WebSocketServer {
  const wss = new WebSocketServer({ server, path: '/ws' });
  const log = deps.logger.child({ component: 'ws' });
  const failWindowS = deps.config.MOFSIM_AUTH_FAIL_WINDOW_S;
  const failLimit = deps.config.MOFSIM_AUTH_FAIL_LIMIT;
  // The same guard as HTTP (server/auth.ts): a blocked address is refused, and every wrong key counts towards it.
  type Check = { actor: Actor } | { failed: 'blocked' | 'invalid' };
  const checkKey = async (key: string | undefined, ip: string): Promise<Check> => {
    const keyHash = key && key.length >= 8 && key.length <= 512 ? hashKey(key) : null;
    const { row, failures } = await admitRequest(deps.database.sql, { address: ip, keyHash, failWindowS, failLimit, requestWindowS: 60 });
    if (failures.count >= failLimit) return { failed: 'blocked' };
    if (row && row.keyHash === keyHash) return { actor: actorOf(row) };
    const f = await hitWindow(deps.database.db, `auth:${ip}`, failWindowS);
    log.warn('websocket authentication failed', { ip, failures: f.count });
    if (f.count === failLimit) {
      deps.systemLog.warning('auth', 'address blocked after repeated failed authentications', { extra: { ip, failures: f.count, via: 'ws' } });
    }
    return { failed: 'invalid' };
  };
  // A failed authentication ends the socket: one connection cannot be used to try keys one after another.
  const refuse = (socket: WebSocket, failed: 'blocked' | 'invalid') => {
    socket.send(JSON.stringify(failed === 'blocked'
      ? { type: 'error', code: 42903, message: 'too many failed authentications from this address' }
      : { type: 'error', code: 40103, message: 'invalid or revoked API key' }));
    socket.close(1008, failed === 'blocked' ? 'too many failed authentications' : 'invalid API key');
  };
  wss.on('connection', (socket: WebSocket, req: IncomingMessage) => {
    const subs = new Map<string, () => void>();
    const header = req.headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1] ?? (req.headers['x-api-key'] as string | undefined);
    // Handlers are attached synchronously (a message sent right after 'open' must not be lost); the header key is
    // looked up once and awaited by the first message.
    const ip = req.socket.remoteAddress ?? 'unknown';
    const headerCheck: Promise<Check | undefined> = header === undefined ? Promise.resolve(undefined)
      : checkKey(header.trim(), ip).catch(() => ({ failed: 'invalid' as const }));
    let actor: Actor | undefined;
    let resolved = false;
    // Tasks this socket may see (a user key: its own), remembered so `all` streams do not query per event.
    const allowed = new Map<string, boolean>();
    const maySee = async (taskId: string) => {
      if (!actor) return false;
      if (actor.role === 'admin') return true;
      if (!allowed.has(taskId)) allowed.set(taskId, await getTask(deps, taskId, actor).then(() => true, () => false));
      return allowed.get(taskId)!;
    };
    const send = (e: TaskEventRow) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: 'event', event: { ...taskEventToApi(e), task_id: e.taskId } }));
    };
    const sendCampaign = (e: CampaignEventRow) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: 'campaign_event', event: campaignEventToApi(e) }));
    };
    // A campaign's own events (progress, completed, retried): stored ones after last_event_id, then live ones.
    const campaignSubscription = async (msg: SocketMessage) => {
      const id = String(msg.campaign_id);
      const key = `campaign:${id}`;
      if (!/^[0-9a-f-]{36}$/i.test(id)) { socket.send(JSON.stringify({ type: 'error', message: 'campaign_id must be a UUID' })); return; }
      if (msg.action === 'unsubscribe') { subs.get(key)?.(); subs.delete(key); return; }
      if (msg.action !== 'subscribe' || subs.has(key)) return;
      const visible = await getCampaign(deps, id, actor).then(() => true, () => false);
      if (!visible) { socket.send(JSON.stringify({ type: 'error', code: 40408, message: `campaign not found: ${id}` })); return; }
      try {
        const seen = new Set<number>();
        let replaying = true;
        const buffered: CampaignEventRow[] = [];
        subs.set(key, await deps.liveEvents.subscribeCampaign(id, (e) => {
          if (replaying) buffered.push(e);
          else if (!seen.has(e.id)) sendCampaign(e);
        }));
        for (let after = Number(msg.last_event_id ?? 0); ;) {
          const page = await deps.liveEvents.campaignEventsAfter(id, after, 500);
          for (const e of page) { seen.add(e.id); sendCampaign(e); after = e.id; }
          if (page.length < 500) break;
        }
        for (const e of buffered) if (!seen.has(e.id)) sendCampaign(e);
        replaying = false;
        socket.send(JSON.stringify({ type: 'subscribed', campaign_id: id }));
      } catch (err) {
        socket.send(JSON.stringify({ type: 'error', message: (err as Error).message }));
      }
    };
    socket.on('message', async (raw) => {
      let msg: SocketMessage;
      try { msg = JSON.parse(String(raw)); } catch { socket.send(JSON.stringify({ type: 'error', message: 'messages are JSON objects' })); return; }
      if (!resolved) {
        const c = await headerCheck;
        if (!resolved) {
          resolved = true;
          if (c && 'failed' in c) { refuse(socket, c.failed); return; }
          actor = c?.actor;
        }
      }
      if (socket.readyState !== socket.OPEN) return;
      if (msg.action === 'auth') {
        const c = await checkKey(typeof msg.api_key === 'string' ? msg.api_key : undefined, ip).catch(() => ({ failed: 'invalid' as const }));
        if ('failed' in c) { actor = undefined; refuse(socket, c.failed); return; }
        actor = c.actor;
        socket.send(JSON.stringify({ type: 'authenticated', role: actor.role }));
        return;
      }
      if (!actor) {
        socket.send(JSON.stringify({ type: 'error', code: 40101, message: 'authenticate first: Authorization header, X-API-Key header or {"action":"auth","api_key":…}' }));
        return;
      }
      if (msg.campaign_id !== undefined) { await campaignSubscription(msg); return; }
      const key = msg.all ? '*' : String(msg.task_id ?? '');
      if (!msg.all && !/^[0-9a-f-]{36}$/i.test(key)) {
        socket.send(JSON.stringify({ type: 'error', message: 'task_id (a UUID) or all:true is required' }));
        return;
      }
      if (msg.action === 'unsubscribe') { subs.get(key)?.(); subs.delete(key); return; }
      if (msg.action !== 'subscribe' || subs.has(key)) return;
      if (!msg.all && !(await maySee(key))) {
        socket.send(JSON.stringify({ type: 'error', code: 40402, message: `task not found: ${key}` }));
        return;
      }
      try {
        const seen = new Set<number>();
        let replaying = true;
        const buffered: TaskEventRow[] = [];
        const deliver = (e: TaskEventRow) => {
          if (replaying) buffered.push(e);
          else if (!seen.has(e.id)) send(e);
        };
        // An `all` stream's events wait for their access checks, which finish in any order: the chain keeps them in
        // the order they arrived (id order), as a client resuming from its last id relies on.
        let order: Promise<void> = Promise.resolve();
        subs.set(key, await deps.liveEvents.subscribe(msg.all ? null : key, msg.all
          ? (e) => { const ok = maySee(e.taskId); order = order.then(async () => { if (await ok) deliver(e); }); }
          : deliver));
        if (!msg.all) {
          for await (const e of replayTaskEvents(deps, key, Number(msg.last_event_id ?? 0))) { seen.add(e.id); send(e); }
        }
        // Events that came during the replay go out before live delivery resumes; no await between the last of them
        // and the switch, so a newer event cannot overtake one still buffered.
        for (let i = 0; i < buffered.length; i++) {
          const e = buffered[i]!;
          if (!seen.has(e.id) && (await maySee(e.taskId))) send(e);
        }
        replaying = false;
        socket.send(JSON.stringify({ type: 'subscribed', task_id: msg.all ? null : key }));
      } catch (err) {
        socket.send(JSON.stringify({ type: 'error', message: (err as Error).message }));
      }
    });
    socket.on('close', () => { for (const off of subs.values()) off(); subs.clear(); });
    socket.on('error', (err) => log.warn('websocket error', { error: String(err) }));
  });
  return wss;
}
