/**
 * A campaign's events: `progress` (counts by status, throttled), `completed` (once per run to the end) and
 * `retried` (its failed tasks were put back in line: a new run), each a
 * row plus a Postgres NOTIFY so API processes push it to live clients; rows the campaign's callback subscribes to
 * are delivered as `campaign.progress` / `campaign.completed` webhooks (workers/webhook-delivery.ts).
 */
import { and, count, desc, eq, inArray, sql } from 'drizzle-orm';
import { TERMINAL_STATUSES } from '../common/task-types.js';
import { CAMPAIGN_WEBHOOK_EVENTS } from '../common/webhook-policy.js';
import type { Db } from './client.js';
import { campaignEvents, tasks, type CampaignRow } from './schema.js';

/** The NOTIFY channel; the payload is `{id, campaign_id, type}` (listeners fetch the row). */
export const CAMPAIGN_EVENTS_CHANNEL = 'mofsim_campaign_events';

/** What a progress event (and the completed event) carries about the campaign's tasks. */
export interface CampaignProgress {
  status: string;
  total_tasks: number;
  /** Tasks in a terminal status (COMPLETED, FAILED, CANCELLED, TIMEOUT). */
  ended: number;
  /** ended / total_tasks, percent. */
  progress: number;
  /** Tasks by status. */
  counts: Record<string, number>;
}

const TERMINAL = [...TERMINAL_STATUSES] as string[];

/** The campaign's tasks by status, and how many have ended. */
export async function campaignCounts(db: Db, campaignId: string): Promise<{ counts: Record<string, number>; ended: number }> {
  const rows = await db.select({ status: tasks.status, n: count() }).from(tasks).where(eq(tasks.campaignId, campaignId)).groupBy(tasks.status);
  const counts: Record<string, number> = {};
  let ended = 0;
  for (const r of rows) {
    counts[r.status] = Number(r.n);
    if (TERMINAL.includes(r.status)) ended += Number(r.n);
  }
  return { counts, ended };
}

/** The payload of a progress event. */
export function progressOf(status: string, total: number, counts: Record<string, number>, ended: number): CampaignProgress {
  return { status, total_tasks: total, ended, progress: total > 0 ? Math.round((ended / total) * 10000) / 100 : 100, counts };
}

/**
 * When a progress event is due: at most one per `minIntervalS` seconds, and only once at least 1 % of the tasks (at
 * least one) ended since the previous one. A campaign of 20,000 tasks thus sends at most ~100 of them, a campaign of
 * ten one per task; the last one (every task ended) is written by the completion, whatever the throttle says.
 */
export function progressDue(previous: { ended: number; at: Date } | undefined, ended: number, total: number, now: Date, minIntervalS: number): boolean {
  const step = Math.max(1, Math.ceil(total / 100));
  if (!previous) return ended >= step;
  return ended - previous.ended >= step && now.getTime() - previous.at.getTime() >= minIntervalS * 1000;
}

/**
 * The campaign's latest progress (or retried) event: the throttle's memory, kept in the rows so that activity retries
 * and restarts share it. A retry's event restarts the count from the tasks put back in line.
 */
export async function lastProgress(db: Db, campaignId: string): Promise<{ ended: number; at: Date; counts: Record<string, number> } | undefined> {
  const [row] = await db.select({ data: campaignEvents.data, at: campaignEvents.createdAt }).from(campaignEvents)
    .where(and(eq(campaignEvents.campaignId, campaignId), inArray(campaignEvents.type, ['progress', 'retried'])))
    .orderBy(desc(campaignEvents.id)).limit(1);
  if (!row) return undefined;
  const d = row.data as unknown as CampaignProgress;
  return { ended: Number(d.ended ?? 0), at: row.at, counts: d.counts ?? {} };
}

/** Whether the campaign's callback takes `campaign.<type>` events (both by default). */
export function subscribes(campaign: Pick<CampaignRow, 'options'>, type: string): boolean {
  const callback = campaign.options?.callback as { url?: string; events?: string[] } | undefined;
  if (!callback?.url) return false;
  return (callback.events ?? CAMPAIGN_WEBHOOK_EVENTS).includes(`campaign.${type}`);
}

/** Appends one event to the campaign's stream and announces it (inside `db`'s transaction, if any: NOTIFY goes out at commit). */
export async function appendCampaignEvent(db: Db, campaign: Pick<CampaignRow, 'id' | 'options'>, type: 'progress' | 'completed' | 'retried',
  data: Record<string, unknown>): Promise<number> {
  const [row] = await db.insert(campaignEvents).values({ campaignId: campaign.id, type, data, webhook: subscribes(campaign, type) })
    .returning({ id: campaignEvents.id });
  const id = row!.id;
  await db.execute(sql`select pg_notify(${CAMPAIGN_EVENTS_CHANNEL}, ${JSON.stringify({ id, campaign_id: campaign.id, type })})`);
  return id;
}

/** Whether the campaign's current run (since its last retry) has written its completed event. */
export async function runEnded(db: Db, campaignId: string): Promise<boolean> {
  const rows = await db.execute(sql`
    select 1 from ${campaignEvents} e where e.campaign_id = ${campaignId} and e.type = 'completed' and e.id > coalesce(
      (select max(r.id) from ${campaignEvents} r where r.campaign_id = ${campaignId} and r.type = 'retried'), 0) limit 1`);
  return rows.length > 0;
}

/**
 * Writes the end of the campaign's run: its last progress event (always one, whatever the throttle let through)
 * and its completed event. Call it in the transaction that holds the campaign row (`for update`, or the update
 * that ends the run), after checking `runEnded`, so that a run ends once.
 */
export async function writeRunEnd(db: Db, campaign: CampaignRow, status: 'COMPLETED' | 'CANCELLED',
  counts: Record<string, number>, ended: number): Promise<void> {
  const p = progressOf(status, campaign.totalTasks, counts, ended);
  await appendCampaignEvent(db, campaign, 'progress', { ...p });
  const list = (campaign.scores as { scores?: { model: string; weights_sha256: string | null; protocol: string; aggregate: unknown }[] } | null)?.scores;
  await appendCampaignEvent(db, campaign, 'completed', {
    ...p, finished_at: (campaign.finishedAt ?? new Date()).toISOString(), error_message: campaign.errorMessage,
    // The headline of the scores: each model × weights × protocol's aggregate (GET …/results has the rows).
    scores: list ? list.map((s) => ({ model: s.model, weights_sha256: s.weights_sha256, protocol: s.protocol, aggregate: s.aggregate })) : null,
  });
}
