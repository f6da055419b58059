/** Light activities on the control queue: scheduling decisions and database bookkeeping. */
import { and, count, eq, inArray } from 'drizzle-orm';
import type { TERMINAL_STATUSES } from '../common/task-types.js';
import type { Db } from '../store/client.js';
import { tasks, webhookDeliveries } from '../store/schema.js';
import type { SystemLog } from '../store/system-logs.js';
import { Context } from '@temporalio/activity';
import type { ModelResidencyOutcome } from '../workflows/model-residency-workflow.js';
import { preemptSignal } from '../workflows/task-workflow.js';
import { claimOrPreempt, releaseWorker, type Assignment } from '../store/scheduler.js';
import { addEvent, finish } from '../store/task-state.js';
import { logStaleWorkers } from '../store/worker-registry.js';
import { countDeliveryGaveUp } from '../metrics/webhook-metrics.js';
import { deliverWebhook } from './webhook-delivery.js';

export interface ControlDeps {
  db: Db;
  /** Webhook targets allowed although private/loopback. */
  webhookAllowHosts: readonly string[];
  /** One webhook POST's time limit, ms. */
  webhookTimeoutMs: number;
  /** Heartbeat age after which a worker counts as offline, seconds. */
  staleSeconds: number;
  /** Where scheduling decisions and given-up webhooks are recorded (`system_logs`). */
  systemLog?: SystemLog;
}

/** Builds the control activities around their dependencies. */
export function createControlActivities(deps: ControlDeps) {
  // Decisions of the shared control queue belong to no one worker: no worker id unless the entry names one.
  const scheduler = deps.systemLog?.as('scheduler', {});
  const webhooks = deps.systemLog?.as('webhook', {});
  // The outcome is about the worker that did the op, not the one that happens to take this activity.
  const residency = deps.systemLog?.as('worker', {});
  return {
    /** Asks the scheduler for a worker slot; null = wait and ask again. */
    async claimWorker(input: { taskId: string; avoidWorkerId?: string }): Promise<Assignment | null> {
      const r = await claimOrPreempt(deps.db, input.taskId, { staleSeconds: deps.staleSeconds, avoidWorkerId: input.avoidWorkerId });
      logStaleWorkers(scheduler, r.markedOffline, deps.staleSeconds);
      if (r.preempt) {
        scheduler?.info('scheduler', 'preempting a running job for a CRITICAL task', {
          taskId: r.preempt, workerId: r.preemptWorkerId, extra: { for_task_id: input.taskId },
        });
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

    /** Records that a task event's webhook will not be delivered (retries used up, or the URL refused). */
    async webhookGaveUp(input: { taskId: string; eventId: number; error: string }): Promise<void> {
      const [task] = await deps.db.select({ options: tasks.options }).from(tasks).where(eq(tasks.id, input.taskId));
      const [attempts] = await deps.db.select({ n: count() }).from(webhookDeliveries).where(eq(webhookDeliveries.eventId, input.eventId));
      const url = (task?.options?.callback as { url?: string } | undefined)?.url;
      // The origin only: a callback's path or query may carry a token.
      let origin: string | null = null;
      try { origin = url ? new URL(url).origin : null; } catch { /* not a URL */ }
      countDeliveryGaveUp();
      webhooks?.error('webhooks', 'webhook delivery given up', {
        taskId: input.taskId, extra: { event_id: input.eventId, attempts: Number(attempts?.n ?? 0), origin, error: input.error.slice(0, 500) },
      });
      await webhooks?.flush();
    },

    /** Records what a model load or unload did on each worker (INFO when done, WARNING when not). */
    async recordModelResidency(input: {
      action: 'load' | 'unload'; model: string; workflowId: string; requestId?: string;
      by?: { keyId?: string; name?: string }; outcomes: ModelResidencyOutcome[];
    }): Promise<void> {
      const { action, model } = input;
      const done = action === 'load' ? 'loaded' : 'unloaded';
      for (const o of input.outcomes) {
        const fields = {
          workerId: o.workerId, requestId: input.requestId ?? null,
          extra: { model, action, outcome: o.status, workflow_id: input.workflowId, by_key_id: input.by?.keyId, by_key_name: input.by?.name } as Record<string, unknown>,
        };
        if (o.status === 'failed') {
          Object.assign(fields.extra, { error_type: o.errorType, error: o.message.slice(0, 500) });
          residency?.warning('models', `model ${model} could not be ${done} on worker ${o.workerId}: ${o.message.slice(0, 300)}`, fields);
          continue;
        }
        Object.assign(fields.extra, { seconds: Math.round(o.seconds * 1000) / 1000 });
        if (o.status === 'in_use') {
          fields.extra.in_use = o.inUse;
          residency?.warning('models', `model ${model} not unloaded from worker ${o.workerId}: in use by ${o.inUse} running job(s); unload it once they finish`, fields);
        } else if (o.status === 'loaded') {
          residency?.info('models', `model ${model} loaded on worker ${o.workerId} in ${o.seconds < 1 ? o.seconds.toFixed(2) : o.seconds.toFixed(1)} s`, fields);
        } else if (o.status === 'unloaded') {
          residency?.info('models', `model ${model} unloaded from worker ${o.workerId}`, fields);
        } else {
          residency?.info('models', `model ${model} was ${o.status === 'already_loaded' ? 'already' : 'not'} loaded on worker ${o.workerId}`, fields);
        }
      }
      await residency?.flush();
    },

    /** Records a terminal state decided by the workflow (failure, timeout, cancellation). */
    async finishTask(input: { taskId: string; status: (typeof TERMINAL_STATUSES)[number]; errorType?: string; errorMessage?: string }): Promise<void> {
      await releaseWorker(deps.db, input.taskId);
      await finish(deps.db, input.taskId, input);
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
