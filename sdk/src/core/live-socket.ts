/**
 * The client side of the server's `/ws` (protocol at the top of server/live-socket.ts): one connection subscribed
 * to one task. Node 20 has no global WebSocket, hence the `ws` package; its types stay inside this module so the
 * SDK's declarations do not need `@types/ws`.
 */
import WebSocket from 'ws';
import type { TaskEvent } from '../types';
import { APIConnectionError, errorFromResponse, type APIError } from './errors';

/** The socket did not open (`opened` false) or closed before the caller stopped reading (`opened` true). */
export class LiveSocketClosedError extends APIConnectionError {
  constructor(message: string, readonly opened: boolean, cause?: unknown) { super(message, cause); }
}

export interface LiveSubscription {
  url: string;
  headers: Record<string, string>;
  taskId: string;
  /** The server replays stored events with a larger id first. */
  lastEventId: number;
  /** Milliseconds for the opening handshake. */
  handshakeTimeout: number;
  signal?: AbortSignal;
  /** Called once the replayed events have been yielded: the ones after are live. */
  onSubscribed?: () => void;
}

// A connection that died without a close frame (a sleeping laptop, a NAT dropping state) shows no error until
// something is sent; a ping that goes unanswered for one interval ends it so the caller can reconnect.
const PING_INTERVAL_MS = 20_000;

type ServerMessage =
  | { type: 'event'; event: TaskEvent & { task_id?: string } }
  | { type: 'error'; code?: number; message?: string }
  | { type: 'subscribed' | 'authenticated'; task_id?: string | null };

/**
 * Yields the task's events in id order, stored ones after `lastEventId` first, until the caller stops reading.
 * Throws LiveSocketClosedError when the connection fails or drops, an APIError when the server refuses the
 * subscription (bad key → AuthenticationError, unknown task → TaskNotFoundError), and the signal's reason on abort.
 * The socket is closed whenever the generator ends.
 */
export async function* subscribeTaskEvents(sub: LiveSubscription): AsyncGenerator<TaskEvent> {
  if (sub.signal?.aborted) throw sub.signal.reason;
  const socket = new WebSocket(sub.url, { headers: sub.headers, handshakeTimeout: sub.handshakeTimeout });
  // 'subscribed' marks the end of the replay; it waits its turn behind the replayed events.
  const queue: (TaskEvent | 'subscribed')[] = [];
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  let opened = false;
  let answered = true;
  let ping: ReturnType<typeof setInterval> | undefined;
  const fail = (error: unknown) => { failure ??= { error }; wake?.(); };
  const onAbort = () => fail(sub.signal!.reason);

  socket.on('open', () => {
    opened = true;
    socket.send(JSON.stringify({ action: 'subscribe', task_id: sub.taskId, last_event_id: sub.lastEventId }));
    ping = setInterval(() => {
      if (!answered) { socket.terminate(); return; }
      answered = false;
      socket.ping();
    }, PING_INTERVAL_MS);
  });
  socket.on('pong', () => { answered = true; });
  socket.on('message', (raw) => {
    let msg: ServerMessage;
    try { msg = JSON.parse(String(raw)) as ServerMessage; } catch { return; }
    if (msg.type === 'event' && (msg.event.task_id ?? sub.taskId) === sub.taskId) {
      // The same shape as GET /tasks/{id}/events, whichever transport delivered it.
      const { id, type, data, created_at } = msg.event;
      queue.push({ id, type, data, created_at });
      wake?.();
    } else if (msg.type === 'error') {
      fail(refusal(msg.code, msg.message));
    } else if (msg.type === 'subscribed') {
      queue.push('subscribed');
      wake?.();
    }
  });
  // 'error' is always followed by 'close'; the error carries the reason worth reporting. The listener stays after
  // the generator ends: `ws` emits errors while a terminated handshake unwinds, and an unheard one would crash.
  socket.on('error', (err) => fail(new LiveSocketClosedError(`live socket ${sub.url}: ${err.message}`, opened, err)));
  socket.on('close', (code) => fail(new LiveSocketClosedError(`live socket ${sub.url} closed (${code})`, opened)));
  sub.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    for (;;) {
      if (sub.signal?.aborted) throw sub.signal.reason;
      const next = queue.shift();
      if (next === 'subscribed') { sub.onSubscribed?.(); continue; }
      if (next) { yield next; continue; }
      if (failure) throw failure.error;
      await new Promise<void>((resolve) => { wake = resolve; });
      wake = undefined;
    }
  } finally {
    clearInterval(ping);
    sub.signal?.removeEventListener('abort', onAbort);
    if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.terminate();
  }
}

// The server's error codes are the REST envelope's (40101 → 401), so the REST status → class table applies.
function refusal(code: number | undefined, message: string | undefined): APIError {
  const status = code ? Math.floor(code / 100) : 400;
  const type = code === 40402 ? 'TASK_NOT_FOUND' : undefined;
  return errorFromResponse(status, { code, message, error: { type, detail: message } }, new Headers());
}
