/** Tasks: per-type submitters (client.optimization.submit …) and the task collection (list, get, cancel, retry …). */
import { existsSync } from 'fs';
import { randomUUID } from 'crypto';
import type { HttpCore } from '../core/http';
import { Page, type PaginationInfo } from '../core/pagination';
import { downloadTaskFile, Task } from '../lib/task-handle';
import type { ResultOf } from '../lib/results';
import type {
  BatchResult, BulkModulusParameters, HeatCapacityParameters, InteractionEnergyParameters, LogEntry, OptimizationParameters,
  Priority, QueuePosition, SinglePointParameters, StabilityParameters, TaskInfo, TaskStatus, TaskType,
} from '../types';
import type { Structures, StructureSource } from './structures';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** How a task names its structure: a local path, bytes, a stream, an uploaded id, a built-in name, or `{id}`. */
export type StructureInput = StructureSource | { id: string } | { builtin: string };

export interface SubmitCommon {
  model: string;
  structure: StructureInput;
  /** CRITICAL | HIGH | NORMAL | LOW. @default NORMAL */
  priority?: Priority;
  /** Webhook URL called on completion/failure. */
  callbackUrl?: string;
  callbackSecret?: string;
  callbackEvents?: string[];
  /** Seconds before the task is stopped with status TIMEOUT. */
  timeout?: number;
  /** File name for Buffer/stream structures (its extension names the format). @default structure.cif */
  filename?: string;
  /** Sent as Idempotency-Key; the SDK makes one per call so its retries never create two tasks. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** Resolves a StructureInput to the wire StructureRef, uploading when needed. */
export async function structureRef(structures: Structures, s: StructureInput, filename?: string): Promise<{ source: 'upload' | 'builtin'; file_id?: string; name?: string }> {
  if (typeof s === 'string') {
    if (UUID.test(s)) return { source: 'upload', file_id: s };
    if (existsSync(s)) return { source: 'upload', file_id: (await structures.upload(s, { filename })).id };
    if (/[\\/]/.test(s) && !/^[\w-]+\/[\w.+-]+$/.test(s)) throw new Error(`no such file: ${s}`);
    return { source: 'builtin', name: s };
  }
  if (typeof s === 'object' && s !== null && 'builtin' in s) return { source: 'builtin', name: s.builtin };
  if (typeof s === 'object' && s !== null && 'id' in s && typeof (s as { id: unknown }).id === 'string') return { source: 'upload', file_id: (s as { id: string }).id };
  return { source: 'upload', file_id: (await structures.upload(s as StructureSource, { filename })).id };
}

/** `client.<type>.submit(...)` for one task type; P is that type's parameter set (wire names). */
export class TaskTypeResource<T extends keyof ResultOf, P extends object> {
  constructor(private readonly http: HttpCore, private readonly structures: Structures, readonly taskType: T) {}

  /** Submits and resolves to the task handle; `await (await submit(...)).wait()` gives the typed result. */
  async submit(args: SubmitCommon & P & { parameters?: Record<string, unknown> }): Promise<Task<ResultOf[T]>> {
    const { model, structure, priority, callbackUrl, callbackSecret, callbackEvents, timeout, filename, idempotencyKey, signal, parameters, ...rest } = args as SubmitCommon & { parameters?: Record<string, unknown> } & Record<string, unknown>;
    const options: Record<string, unknown> = {};
    if (priority) options.priority = priority;
    if (timeout) options.timeout = timeout;
    if (callbackUrl) options.callback = { url: callbackUrl, ...(callbackSecret ? { secret: callbackSecret } : {}), ...(callbackEvents ? { events: callbackEvents } : {}) };
    const body = { model, structure: await structureRef(this.structures, structure, filename), parameters: { ...rest, ...parameters }, options };
    const info = await this.http.request<TaskInfo>('POST', `/tasks/${this.taskType}`, {
      body, signal, headers: { 'idempotency-key': idempotencyKey ?? randomUUID() }, idempotent: true,
    });
    return new Task<ResultOf[T]>(info, this.http);
  }
}

export type OptimizationSubmit = TaskTypeResource<'optimization', OptimizationParameters>;

export interface ListTasksOptions {
  status?: TaskStatus;
  taskType?: TaskType;
  model?: string;
  createdAfter?: string | Date;
  createdBefore?: string | Date;
  page?: number;
  pageSize?: number;
}

export class Tasks {
  constructor(private readonly http: HttpCore, private readonly structures: Structures) {}

  async get(id: string): Promise<Task> {
    return new Task(await this.http.request<TaskInfo>('GET', `/tasks/${encodeURIComponent(id)}`), this.http);
  }

