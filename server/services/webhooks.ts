/**
 * Webhooks: callback URLs are checked at submission; every task event a task's callback subscribes to starts one
 * delivery workflow (id `webhook-<event id>`: API processes that all saw the event start it once). The delivery
 * log is queryable per task.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { createHash, randomBytes } from 'node:crypto';
import { TERMINAL_STATUSES } from '../../common/task-types.js';
import { ALL_WEBHOOK_EVENTS, DEFAULT_WEBHOOK_EVENTS, refuseCallbackUrl, WEBHOOK_EVENTS } from '../../common/webhook-policy.js';
import type { WebhookWorkflowInput } from '../../workflows/webhook-workflow.js';
import { taskEvents, tasks, webhookDeliveries, type TaskEventRow, type WebhookDeliveryRow } from '../../store/schema.js';
import type { ServerDeps } from '../deps.js';
import { invalidParameter, invalidTaskState, nothingToResend, unavailable } from '../errors.js';
import type { Actor } from './keys.js';
import { FINAL_EVENT_TYPES } from './live-events.js';
import { getTask } from './tasks.js';

interface Callback { url: string; events?: string[]; secret?: string }

/**
 * Refuses a callback the server will not deliver to (bad URL, private address, unknown event name); `known` are the
 * event names it may subscribe to (a task's by default, a campaign's for a campaign).
 */
export async function checkCallback(deps: ServerDeps, callback: Callback, field = 'options.callback', known: readonly string[] = ALL_WEBHOOK_EVENTS): Promise<void> {
  const refused = await refuseCallbackUrl(callback.url, deps.config.MOFSIM_WEBHOOK_ALLOW_HOSTS);
  if (refused) throw invalidParameter(refused, `${field}.url`, 'CALLBACK_URL_REFUSED');
  for (const e of callback.events ?? []) {
    if (!known.includes(e)) {
      throw invalidParameter(`unknown webhook event ${e}; known: ${known.join(', ')}`, `${field}.events`);
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
  // Only events a callback could subscribe to, of tasks that have one (most have none: nothing is read for them).
  }, (n) => !!WEBHOOK_EVENTS[n.type] && n.callback !== false);
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

/** What a resend started: its delivery id (the idempotency key its rows carry in the delivery log) and the event. */
export interface WebhookResend { delivery_id: string; task_id: string; event: string; event_id: number; url: string }

/**
 * Sends a finished task's latest terminal event to its callback again, through the same signed, retried delivery
 * workflow, under a new delivery id `<task>:<event>:resend-<id>` (sent as Idempotency-Key and X-MOFSim-Delivery,
 * with X-MOFSim-Resend: true), so a receiver that de-duplicates on the key takes it as a new delivery of the same
 * event (`id` in the body stays `evt_<event id>`). With the request's Idempotency-Key a retried request starts one
 * resend. 409 when there is nothing to resend: the task has not finished (40902), or has no callback, its callback
 * does not subscribe to the event, or its URL is now refused (40907).
 */
export async function resendWebhook(deps: ServerDeps, taskId: string, actor: Actor, requestKey?: string): Promise<WebhookResend> {
  const task = await getTask(deps, taskId, actor);
  if (!(TERMINAL_STATUSES as readonly string[]).includes(task.status)) throw invalidTaskState(task.status, 'resend the webhook of');
  const callback = task.options?.callback as Callback | undefined;
  if (!callback?.url) throw nothingToResend('NO_CALLBACK', `task ${task.id} has no callback URL (options.callback, or its key's default webhook)`);
  const [event] = await deps.database.db.select().from(taskEvents)
    .where(and(eq(taskEvents.taskId, task.id), inArray(taskEvents.type, FINAL_EVENT_TYPES)))
    .orderBy(desc(taskEvents.id)).limit(1);
  if (!event) throw nothingToResend('NO_TERMINAL_EVENT', `task ${task.id} is ${task.status} but recorded no final event`);
  const name = WEBHOOK_EVENTS[event.type]!;
  const subscribed = callback.events ?? DEFAULT_WEBHOOK_EVENTS;
  if (!subscribed.includes(name)) {
    throw nothingToResend('EVENT_NOT_SUBSCRIBED', `the task's callback does not subscribe to ${name} (it subscribes to ${subscribed.join(', ')})`);
  }
  // Checked again by the delivery; checked here too so the caller hears it now rather than in the delivery log.
  const refused = await refuseCallbackUrl(callback.url, deps.config.MOFSIM_WEBHOOK_ALLOW_HOSTS);
  if (refused) throw nothingToResend('CALLBACK_URL_REFUSED', refused);

  const suffix = requestKey
    ? createHash('sha256').update(`${task.id}\0${event.id}\0${requestKey}`).digest('hex').slice(0, 16)
    : randomBytes(8).toString('hex');
  const deliveryId = `${task.id}:${event.id}:resend-${suffix}`;
  const input: WebhookWorkflowInput = { taskId: task.id, eventId: event.id, retryInitialSeconds: deps.config.MOFSIM_WEBHOOK_RETRY_INITIAL_S, deliveryId };
  try {
    await deps.temporal.workflow.start('webhookWorkflow', {
      taskQueue: deps.config.MOFSIM_TASK_QUEUE, workflowId: `webhook-${event.id}-resend-${suffix}`, args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  } catch (err) {
    // The same Idempotency-Key again: the first request's resend is the answer.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw unavailable('TEMPORAL_UNAVAILABLE', `could not start the delivery: ${(err as Error).message}`);
  }
  return { delivery_id: deliveryId, task_id: task.id, event: name, event_id: event.id, url: callback.url };
}
