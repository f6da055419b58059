/**
 * Live task events: one LISTEN per API process on the task-events channel, fanned out to subscribers (SSE
 * streams, WebSocket clients) by task id or to all. Subscribers get the full event rows, in id order per task.
 * Campaign events (progress, completed) come the same way on their own channel, by campaign id.
 */
import { and, asc, eq, gt } from 'drizzle-orm';
import type { Logger } from '../../common/logger.js';
import { CAMPAIGN_EVENTS_CHANNEL } from '../../store/campaign-events.js';
import type { Database } from '../../store/client.js';
import { campaignEvents, taskEvents, type CampaignEventRow, type TaskEventRow } from '../../store/schema.js';
import { TASK_EVENTS_CHANNEL, type TaskEventNotice } from '../../store/task-events.js';

export type EventListener = (event: TaskEventRow) => void;
export type { TaskEventNotice };
export type CampaignEventListener = (event: CampaignEventRow) => void;

/** The event types after which a task produces no more events. */
export const FINAL_EVENT_TYPES = ['completed', 'failed', 'cancelled', 'timeout'];

export class LiveEvents {
  private readonly byTask = new Map<string, Set<EventListener>>();
  private readonly all = new Set<EventListener>();
  private listening?: Promise<unknown>;
  private readonly extra = new Map<EventListener, ((n: TaskEventNotice) => boolean) | undefined>();
  private delivered: Promise<void> = Promise.resolve();

  private readonly byCampaign = new Map<string, Set<CampaignEventListener>>();
  private campaignListening?: Promise<unknown>;
  private campaignDelivered: Promise<void> = Promise.resolve();

  constructor(private readonly database: Database, private readonly logger: Logger) {}

  /**
   * Subscribes to one campaign's events; returns the unsubscribe function. The LISTEN on their channel starts with
   * the first subscriber (most API processes never have one).
   */
  async subscribeCampaign(campaignId: string, fn: CampaignEventListener): Promise<() => void> {
    this.campaignListening ??= this.database.sql.listen(CAMPAIGN_EVENTS_CHANNEL, (payload) => this.dispatchCampaign(payload));
    await this.campaignListening;
    let set = this.byCampaign.get(campaignId);
    if (!set) this.byCampaign.set(campaignId, (set = new Set()));
    set.add(fn);
    return () => {
      const s = this.byCampaign.get(campaignId);
      s?.delete(fn);
      if (s && s.size === 0) this.byCampaign.delete(campaignId);
    };
  }

  /** A campaign's stored events after `afterId`, oldest first (the replay before live delivery). */
  async campaignEventsAfter(campaignId: string, afterId: number, limit = 1000): Promise<CampaignEventRow[]> {
    return this.database.db.select().from(campaignEvents)
      .where(and(eq(campaignEvents.campaignId, campaignId), gt(campaignEvents.id, afterId))).orderBy(asc(campaignEvents.id)).limit(limit);
  }

  // As for task events: fetched at once, delivered in notification (id) order.
  private dispatchCampaign(payload: string): void {
    const fetched = (async () => {
      try {
        const { id, campaign_id: campaignId } = JSON.parse(payload) as { id: number; campaign_id: string };
        const listeners = [...(this.byCampaign.get(campaignId) ?? [])];
        if (!listeners.length) return undefined;
        const [row] = await this.database.db.select().from(campaignEvents).where(eq(campaignEvents.id, id));
        return row ? { row, listeners } : undefined;
      } catch (err) {
        this.logger.warn('bad campaign event notification', { error: String(err) });
        return undefined;
      }
    })();
    this.campaignDelivered = this.campaignDelivered.then(async () => {
      const found = await fetched;
      for (const fn of found?.listeners ?? []) {
        try { fn(found!.row); } catch (err) { this.logger.warn('campaign event listener failed', { error: String(err) }); }
      }
    });
  }

  /** Starts listening (idempotent); resolves once LISTEN is active. */
  start(): Promise<unknown> {
    this.listening ??= this.database.sql.listen(TASK_EVENTS_CHANNEL, (payload) => this.dispatch(payload));
    return this.listening;
  }

  /**
   * Also hands events to `fn` (e.g. the webhook dispatcher): every one, or those whose notification `wants` (a row
   * nobody wants is not read).
   */
  onEvent(fn: EventListener, wants?: (n: TaskEventNotice) => boolean): void {
    this.extra.set(fn, wants);
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

  // Notifications arrive in commit order, but each row is fetched by its own query and those finish in any order.
  // The fetches run at once; deliveries wait their turn, so a subscriber gets a task's events in id order (ws and
  // SSE clients resume after the last id they saw, and would skip an earlier one that came late).
  private dispatch(payload: string): void {
    const fetched = this.fetch(payload);
    this.delivered = this.delivered.then(async () => {
      const found = await fetched;
      if (!found) return;
      for (const fn of found.listeners) {
        try { fn(found.row); } catch (err) { this.logger.warn('event listener failed', { error: String(err) }); }
      }
    });
  }

  private async fetch(payload: string): Promise<{ row: TaskEventRow; listeners: EventListener[] } | undefined> {
    try {
      const notice = JSON.parse(payload) as TaskEventNotice;
      const { id, task_id: taskId } = notice;
      const listeners = [...this.all, ...(this.byTask.get(taskId) ?? [])];
      for (const [fn, wants] of this.extra) if (!wants || wants(notice)) listeners.push(fn);
      if (!listeners.length) return undefined;
      const [row] = await this.database.db.select().from(taskEvents).where(eq(taskEvents.id, id));
      return row ? { row, listeners } : undefined;
    } catch (err) {
      this.logger.warn('bad task event notification', { error: String(err) });
      return undefined;
    }
  }
}
