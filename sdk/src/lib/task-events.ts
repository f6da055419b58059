/**
 * A task's event stream for `task.events()` and `task.wait()`: live over the server's WebSocket, with REST polling
 * of `GET /tasks/{id}/events?after_id=` as the fallback, each event once (by id) across reconnects and transports.
 */
import type { HttpCore } from '../core/http';
import { LiveSocketClosedError, subscribeTaskEvents } from '../core/live-socket';
import type { TaskEvent } from '../types';

/** Event types after which a task produces no more events (server: FINAL_EVENT_TYPES). */
export const FINAL_EVENT_TYPES: readonly string[] = ['completed', 'failed', 'cancelled', 'timeout'];

export interface TaskEventStreamOptions {
  /** Seconds between polls while polling. */
  pollInterval: number;
  signal?: AbortSignal;
  /** Asked when a poll brings nothing new; true ends the stream (a task that ended without a final event). */
  hasEnded: () => Promise<boolean>;
  /** Called once, when the stored events have all been yielded and the ones to come are live. */
  onCaughtUp?: () => void;
}

/** Reconnects after a drop before `'auto'` falls back to polling (or `'websocket'` gives up). */
const RECONNECTS = 3;

/**
 * Every event of the task from the first, each once, in the order the server sends them (id order). It does not end by itself on a final event (the caller
 * stops reading); polling ends it when `hasEnded()` says so. Transport per `http.liveEvents` (see LiveEventsMode).
 */
export async function* taskEventStream(http: HttpCore, taskId: string, opts: TaskEventStreamOptions): AsyncGenerator<TaskEvent> {
  // Resumes (REST after_id, the socket's last_event_id) start after the largest id; `seen` keeps a replayed event
  // from coming twice without dropping one that arrives after a larger id.
  let after = 0;
  const seen = new Set<number>();
  let caughtUp = false;
  const live = () => { if (!caughtUp) { caughtUp = true; opts.onCaughtUp?.(); } };
  const fresh = (e: TaskEvent) => {
    if (seen.has(e.id)) return false;
    seen.add(e.id);
    after = Math.max(after, e.id);
    return true;
  };
  const page = async () => (await http.request<{ items: TaskEvent[] }>('GET', `/tasks/${encodeURIComponent(taskId)}/events`, {
    query: { after_id: after }, signal: opts.signal,
  })).items;

  if (http.liveEvents !== 'poll') {
    const auto = http.liveEvents === 'auto';
    if (auto) {
      // Stored events come over REST first: the socket's replay is one server page (1000 events), and a long MD run
      // stores more. In 'auto' REST is in play anyway, and its answer is the authority on keys and task ids.
      for (let items = await page(); items.length; items = await page()) {
        for (const e of items) if (fresh(e)) yield e;
      }
      live();
    }
    for (let attempt = 0; ; attempt++) {
      let received = false;
      try {
        for await (const e of subscribeTaskEvents({
          url: http.liveSocketUrl, headers: http.liveSocketHeaders(), taskId, lastEventId: after,
          handshakeTimeout: http.timeout * 1000, signal: opts.signal, onSubscribed: live,
        })) {
          if (!fresh(e)) continue;
          received = true;
          yield e;
        }
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        if (received) attempt = 0;
        const dropped = err instanceof LiveSocketClosedError;
        if (!auto && (!dropped || attempt >= RECONNECTS)) throw err;
        // 'auto' polls at once when the socket never opened (no /ws behind this URL) or the server refused the
        // subscription (REST then answers with the same error, or works where the socket's key check did not).
        if (auto && (!dropped || !err.opened || attempt >= RECONNECTS)) break;
        await sleep(500 * 2 ** attempt, opts.signal);
      }
    }
  }

  for (;;) {
    const items = await page();
    for (const e of items) if (fresh(e)) yield e;
    if (!items.length) {
      live();
      if (await opts.hasEnded()) return;
      await sleep(opts.pollInterval * 1000, opts.signal);
    }
  }
}

/** Resolves after `ms`, or rejects with the signal's reason; leaves no timer or listener behind either way. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => { clearTimeout(timer); reject(signal!.reason); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
