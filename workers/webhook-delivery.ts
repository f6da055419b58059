/** One task webhook POST: the payload of one task event, sent and recorded by common/webhook-attempt.ts. */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import { attemptWebhook, type WebhookAttemptDeps } from '../common/webhook-attempt.js';
import { WEBHOOK_EVENTS } from '../common/webhook-policy.js';
import { taskEvents, tasks } from '../store/schema.js';

export type WebhookDeps = WebhookAttemptDeps;

interface Callback { url: string; events?: string[]; secret?: string }

/**
 * POSTs the event; throws a retryable failure on anything but a 2xx answer. `deliveryId` (a resend) replaces the
 * event's shared idempotency key and adds `X-MOFSim-Resend: true`; the signed body is the event's, unchanged.
 */
export async function deliverWebhook(deps: WebhookDeps, input: { taskId: string; eventId: number; deliveryId?: string }): Promise<{ status: number }> {
  const [task] = await deps.db.select().from(tasks).where(eq(tasks.id, input.taskId));
  const [event] = await deps.db.select().from(taskEvents).where(eq(taskEvents.id, input.eventId));
  const callback = task?.options?.callback as Callback | undefined;
  if (!task || !event || !callback?.url) throw ApplicationFailure.nonRetryable(`nothing to deliver for event ${input.eventId}`, 'TASK_NOT_FOUND');
  const name = WEBHOOK_EVENTS[event.type] ?? `task.${event.type}`;
  const body = JSON.stringify({
    id: `evt_${event.id}`,
    type: name,
    created_at: event.createdAt.toISOString(),
    task: { task_id: task.id, task_type: task.taskType, status: task.status, model: task.model, progress: task.progress },
    data: event.data,
  });
  return attemptWebhook(deps, {
    subject: { taskId: task.id, eventId: event.id },
    url: callback.url,
    ...(callback.secret ? { secret: callback.secret } : {}),
    event: name,
    idempotencyKey: input.deliveryId ?? `${task.id}:${event.id}`,
    body,
    ...(input.deliveryId ? { headers: { 'x-mofsim-resend': 'true' } } : {}),
    attempt: Context.current().info.attempt,
  });
}
