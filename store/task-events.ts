/** Appending a task event: the row, and a Postgres NOTIFY so API processes can push it to live clients. */
import { sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { taskEvents } from './schema.js';

/** The NOTIFY channel; the payload is `{id, task_id, type}` (clients fetch the row: payloads are size-limited). */
export const TASK_EVENTS_CHANNEL = 'mofsim_task_events';

/** Appends one event to a task's stream and announces it; returns the event id. */
export async function appendTaskEvent(db: Db, taskId: string, type: string, data: Record<string, unknown> = {}): Promise<number> {
  // One statement, one round trip: every job's start and end write one of these on the hand-over's path.
  const [row] = await db.execute<{ id: string }>(sql`
    with e as (insert into ${taskEvents} (task_id, type, data) values (${taskId}, ${type}, ${JSON.stringify(data)}::jsonb) returning id)
    select id, pg_notify(${TASK_EVENTS_CHANNEL}, json_build_object('id', id, 'task_id', ${taskId}::text, 'type', ${type}::text)::text) from e`);
  return Number(row!.id);
}

/** Appends many events in two statements (a batch submission's `queued` events), announcing each. */
export async function appendTaskEvents(db: Db, events: { taskId: string; type: string; data?: Record<string, unknown> }[]): Promise<number[]> {
  if (!events.length) return [];
  const rows = await db.insert(taskEvents).values(events.map((e) => ({ taskId: e.taskId, type: e.type, data: e.data ?? {} })))
    .returning({ id: taskEvents.id, taskId: taskEvents.taskId, type: taskEvents.type });
  const payloads = rows.map((r) => JSON.stringify({ id: r.id, task_id: r.taskId, type: r.type }));
  await db.execute(sql`select pg_notify(${TASK_EVENTS_CHANNEL}, p) from unnest(${sql.raw('ARRAY[')}${sql.join(payloads.map((p) => sql`${p}`), sql`, `)}${sql.raw(']::text[]')}) as p`);
  return rows.map((r) => r.id);
}
