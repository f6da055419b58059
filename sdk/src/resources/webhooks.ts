/** Task webhooks: the delivery log of a task's callback, and resending its final event (Python: get_webhook_deliveries, resend_webhook). */
import { randomUUID } from 'crypto';
import type { HttpCore } from '../core/http';
import type { WebhookDelivery, WebhookResend } from '../types';

export class Webhooks {
  constructor(private readonly http: HttpCore) {}

  /** Every delivery attempt of the task's events to its callback, oldest first (one row per attempt). */
  async deliveries(taskId: string): Promise<WebhookDelivery[]> {
    return (await this.http.request<{ items: WebhookDelivery[] }>('GET', `/tasks/${encodeURIComponent(taskId)}/webhooks`)).items;
  }

  /**
   * Sends the finished task's final event to its callback again, as a new signed delivery (`delivery_id` is its
   * idempotency key in the delivery log). ConflictError (409) while the task runs or when it has no callback.
   * The SDK sends an Idempotency-Key per call, so its own retries never start two resends.
   */
  resend(taskId: string, opts: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<WebhookResend> {
    return this.http.request('POST', `/tasks/${encodeURIComponent(taskId)}/webhooks/resend`, {
      headers: { 'idempotency-key': opts.idempotencyKey ?? randomUUID() }, signal: opts.signal, idempotent: true,
    });
  }
}
