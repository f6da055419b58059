/**
 * Minimal cancellation (issue 5): cancels the task's Temporal workflow and, when the task has not started, marks it
 * CANCELLED at once; a RUNNING task is marked by its workflow when the engine activity stops. Kept on its own so
 * the richer cancel/pause/resume of the scheduling work replaces it in one place.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { and, eq, inArray } from 'drizzle-orm';
import { taskEvents, tasks } from '../db/schema.js';
import type { ServerDeps } from '../deps.js';
import { conflict } from '../errors.js';
import type { Actor } from './keys.js';
import { getTask } from './tasks.js';

export async function cancelTask(deps: ServerDeps, id: string, actor: Actor) {
  const { db } = deps.database;
  const task = await getTask(deps, id, actor);
  if (['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(task.status)) {
    throw conflict(40903, 'TASK_ALREADY_FINISHED', `cannot cancel task in ${task.status} state`);
  }
  try {
    await deps.temporal.workflow.getHandle(id).cancel();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  const [row] = await db.update(tasks).set({ status: 'CANCELLED', completedAt: new Date(), errorType: 'CANCELLED', errorMessage: 'cancelled by request' })
    .where(and(eq(tasks.id, id), inArray(tasks.status, ['PENDING', 'QUEUED', 'PAUSED']))).returning();
  if (row) await db.insert(taskEvents).values({ taskId: id, type: 'cancelled', data: { by: actor.name } });
  const now = row ?? (await getTask(deps, id, actor));
  return { task_id: id, previous_status: task.status, status: now.status, current_status: now.status };
}
