/** Appending a task event: the row, and a Postgres NOTIFY so API processes can push it to live clients. */
import { sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { taskEvents } from './schema.js';

/** The NOTIFY channel; the payload is `{id, task_id, type}` (clients fetch the row: payloads are size-limited). */
export const TASK_EVENTS_CHANNEL = 'mofsim_task_events';

/** Appends one event to a task's stream and announces it; returns the event id. */
export async function appendTaskEvent(db: Db, taskId: string, type: string, data: Record<string, unknown> = {}): Promise<number> {
  const [row] = await db.insert(taskEvents).values({ taskId, type, data }).returning({ id: taskEvents.id });
  const id = row!.id;
  await db.execute(sql`select pg_notify(${TASK_EVENTS_CHANNEL}, ${JSON.stringify({ id, task_id: taskId, type })})`);
  return id;
}
