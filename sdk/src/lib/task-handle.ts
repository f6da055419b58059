/** `Task`: a handle on one server task (Python: mofsim_client.Task), generic in its result type. */
import { TaskCancelledError, TaskFailedError, TaskNotCompletedError, TaskTimeoutError } from '../core/errors';
import type { HttpCore } from '../core/http';
import { TERMINAL_STATUSES, type LogEntry, type TaskEvent, type TaskInfo, type TaskStatus } from '../types';
import { resultFor, type AnyTaskResult } from './results';

export interface WaitOptions {
  /** Seconds. @default 3600 */
  timeout?: number;
  /** Seconds between polls. @default 2 */
  pollInterval?: number;
  /** Called with progress 0–100 whenever it changes. */
  onProgress?: (progress: number, task: Task) => void;
  signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) return reject(signal.reason);
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

export class Task<R extends AnyTaskResult = AnyTaskResult> {
  private cachedResult?: R;
  constructor(public info: TaskInfo, private readonly http: HttpCore) {}

  get id(): string { return this.info.task_id; }
  get taskId(): string { return this.info.task_id; }
  get taskType(): string { return this.info.task_type; }
  get status(): TaskStatus { return this.info.status; }
  get model(): string { return this.info.model; }
  get priority(): string { return this.info.priority; }
  /** 0–100. */
  get progress(): number { return this.info.progress ?? 0; }
  get errorMessage(): string | null { return this.info.error_message ?? null; }
  get isTerminal(): boolean { return TERMINAL_STATUSES.includes(this.info.status); }
  get isSuccess(): boolean { return this.info.status === 'COMPLETED'; }
  get createdAt(): Date { return new Date(this.info.created_at); }

  /** Re-reads the task (chainable). */
  async refresh(signal?: AbortSignal): Promise<this> {
    this.info = await this.http.request<TaskInfo>('GET', `/tasks/${this.id}`, { signal });
    return this;
  }

  /**
   * Waits for the end and resolves to the typed result. FAILED → TaskFailedError, CANCELLED → TaskCancelledError,
   * TIMEOUT or the local deadline → TaskTimeoutError. Polls the task (live events over ws come with the events work).
   */
  async wait(opts: WaitOptions = {}): Promise<R> {
    const timeout = opts.timeout ?? 3600;
    const deadline = Date.now() + timeout * 1000;
    let last = -1;
    for (;;) {
      await this.refresh(opts.signal);
      if (this.progress !== last) { last = this.progress; opts.onProgress?.(this.progress, this); }
      if (this.isTerminal) break;
      if (Date.now() > deadline) throw new TaskTimeoutError(this.id, timeout);
      await sleep(Math.min((opts.pollInterval ?? 2) * 1000, Math.max(0, deadline - Date.now()) + 10), opts.signal);
    }
    if (this.status === 'FAILED') throw new TaskFailedError(this.id, this.errorMessage, this.info.error_type);
    if (this.status === 'CANCELLED') throw new TaskCancelledError(this.id);
    if (this.status === 'TIMEOUT') throw new TaskTimeoutError(this.id, timeout);
    return this.getResult({ signal: opts.signal });
  }

  /** The typed result of a finished task (cached); TaskNotCompletedError while it runs. */
  async getResult(opts: { signal?: AbortSignal } = {}): Promise<R> {
    if (this.cachedResult) return this.cachedResult;
    if (!this.isTerminal) await this.refresh(opts.signal);
    if (!this.isTerminal) throw new TaskNotCompletedError(this.id, this.status);
    const raw = await this.http.request<Parameters<typeof resultFor>[0]>('GET', `/tasks/${this.id}/result`, { signal: opts.signal });
    this.cachedResult = resultFor(raw) as R;
    return this.cachedResult;
  }

  /** Cancels; false when the task had already ended. */
  async cancel(): Promise<boolean> {
    if (this.isTerminal) return false;
    try {
      await this.http.request('POST', `/tasks/${this.id}/cancel`);
    } catch (err) {
      if ((err as { status?: number }).status === 409) { await this.refresh(); return false; }
      throw err;
    }
    await this.refresh();
    return true;
  }

  /** Log entries (Python: get_logs); `level` is a minimum. */
  async getLogs(opts: { level?: LogEntry['level']; limit?: number; offset?: number; since?: string | Date } = {}): Promise<LogEntry[]> {
    const since = opts.since instanceof Date ? opts.since.toISOString() : opts.since;
    const r = await this.http.request<{ logs: LogEntry[] }>('GET', `/tasks/${this.id}/logs`, { query: { level: opts.level, limit: opts.limit, offset: opts.offset, since } });
    return r.logs;
  }

  /** Task events (queued, started, progress, …, completed) as they happen; ends after the terminal event. */
  async *events(opts: { pollInterval?: number; signal?: AbortSignal } = {}): AsyncGenerator<TaskEvent> {
    let after = 0;
    for (;;) {
      const r = await this.http.request<{ items: TaskEvent[] }>('GET', `/tasks/${this.id}/events`, { query: { after_id: after }, signal: opts.signal });
      for (const e of r.items) { after = e.id; yield e; }
      if (r.items.some((e) => ['completed', 'failed', 'cancelled', 'timeout'].includes(e.type))) { await this.refresh(opts.signal); return; }
      if (!r.items.length) {
        await this.refresh(opts.signal);
        if (this.isTerminal) return;
        await sleep((opts.pollInterval ?? 1) * 1000, opts.signal);
      }
    }
  }

  toString(): string { return `Task ${this.id} [${this.status}]`; }
  toJSON() { return this.info; }
}
