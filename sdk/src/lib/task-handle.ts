/** `Task`: a handle on one server task (Python: mofsim_client.Task), generic in its result type. */
import { writeFile } from 'fs/promises';
import { TaskCancelledError, TaskFailedError, TaskNotCompletedError, TaskTimeoutError } from '../core/errors';
import type { HttpCore } from '../core/http';
import { TERMINAL_STATUSES, type LogEntry, type QueuePosition, type TaskEvent, type TaskInfo, type TaskStatus } from '../types';
import { resultFor, type AnyTaskResult } from './results';
import { FINAL_EVENT_TYPES, taskEventStream } from './task-events';

/** GET /tasks/{id}/files/{filename}: the bytes, or written to `path` (then the path). */
export async function downloadTaskFile(http: HttpCore, id: string, filename: string, path?: string): Promise<Buffer | string> {
  const res = await http.request<Response>('GET', `/tasks/${encodeURIComponent(id)}/files/${encodeURIComponent(filename)}`, { raw: true });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (path === undefined) return bytes;
  await writeFile(path, bytes);
  return path;
}

export interface WaitOptions {
  /** Seconds. @default 3600 */
  timeout?: number;
  /**
   * Seconds between polls, when events are polled (`liveEvents: 'poll'`, or `'auto'` without a usable socket).
   * @default 2
   */
  pollInterval?: number;
  /** Called with progress 0–100 whenever it changes. */
  onProgress?: (progress: number, task: Task) => void;
  signal?: AbortSignal;
}

export interface EventsOptions {
  /** Seconds between polls, when events are polled. @default 1 */
  pollInterval?: number;
  signal?: AbortSignal;
}

// What a non-final event says about the status, so a handle followed over the socket shows it without a refresh.
const STATUS_AFTER: Record<string, TaskStatus> = {
  queued: 'QUEUED', started: 'RUNNING', resumed: 'RUNNING', paused: 'PAUSED', unpaused: 'QUEUED', preempted: 'QUEUED', requeued: 'QUEUED',
};

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
   * TIMEOUT or the local deadline → TaskTimeoutError. Follows the task's events (the client's `liveEvents`
   * transport), then re-reads the task once it has ended. The deadline and `signal` close the socket.
   */
  async wait(opts: WaitOptions = {}): Promise<R> {
    const timeout = opts.timeout ?? 3600;
    // One signal for the local deadline and the caller's abort, so every request, sleep and socket stops on either.
    const stop = new AbortController();
    const onAbort = () => stop.abort(opts.signal!.reason);
    if (opts.signal?.aborted) onAbort(); else opts.signal?.addEventListener('abort', onAbort, { once: true });
    // setTimeout fires at once past 2^31 - 1 ms; an infinite timeout sets no timer at all.
    const timer = Number.isFinite(timeout) ? setTimeout(() => stop.abort(new TaskTimeoutError(this.id, timeout)), Math.min(timeout * 1000, 2 ** 31 - 1)) : undefined;
    let last = -1;
    const report = () => { if (this.progress !== last) { last = this.progress; opts.onProgress?.(this.progress, this); } };
    // The stream starts with the task's history, which the refresh has already summed up: reporting it again would
    // run the progress back to 0 and up (and print a line per old event in `mofsim watch`).
    let live = false;
    const follow = { pollInterval: opts.pollInterval ?? 2, signal: stop.signal, onCaughtUp: () => { live = true; report(); } };
    try {
      await this.refresh(stop.signal);
      report();
      if (!this.isTerminal) {
        for await (const _ of this.follow(follow)) if (live) report();
      }
      report();
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
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

  /** Asks the task to pause (a running job stops checkpointed); the handle shows the answer's status. */
  async pause(): Promise<this> {
    this.info = await this.http.request<TaskInfo>('POST', `/tasks/${this.id}/pause`);
    return this;
  }

  /** Puts a paused task back in the line. */
  async resume(): Promise<this> {
    this.info = await this.http.request<TaskInfo>('POST', `/tasks/${this.id}/resume`);
    return this;
  }

  /** Where the task stands in the line: position (1 = next), tasks ahead, ETA in seconds. */
  queuePosition(): Promise<QueuePosition> {
    return this.http.request<QueuePosition>('GET', `/tasks/${this.id}/queue`);
  }

  /** One output file (e.g. `final.cif`): the bytes, or, given `path`, written there (the path is returned). */
  downloadFile(filename: string): Promise<Buffer>;
  downloadFile(filename: string, path: string): Promise<string>;
  downloadFile(filename: string, path?: string): Promise<Buffer | string> {
    return downloadTaskFile(this.http, this.id, filename, path);
  }

  /** Log entries (Python: get_logs); `level` is a minimum. */
  async getLogs(opts: { level?: LogEntry['level']; limit?: number; offset?: number; since?: string | Date } = {}): Promise<LogEntry[]> {
    const since = opts.since instanceof Date ? opts.since.toISOString() : opts.since;
    const r = await this.http.request<{ logs: LogEntry[] }>('GET', `/tasks/${this.id}/logs`, { query: { level: opts.level, limit: opts.limit, offset: opts.offset, since } });
    return r.logs;
  }

  /**
   * Task events (queued, started, progress, …, completed) from the first, as they happen; ends after the final
   * event, with the task re-read. Over the client's `liveEvents` transport; each event once, in id order.
   */
  events(opts: EventsOptions = {}): AsyncGenerator<TaskEvent> {
    return this.follow(opts);
  }

  private async *follow(opts: EventsOptions & { onCaughtUp?: () => void }): AsyncGenerator<TaskEvent> {
    const hasEnded = async () => (await this.refresh(opts.signal)).isTerminal;
    for await (const e of taskEventStream(this.http, this.id, { pollInterval: opts.pollInterval ?? 1, signal: opts.signal, hasEnded, onCaughtUp: opts.onCaughtUp })) {
      this.apply(e);
      yield e;
      if (FINAL_EVENT_TYPES.includes(e.type)) { await this.refresh(opts.signal); return; }
    }
  }

  // Keeps `status` and `progress` current between refreshes; a final event is followed by a refresh instead.
  private apply(e: TaskEvent): void {
    if (this.isTerminal) return;
    const status = STATUS_AFTER[e.type];
    if (status) this.info = { ...this.info, status };
    const progress = Number((e.data as { progress?: unknown }).progress);
    if (e.type === 'progress' && Number.isFinite(progress)) this.info = { ...this.info, progress: Math.max(0, Math.min(100, progress)) };
  }

  toString(): string { return `Task ${this.id} [${this.status}]`; }
  toJSON() { return this.info; }
}
