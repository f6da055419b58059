/** Light activities on the control queue: scheduling decisions and database bookkeeping. */
import { and, eq, inArray } from 'drizzle-orm';
import type { TERMINAL_STATUSES } from '../common/task-types.js';
import type { Db } from '../server/db/client.js';
import { tasks } from '../server/db/schema.js';
import { Context } from '@temporalio/activity';
import { preemptSignal } from '../workflows/task-workflow.js';
import { claimOrPreempt, releaseWorker, type Assignment } from './scheduler.js';
import { addEvent, finish } from './task-store.js';
import { deliverWebhook } from './webhook-delivery.js';

export interface ControlDeps {
  db: Db;
  /** Webhook targets allowed although private/loopback. */
  webhookAllowHosts: readonly string[];
  /** One webhook POST's time limit, ms. */
  webhookTimeoutMs: number;
  /** Heartbeat age after which a worker counts as offline, seconds. */
  staleSeconds: number;
}

/** Builds the control activities around their dependencies. */
export function createControlActivities(deps: ControlDeps) {
  return {
    /** Asks the scheduler for a worker slot; null = wait and ask again. */
    async claimWorker(input: { taskId: string; avoidWorkerId?: string }): Promise<Assignment | null> {
      const r = await claimOrPreempt(deps.db, input.taskId, { staleSeconds: deps.staleSeconds, avoidWorkerId: input.avoidWorkerId });
      if (r.preempt) {
        // The victim's workflow stops its job (checkpoint kept), frees the slot and requeues it behind this task.
        await Context.current().client.workflow.getHandle(r.preempt).signal(preemptSignal, { by: input.taskId })
          .catch(() => releaseWorker(deps.db, r.preempt!));
      }
      return r.assignment;
    },

    /** Frees the task's worker slot. */
    async releaseWorker(input: { taskId: string }): Promise<void> {
      await releaseWorker(deps.db, input.taskId);
    },

    /**
     * Moves a live task between QUEUED, RUNNING and PAUSED (never out of a terminal state) and records an event.
     * Returns false when the task had already ended.
     */
    async setTaskStatus(input: { taskId: string; status: 'QUEUED' | 'PAUSED'; event?: string; data?: Record<string, unknown> }): Promise<boolean> {
      const rows = await deps.db.update(tasks).set({ status: input.status })
        .where(and(eq(tasks.id, input.taskId), inArray(tasks.status, ['PENDING', 'QUEUED', 'RUNNING', 'PAUSED'])))
        .returning({ id: tasks.id });
      if (rows.length && input.event) await addEvent(deps.db, input.taskId, input.event, input.data ?? {});
      return rows.length > 0;
    },

    /** Delivers one task event to the task's callback URL (retried by the webhook workflow). */
    async deliverWebhook(input: { taskId: string; eventId: number; deliveryId?: string }): Promise<{ status: number }> {
      return deliverWebhook({ db: deps.db, allowHosts: deps.webhookAllowHosts, timeoutMs: deps.webhookTimeoutMs }, input);
    },

    /** Records a terminal state decided by the workflow (failure, timeout, cancellation). */
    async finishTask(input: { taskId: string; status: (typeof TERMINAL_STATUSES)[number]; errorType?: string; errorMessage?: string }): Promise<void> {
      await releaseWorker(deps.db, input.taskId);
      await finish(deps.db, input.taskId, input);
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
