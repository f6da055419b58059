/** Appending a task event: the row, and a Postgres NOTIFY so API processes can push it to live clients. */
import { sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { taskEvents, tasks } from './schema.js';

/** The NOTIFY channel; the payload is a TaskEventNotice (clients fetch the row: payloads are size-limited). */
export const TASK_EVENTS_CHANNEL = 'mofsim_task_events';

/** What a notification on TASK_EVENTS_CHANNEL says of its event. */
export interface TaskEventNotice {
  id: number;
  task_id: string;
  type: string;
  /** Whether the task has a callback (its webhooks): listeners that only serve those skip the rest unread. */
  callback?: boolean;
}

/** The notification of event rows aliased `e` joined to their task aliased `t`, built in SQL. */
export const notice = sql`json_build_object('id', e.id, 'task_id', e.task_id, 'type', e.type, 'callback', coalesce(t.options ? 'callback', false))::text`;

/** Appends one event to a task's stream and announces it; returns the event id. */
export async function appendTaskEvent(db: Db, taskId: string, type: string, data: Record<string, unknown> = {}): Promise<number> {
  // One statement, one round trip: every job's start and end write one of these on the hand-over's path.
  const [row] = await db.execute<{ id: string }>(sql`
    with e as (insert into ${taskEvents} (task_id, type, data) values (${taskId}, ${type}, ${JSON.stringify(data)}::jsonb) returning id, task_id, type)
    select e.id, pg_notify(${TASK_EVENTS_CHANNEL}, ${notice}) from e left join ${tasks} t on t.id = e.task_id`);
  return Number(row!.id);
}

/** Appends many events in two statements (a batch submission's `queued` events), announcing each. */
export async function appendTaskEvents(db: Db, events: { taskId: string; type: string; data?: Record<string, unknown> }[]): Promise<number[]> {
  if (!events.length) return [];
  const rows = await db.insert(taskEvents).values(events.map((e) => ({ taskId: e.taskId, type: e.type, data: e.data ?? {} })))
    .returning({ id: taskEvents.id });
  const ids = rows.map((r) => r.id);
  await db.execute(sql`select pg_notify(${TASK_EVENTS_CHANNEL}, ${notice}) from ${taskEvents} e left join ${tasks} t on t.id = e.task_id
    where e.id in (${sql.join(ids.map((id) => sql`${id}`), sql`, `)}) order by e.id`);
  return ids;
}
