/**
 * Webhooks: callback URLs are checked at submission; every task event a task's callback subscribes to starts one
 * delivery workflow (id `webhook-<event id>`: API processes that all saw the event start it once). The delivery
 * log is queryable per task.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { asc, eq, sql } from 'drizzle-orm';
import { ALL_WEBHOOK_EVENTS, DEFAULT_WEBHOOK_EVENTS, refuseCallbackUrl, WEBHOOK_EVENTS } from '../../common/webhook-policy.js';
import type { WebhookWorkflowInput } from '../../workflows/webhook-workflow.js';
import { taskEvents, tasks, webhookDeliveries, type TaskEventRow, type WebhookDeliveryRow } from '../db/schema.js';
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

/**
 * Starts the delivery workflow of every subscribed event: live from NOTIFY, plus a sweep (at start and every
 * `MOFSIM_WEBHOOK_SWEEP_S`) over recent events that have no delivery yet — those raised while no API process was
 * listening. The workflow id `webhook-<event id>` with REJECT_DUPLICATE makes every start idempotent.
 */
export function startWebhookDispatch(deps: ServerDeps): () => void {
  const log = deps.logger.child({ component: 'webhooks' });
  const dispatch = async (e: { id: number; taskId: string; type: string }) => {
    const name = WEBHOOK_EVENTS[e.type];
    if (!name) return;
    const [task] = await deps.database.db.select({ options: tasks.options }).from(tasks).where(eq(tasks.id, e.taskId));
    const callback = task?.options?.callback as Callback | undefined;
    if (!callback?.url || !(callback.events ?? DEFAULT_WEBHOOK_EVENTS).includes(name)) return;
    const input: WebhookWorkflowInput = { taskId: e.taskId, eventId: e.id, retryInitialSeconds: deps.config.MOFSIM_WEBHOOK_RETRY_INITIAL_S };
    await deps.temporal.workflow.start('webhookWorkflow', {
      taskQueue: deps.config.MOFSIM_TASK_QUEUE, workflowId: `webhook-${e.id}`, args: [input],
      // Another API process (or the sweep) may start it after a run already closed: never deliver an event twice.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    }).catch((err) => { if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; });
  };
  deps.liveEvents.onEvent((e: TaskEventRow) => {
    dispatch(e).catch((err) => log.warn('could not start a webhook delivery', { task_id: e.taskId, event_id: e.id, error: String(err) }));
  });
  const sweep = async () => {
    const types = Object.keys(WEBHOOK_EVENTS);
    const missed = await deps.database.db.execute<{ id: number; task_id: string; type: string }>(sql`
      select e.id, e.task_id, e.type from ${taskEvents} e join ${tasks} t on t.id = e.task_id
      where e.type in (${sql.join(types.map((x) => sql`${x}`), sql`, `)})
        and t.options ? 'callback'
        and e.created_at > now() - make_interval(secs => ${deps.config.MOFSIM_WEBHOOK_SWEEP_WINDOW_S})
        and e.created_at < now() - interval '5 seconds'
        and not exists (select 1 from ${webhookDeliveries} d where d.event_id = e.id)
      order by e.id limit 1000`);
    for (const r of missed) await dispatch({ id: Number(r.id), taskId: r.task_id, type: r.type });
  };
  const run = () => { sweep().catch((err) => log.warn('webhook sweep failed', { error: String(err) })); };
  run();
  const timer = setInterval(run, deps.config.MOFSIM_WEBHOOK_SWEEP_S * 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/** Every delivery attempt for a task's events, oldest first. */
export async function listWebhookDeliveries(deps: ServerDeps, taskId: string): Promise<WebhookDeliveryRow[]> {
  await getTask(deps, taskId);
  return deps.database.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.taskId, taskId)).orderBy(asc(webhookDeliveries.id));
}
