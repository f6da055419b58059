/**
 * WebSocket `/ws`: clients send `{"action":"subscribe","task_id":"<id>","last_event_id":N}` (or `"all":true`) and
 * `{"action":"unsubscribe",...}`; the server sends `{"type":"event","event":{id, task_id, type, data, created_at}}`,
 * replaying stored events after `last_event_id` first. Authentication will scope "all" to the caller's own tasks.
 */
import type { Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ServerDeps } from './deps.js';
import { taskEventToApi } from './mappers.js';
import { listTaskEvents } from './services/tasks.js';
import type { TaskEventRow } from './db/schema.js';

/** Serves `/ws` on the API's HTTP server. */
export function attachLiveSocket(server: Server, deps: ServerDeps): WebSocketServer {
  const wss = new WebSocketServer({ server, path: '/ws' });
  const log = deps.logger.child({ component: 'ws' });
  wss.on('connection', (socket: WebSocket) => {
    const subs = new Map<string, () => void>();
    const send = (e: TaskEventRow) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: 'event', event: { ...taskEventToApi(e), task_id: e.taskId } }));
    };
    socket.on('message', async (raw) => {
      let msg: { action?: string; task_id?: string; all?: boolean; last_event_id?: number };
      try { msg = JSON.parse(String(raw)); } catch { socket.send(JSON.stringify({ type: 'error', message: 'messages are JSON objects' })); return; }
      const key = msg.all ? '*' : String(msg.task_id ?? '');
      if (!msg.all && !/^[0-9a-f-]{36}$/i.test(key)) {
        socket.send(JSON.stringify({ type: 'error', message: 'task_id (a UUID) or all:true is required' }));
        return;
      }
      if (msg.action === 'unsubscribe') { subs.get(key)?.(); subs.delete(key); return; }
      if (msg.action !== 'subscribe' || subs.has(key)) return;
      try {
        const seen = new Set<number>();
        let replaying = true;
        const buffered: TaskEventRow[] = [];
        subs.set(key, await deps.liveEvents.subscribe(msg.all ? null : key, (e) => {
          if (replaying) buffered.push(e);
          else if (!seen.has(e.id)) send(e);
        }));
        if (!msg.all) {
          for (const e of await listTaskEvents(deps, key, Number(msg.last_event_id ?? 0))) { seen.add(e.id); send(e); }
        }
        replaying = false;
        for (const e of buffered) if (!seen.has(e.id)) send(e);
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
