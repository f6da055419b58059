/** Light activities on the control queue: scheduling decisions and database bookkeeping. */
import { count, eq, sql } from 'drizzle-orm';
import type { TerminalStatus } from '../store/task-status.js';
import type { Db } from '../store/client.js';
import { campaignEvents, campaigns, tasks, webhookDeliveries, workers } from '../store/schema.js';
import type { SystemLog } from '../store/system-logs.js';
import type { ModelResidencyOutcome } from '../workflows/model-residency-workflow.js';
import { enterLine, leaveLine, markSignalled, releaseWorker, type Assignment, type Grant } from '../store/scheduler.js';
import { finish, setLiveStatus } from '../store/task-state.js';
import { countDeliveryGaveUp } from '../metrics/webhook-metrics.js';
import { deliverCampaignWebhook, deliverWebhook } from './webhook-delivery.js';
import type { Dispatcher } from './dispatcher.js';

export interface ControlDeps {
  db: Db;
  /** Webhook targets allowed although private/loopback. */
  webhookAllowHosts: readonly string[];
  /** One webhook POST's time limit, ms. */
  webhookTimeoutMs: number;
  /** Where given-up webhooks and model residency outcomes are recorded (`system_logs`). */
  systemLog?: SystemLog;
  /** This process's scheduler: decisions run where the line changes. */
  dispatcher: Dispatcher;
}

// Whether any online worker has a free job slot: without one, a task entering the line cannot be granted anything
// (only a preemption could make room, and the coalesced decision that kick() starts sees to that).
async function anySlotFree(db: Db): Promise<boolean> {
  const rows = await db.execute(sql`
    select 1 from ${workers} w where w.status = 'online'
      and w.max_jobs > (select count(*) from task_assignments a where a.worker_id = w.id) limit 1`);
  return rows.length > 0;
}

/** Builds the control activities around their dependencies. */
export function createControlActivities(deps: ControlDeps) {
  const webhooks = deps.systemLog?.as('webhook', {});
  // The outcome is about the worker that did the op, not the one that happens to take this activity.
  const residency = deps.systemLog?.as('worker', {});
  const { dispatcher } = deps;
  return {
    /**
     * Puts request `seq` of a task in line and decides at once; returns the grant if this task got the slot (now,
     * or before it asked), else null (the workflow then waits for the `slot` signal).
     */
    async requestSlot(input: { taskId: string; seq: number; avoidWorkerId?: string }): Promise<Grant | null> {
      const prior = await enterLine(deps.db, input);
      // Answered here, so the sweep need not re-send it.
      if (prior) { await markSignalled(deps.db, [prior]); return prior; }
      if (!(await anySlotFree(deps.db))) { dispatcher.kick(); return null; }
      return dispatcher.decide({ taskId: input.taskId, seq: input.seq });
    },

    /** Withdraws a request from the line (pause, cancel, timeout while waiting); a slot granted meanwhile goes back. */
    async leaveLine(input: { taskId: string; seq: number }): Promise<void> {
      if (await leaveLine(deps.db, input)) dispatcher.kick();
    },

    /** For workflows started before the line became event-driven: ask once, null = ask again later. */
    async claimWorker(input: { taskId: string; avoidWorkerId?: string }): Promise<Assignment | null> {
      const prior = await enterLine(deps.db, { ...input, seq: 0 });
      if (prior) return prior;
      return dispatcher.decide({ taskId: input.taskId, seq: 0 });
    },

    /** Frees the task's worker slot, and gives it to whoever is next. */
    async releaseWorker(input: { taskId: string }): Promise<void> {
      await releaseWorker(deps.db, input.taskId);
      dispatcher.kick();
    },

    /**
     * Moves a live task between QUEUED, RUNNING and PAUSED (never out of a terminal state) and records an event.
     * Returns false when the task had already ended.
     */
    async setTaskStatus(input: { taskId: string; status: 'QUEUED' | 'PAUSED'; event?: string; data?: Record<string, unknown> }): Promise<boolean> {
      return setLiveStatus(deps.db, input.taskId, input.status, input.event, input.data ?? {});
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

    /** Delivers one campaign event to the campaign's callback URL (retried by the webhook workflow). */
    async deliverCampaignWebhook(input: { campaignEventId: number }): Promise<{ status: number }> {
      return deliverCampaignWebhook({ db: deps.db, allowHosts: deps.webhookAllowHosts, timeoutMs: deps.webhookTimeoutMs }, input);
    },

    /** Records that a campaign event's webhook will not be delivered (retries used up, or the URL refused). */
    async campaignWebhookGaveUp(input: { campaignEventId: number; error: string }): Promise<void> {
      const [row] = await deps.db.select({ campaignId: campaignEvents.campaignId, type: campaignEvents.type, options: campaigns.options })
        .from(campaignEvents).leftJoin(campaigns, eq(campaigns.id, campaignEvents.campaignId)).where(eq(campaignEvents.id, input.campaignEventId));
      const [attempts] = await deps.db.select({ n: count() }).from(webhookDeliveries).where(eq(webhookDeliveries.campaignEventId, input.campaignEventId));
      const url = (row?.options?.callback as { url?: string } | undefined)?.url;
      let origin: string | null = null;
      try { origin = url ? new URL(url).origin : null; } catch { /* not a URL */ }
      countDeliveryGaveUp();
      webhooks?.error('webhooks', 'campaign webhook delivery given up', {
        extra: { campaign_id: row?.campaignId, event: `campaign.${row?.type}`, campaign_event_id: input.campaignEventId, attempts: Number(attempts?.n ?? 0), origin, error: input.error.slice(0, 500) },
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
    async finishTask(input: { taskId: string; status: TerminalStatus; errorType?: string; errorMessage?: string }): Promise<void> {
      await releaseWorker(deps.db, input.taskId);
      await finish(deps.db, input.taskId, input);
      dispatcher.kick();
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
