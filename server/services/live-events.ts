/**
 * Live task events: one LISTEN per API process on the task-events channel, fanned out to subscribers (SSE
 * streams, WebSocket clients) by task id or to all. Subscribers get the full event rows, in id order per task.
 */
import { eq } from 'drizzle-orm';
import type { Logger } from '../../common/logger.js';
import type { Database } from '../db/client.js';
import { taskEvents, type TaskEventRow } from '../db/schema.js';
import { TASK_EVENTS_CHANNEL } from '../db/task-events.js';

export type EventListener = (event: TaskEventRow) => void;

/** The event types after which a task produces no more events. */
export const FINAL_EVENT_TYPES = ['completed', 'failed', 'cancelled', 'timeout'];

export class LiveEvents {
  private readonly byTask = new Map<string, Set<EventListener>>();
  private readonly all = new Set<EventListener>();
  private listening?: Promise<unknown>;
  private readonly extra = new Set<EventListener>();

  constructor(private readonly database: Database, private readonly logger: Logger) {}

  /** Starts listening (idempotent); resolves once LISTEN is active. */
  start(): Promise<unknown> {
    this.listening ??= this.database.sql.listen(TASK_EVENTS_CHANNEL, (payload) => { void this.dispatch(payload); });
    return this.listening;
  }

  /** Also hands every event to `fn` (e.g. the webhook dispatcher). */
  onEvent(fn: EventListener): void {
    this.extra.add(fn);
  }

  /** Subscribes to one task's events (or all with `taskId` null); returns the unsubscribe function. */
  async subscribe(taskId: string | null, fn: EventListener): Promise<() => void> {
    await this.start();
    if (taskId === null) this.all.add(fn);
    else {
      let set = this.byTask.get(taskId);
      if (!set) this.byTask.set(taskId, (set = new Set()));
      set.add(fn);
    }
    return () => {
      if (taskId === null) this.all.delete(fn);
      else {
        const set = this.byTask.get(taskId);
        set?.delete(fn);
        if (set && set.size === 0) this.byTask.delete(taskId);
      }
    };
  }

  private async dispatch(payload: string): Promise<void> {
    try {
      const { id, task_id: taskId } = JSON.parse(payload) as { id: number; task_id: string };
      const listeners = [...this.all, ...(this.byTask.get(taskId) ?? []), ...this.extra];
      if (!listeners.length) return;
      const [row] = await this.database.db.select().from(taskEvents).where(eq(taskEvents.id, id));
      if (!row) return;
      for (const fn of listeners) {
        try { fn(row); } catch (err) { this.logger.warn('event listener failed', { error: String(err) }); }
      }
    } catch (err) {
      this.logger.warn('bad task event notification', { error: String(err) });
    }
  }
}