  /** A page of tasks (newest first) that is also an async iterator over all pages. */
  async list(opts: ListTasksOptions = {}): Promise<Page<Task>> {
    const iso = (d?: string | Date) => (d instanceof Date ? d.toISOString() : d);
    const fetchPage = async (page: number): Promise<Page<Task>> => {
      const r = await this.http.request<{ items: TaskInfo[]; pagination: PaginationInfo }>('GET', '/tasks', {
        query: { page, page_size: opts.pageSize, status: opts.status, task_type: opts.taskType, model: opts.model, created_after: iso(opts.createdAfter), created_before: iso(opts.createdBefore) },
      });
      return new Page(r.items.map((i) => new Task(i, this.http)), r.pagination, fetchPage);
    };
    return fetchPage(opts.page ?? 1);
  }

  /** Cancels; true when the server accepted it. */
  async cancel(id: string): Promise<boolean> {
    await this.http.request('POST', `/tasks/${encodeURIComponent(id)}/cancel`);
    return true;
  }

  /** A new task like `id` (same type, model, structure, parameters, options). */
  async retry(id: string): Promise<Task> {
    const r = await this.http.request<{ new_task_id: string; task?: TaskInfo }>('POST', `/tasks/${encodeURIComponent(id)}/retry`);
    return r.task ? new Task(r.task, this.http) : this.get(r.new_task_id);
  }

  /** Changes the priority of a task that has not started. */
  async setPriority(id: string, priority: Priority): Promise<Task> {
    return new Task(await this.http.request<TaskInfo>('PUT', `/tasks/${encodeURIComponent(id)}/priority`, { body: { priority } }), this.http);
  }

  /** Asks a queued or running task to pause (a running job stops checkpointed and resumes from there). */
  async pause(id: string): Promise<Task> {
    return new Task(await this.http.request<TaskInfo>('POST', `/tasks/${encodeURIComponent(id)}/pause`), this.http);
  }

  /** Puts a paused task back in the line. */
  async resume(id: string): Promise<Task> {
    return new Task(await this.http.request<TaskInfo>('POST', `/tasks/${encodeURIComponent(id)}/resume`), this.http);
  }

  /** Where the task stands in the line: position (1 = next), tasks ahead, ETA in seconds. */
  queuePosition(id: string): Promise<QueuePosition> {
    return this.http.request<QueuePosition>('GET', `/tasks/${encodeURIComponent(id)}/queue`);
  }

  /**
   * One output file of a finished task (a name from its result's `output_files`, e.g. `final.cif`): the bytes, or,
   * given `path`, written there (the path is returned).
   */
  downloadFile(id: string, filename: string): Promise<Buffer>;
  downloadFile(id: string, filename: string, path: string): Promise<string>;
  downloadFile(id: string, filename: string, path?: string): Promise<Buffer | string> {
    return downloadTaskFile(this.http, id, filename, path);
  }

  async logs(id: string, opts: { level?: LogEntry['level']; limit?: number; offset?: number } = {}): Promise<LogEntry[]> {
    return (await this.http.request<{ logs: LogEntry[] }>('GET', `/tasks/${encodeURIComponent(id)}/logs`, { query: opts })).logs;
  }

  /**
   * Submits many tasks in one request; items carry `taskType` or share `opts.taskType`. Structures are resolved
   * (uploaded) first. Returns the server's {submitted, failed, task_ids, errors} plus Task handles.
   */
  async batch(items: (Omit<SubmitCommon, 'signal' | 'idempotencyKey'> & { taskType?: TaskType; parameters?: Record<string, unknown> })[], opts: { taskType?: TaskType } = {}): Promise<BatchResult & { handles: Task[] }> {
    const tasks = [];
    for (const it of items) {
      const options: Record<string, unknown> = {};
      if (it.priority) options.priority = it.priority;
      if (it.timeout) options.timeout = it.timeout;
      if (it.callbackUrl) options.callback = { url: it.callbackUrl };
      tasks.push({ task_type: it.taskType, model: it.model, structure: await structureRef(this.structures, it.structure, it.filename), parameters: it.parameters ?? {}, options });
    }
    const r = await this.http.request<BatchResult>('POST', '/tasks/batch', { body: { tasks }, query: { task_type: opts.taskType } });
    return { ...r, handles: (r.tasks ?? []).map((t) => new Task(t, this.http)) };
  }
}

export type { BulkModulusParameters, HeatCapacityParameters, InteractionEnergyParameters, OptimizationParameters, SinglePointParameters, StabilityParameters };
