/**
 * Webhooks: callback URLs are checked at submission; every task event a task's callback subscribes to starts one
 * delivery workflow (id `webhook-<event id>`: API processes that all saw the event start it once). The delivery
 * log is queryable per task.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { asc, eq } from 'drizzle-orm';
import { ALL_WEBHOOK_EVENTS, DEFAULT_WEBHOOK_EVENTS, refuseCallbackUrl, WEBHOOK_EVENTS } from '../../common/webhook-policy.js';
import type { WebhookWorkflowInput } from '../../workflows/webhook-workflow.js';
import { tasks, webhookDeliveries, type TaskEventRow, type WebhookDeliveryRow } from '../db/schema.js';
import type { ServerDeps } from '../deps.js';
import { invalidParameter } from '../errors.js';
import { getTask } from './tasks.js';

interface Callback { url: string; events?: string[]; secret?: string }

/** Refuses a callback the server will not deliver to (bad URL, private address, unknown event name). */
export async function checkCallback(deps: ServerDeps, callback: Callback, field = 'options.callback'): Promise<void> {
  const refused = await refuseCallbackUrl(callback.url, deps.config.MOFSIM_WEBHOOK_ALLOW_HOSTS);
  if (refused) throw invalidParameter(refused, `${field}.url`, 'CALLBACK_URL_REFUSED');
  for (const e of callback.events ?? []) {
    if (!ALL_WEBHOOK_EVENTS.includes(e)) {
      throw invalidParameter(`unknown webhook event ${e}; known: ${ALL_WEBHOOK_EVENTS.join(', ')}`, `${field}.events`);
    }
  }
}

/** Starts the delivery workflow of every subscribed event this API process hears about. */
export function startWebhookDispatch(deps: ServerDeps): void {
  const log = deps.logger.child({ component: 'webhooks' });
  deps.liveEvents.onEvent((e: TaskEventRow) => {
    const name = WEBHOOK_EVENTS[e.type];
    if (!name) return;
    void (async () => {
      const [task] = await deps.database.db.select({ options: tasks.options }).from(tasks).where(eq(tasks.id, e.taskId));
      const callback = task?.options?.callback as Callback | undefined;
      if (!callback?.url || !(callback.events ?? DEFAULT_WEBHOOK_EVENTS).includes(name)) return;
      const input: WebhookWorkflowInput = { taskId: e.taskId, eventId: e.id, retryInitialSeconds: deps.config.MOFSIM_WEBHOOK_RETRY_INITIAL_S };
      await deps.temporal.workflow.start('webhookWorkflow', {
        taskQueue: deps.config.MOFSIM_TASK_QUEUE, workflowId: `webhook-${e.id}`, args: [input],
        // Another API process may start it after this one's run already closed: never deliver an event twice.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      }).catch((err) => { if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; });
    })().catch((err) => log.warn('could not start a webhook delivery', { task_id: e.taskId, event_id: e.id, error: String(err) }));
  });
}

/** Every delivery attempt for a task's events, oldest first. */
export async function listWebhookDeliveries(deps: ServerDeps, taskId: string): Promise<WebhookDeliveryRow[]> {
  await getTask(deps, taskId);
  return deps.database.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.taskId, taskId)).orderBy(asc(webhookDeliveries.id));
}
