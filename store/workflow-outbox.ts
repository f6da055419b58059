/**
 * Starting a task's workflow: its input from the row and the configuration (one definition for the API and the
 * workers), and the outbox of batch submissions — rows committed with `workflow_pending` whose workflows start after
 * the answer; a sweep starts any that a crashed process left behind, so no committed task is lost.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { and, eq, inArray, lt, notInArray, sql } from 'drizzle-orm';
import type { Config } from '../common/config.js';
import type { TaskWorkflowInput } from '../workflows/task-workflow.js';
import type { Db } from './client.js';
import { tasks, type TaskRow } from './schema.js';
import { priorityRank, TERMINAL_STATUSES, WAITING_STATUSES } from './task-status.js';

/** Owner used as the fairness key of a task without one. */
export const ANONYMOUS_OWNER = 'anonymous';

type Startable = Pick<TaskRow, 'id' | 'priority' | 'ownerId' | 'options'> & Partial<Pick<TaskRow, 'campaignId'>>;

export function taskWorkflowInput(task: Startable, config: Config): TaskWorkflowInput {
  const timeout = (task.options as { timeout?: number } | null)?.timeout;
  return {
    taskId: task.id,
    timeoutSeconds: timeout ?? config.MOFSIM_DEFAULT_TASK_TIMEOUT_S,
    controlQueue: config.MOFSIM_TASK_QUEUE,
    priorityKey: priorityRank(task.priority),
    fairnessKey: task.ownerId ?? ANONYMOUS_OWNER,
    heartbeatTimeoutSeconds: config.MOFSIM_ACTIVITY_HEARTBEAT_TIMEOUT_S,
    ...(task.campaignId ? { campaignId: task.campaignId } : {}),
  };
}

/** Starts one task's workflow (workflowId = task id); an already started one counts as started. */
export async function startTaskWorkflow(client: Client, task: Startable, config: Config): Promise<void> {
  const input = taskWorkflowInput(task, config);
  try {
    await client.workflow.start('taskWorkflow', {
      taskQueue: config.MOFSIM_TASK_QUEUE,
      workflowId: task.id,
      // The id may be used again once the earlier run closed: a campaign's retry runs its failed and cancelled tasks
      // again under their own ids. (The outbox never starts a row in a terminal state.)
      args: [input],
      priority: { priorityKey: input.priorityKey, fairnessKey: input.fairnessKey },
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

/**
 * The row of a task waiting to start (PENDING or QUEUED), if it is one: its workflow may not exist yet.
 * Not judged by the outbox flag: the outbox clears it after its start, so a signal that found no workflow may read
 * a flag that a start made a moment later has already cleared.
 */
export async function waitingTask(db: Db, taskId: string): Promise<Startable | undefined> {
  const [row] = await db.select({ id: tasks.id, priority: tasks.priority, ownerId: tasks.ownerId, options: tasks.options, campaignId: tasks.campaignId })
    .from(tasks).where(and(eq(tasks.id, taskId), inArray(tasks.status, [...WAITING_STATUSES])));
  return row;
}

/**
 * Starts a waiting task's workflow together with a signal for it, in one call (a slot the scheduler granted before
 * the workflow existed); a running one (started meanwhile) just gets the signal. Never a second run: false when one
 * ran already.
 */
export async function startTaskWorkflowWithSignal<A extends unknown[]>(
  db: Db, client: Client, task: Startable, config: Config, signal: SignalDefinition<A>, signalArgs: A,
): Promise<boolean> {
  const input = taskWorkflowInput(task, config);
  try {
    await client.workflow.signalWithStart('taskWorkflow', {
      taskQueue: config.MOFSIM_TASK_QUEUE, workflowId: task.id, args: [input], signal: signal.name, signalArgs: signalArgs as unknown[],
      priority: { priorityKey: input.priorityKey, fairnessKey: input.fairnessKey }, workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return false;
    throw err;
  }
  await db.update(tasks).set({ workflowPending: false }).where(eq(tasks.id, task.id));
  return true;
}

/**
 * Starts the workflows of outbox rows (`ids`, or every pending row committed over `olderThanMs` ago), a few at a
 * time, clearing the flag of each one started. Returns how many started.
 */
export async function startPendingWorkflows(
  db: Db, client: Client, config: Config, opts: { ids?: string[]; olderThanMs?: number; concurrency?: number },
): Promise<number> {
  const rows = await db.select({ id: tasks.id, priority: tasks.priority, ownerId: tasks.ownerId, options: tasks.options, campaignId: tasks.campaignId }).from(tasks)
    .where(and(eq(tasks.workflowPending, true), notInArray(tasks.status, [...TERMINAL_STATUSES]),
      opts.ids ? inArray(tasks.id, opts.ids) : lt(tasks.createdAt, new Date(Date.now() - (opts.olderThanMs ?? 0)))))
    .orderBy(tasks.createdAt).limit(opts.ids ? opts.ids.length : 1000);
  let next = 0;
  let started = 0;
  const done: string[] = [];
  const flush = async () => {
    const ids = done.splice(0);
    if (ids.length) await db.update(tasks).set({ workflowPending: false }).where(inArray(tasks.id, ids));
  };
  const lane = async () => {
    while (next < rows.length) {
      const row = rows[next++]!;
      try {
        await startTaskWorkflow(client, row, config);
        done.push(row.id);
        started += 1;
        if (done.length >= 100) await flush();
      } catch {
        // Temporal away: the row stays pending and a sweep starts it later.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 16, rows.length) }, lane));
  await flush();
  return started;
}

/** Rows still waiting for their workflow (for the benchmark and tests). */
export async function pendingWorkflowCount(db: Db): Promise<number> {
  const [r] = await db.select({ n: sql<number>`count(*)::int` }).from(tasks).where(eq(tasks.workflowPending, true));
  return Number(r?.n ?? 0);
}
