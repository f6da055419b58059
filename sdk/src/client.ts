/**
 * `MOFSimClient`: the resources of the Python SDK as namespaces (`client.optimization.submit`, `client.tasks.list`)
 * plus the Python client's flat methods in camelCase (`getTask`, `listTasks`, `waitAll`, …); see the README table.
 */
import { HttpCore, type ClientOptions } from './core/http';
import type { Page } from './core/pagination';
import type { AnyTaskResult, ResultOf } from './lib/results';
import { Task, type WaitOptions } from './lib/task-handle';
import { Alerts } from './resources/alerts';
import { Campaigns } from './resources/campaigns';
import { Keys } from './resources/keys';
import { Models } from './resources/models';
import { Structures, type StructureSource } from './resources/structures';
import { System } from './resources/system';
import { Webhooks } from './resources/webhooks';
import {
  TaskTypeResource, Tasks, type ListTasksOptions, type StructureInput, type SubmitCommon,
} from './resources/tasks';
import type {
  BuiltinStructure, BulkModulusParameters, GPUInfo, HeatCapacityParameters, InteractionEnergyParameters, LogEntry, ModelInfo,
  OptimizationParameters, QueueInfo, SinglePointParameters, StabilityParameters, StructureInfo, SystemConfig, SystemStats, TaskType,
  WebhookDelivery, WebhookResend,
} from './types';

type Extra = Omit<SubmitCommon, 'model' | 'structure'> & { parameters?: Record<string, unknown>; [param: string]: unknown };

export class MOFSimClient {
  readonly http: HttpCore;
  readonly optimization: TaskTypeResource<'optimization', OptimizationParameters>;
  readonly stability: TaskTypeResource<'stability', StabilityParameters>;
  readonly bulkModulus: TaskTypeResource<'bulk-modulus', BulkModulusParameters>;
  readonly heatCapacity: TaskTypeResource<'heat-capacity', HeatCapacityParameters>;
  readonly interactionEnergy: TaskTypeResource<'interaction-energy', InteractionEnergyParameters>;
  readonly singlePoint: TaskTypeResource<'single-point-energy', SinglePointParameters>;
  readonly tasks: Tasks;
  readonly structures: Structures;
  readonly models: Models;
  readonly system: System;
  readonly alerts: Alerts;
  readonly keys: Keys;
  readonly webhooks: Webhooks;
  readonly campaigns: Campaigns;

  /** Options default from env MOFSIM_BASE_URL / MOFSIM_API_KEY, so `new MOFSimClient()` just works. */
  constructor(opts: ClientOptions = {}) {
    this.http = new HttpCore(opts);
    this.structures = new Structures(this.http);
    this.tasks = new Tasks(this.http, this.structures);
    this.optimization = new TaskTypeResource(this.http, this.structures, 'optimization');
    this.stability = new TaskTypeResource(this.http, this.structures, 'stability');
    this.bulkModulus = new TaskTypeResource(this.http, this.structures, 'bulk-modulus');
    this.heatCapacity = new TaskTypeResource(this.http, this.structures, 'heat-capacity');
    this.interactionEnergy = new TaskTypeResource(this.http, this.structures, 'interaction-energy');
    this.singlePoint = new TaskTypeResource(this.http, this.structures, 'single-point-energy');
    this.models = new Models(this.http);
    this.system = new System(this.http);
    this.alerts = new Alerts(this.http);
    this.keys = new Keys(this.http);
    this.webhooks = new Webhooks(this.http);
    this.campaigns = new Campaigns(this.http);
  }

  get baseUrl(): string { return this.http.baseUrl; }

  // ---- health (Python: health_check, is_healthy)
  healthCheck() { return this.system.health(); }
  async isHealthy(): Promise<boolean> {
    try { return (await this.system.health()).status === 'healthy'; } catch { return false; }
  }

  // ---- structures
  /** Uploads a file path, Buffer or stream (Python: upload_structure). */
  uploadStructure(src: StructureSource, opts: { filename?: string; name?: string } = {}): Promise<StructureInfo> { return this.structures.upload(src, opts); }
  listStructures(opts: { page?: number; pageSize?: number } = {}): Promise<Page<StructureInfo>> { return this.structures.list(opts); }
  getStructure(id: string): Promise<StructureInfo> { return this.structures.get(id); }
  deleteStructure(id: string): Promise<boolean> { return this.structures.delete(id); }
  async listBuiltinStructures(opts: { set?: string } = {}): Promise<BuiltinStructure[]> { return (await this.structures.builtin(opts)).items; }

  // ---- submit (Python: submit_<type>(model, structure_file, **params))
  submitOptimization(model: string, structure: StructureInput, opts: Extra & OptimizationParameters = {}) { return this.optimization.submit({ model, structure, ...opts } as never) as Promise<Task<ResultOf['optimization']>>; }
  submitStability(model: string, structure: StructureInput, opts: Extra & StabilityParameters = {}) { return this.stability.submit({ model, structure, ...opts } as never) as Promise<Task<ResultOf['stability']>>; }
  submitBulkModulus(model: string, structure: StructureInput, opts: Extra & BulkModulusParameters = {}) { return this.bulkModulus.submit({ model, structure, ...opts } as never) as Promise<Task<ResultOf['bulk-modulus']>>; }
  submitHeatCapacity(model: string, structure: StructureInput, opts: Extra & HeatCapacityParameters = {}) { return this.heatCapacity.submit({ model, structure, ...opts } as never) as Promise<Task<ResultOf['heat-capacity']>>; }
  submitInteractionEnergy(model: string, structure: StructureInput, opts: Extra & InteractionEnergyParameters = {}) { return this.interactionEnergy.submit({ model, structure, ...opts } as never) as Promise<Task<ResultOf['interaction-energy']>>; }
  submitSinglePoint(model: string, structure: StructureInput, opts: Extra & SinglePointParameters = {}) { return this.singlePoint.submit({ model, structure, ...opts } as never) as Promise<Task<ResultOf['single-point-energy']>>; }
  /** Python: submit_batch(tasks) → List[Task]. */
  async submitBatch(items: Parameters<Tasks['batch']>[0], opts: { taskType?: TaskType } = {}): Promise<Task[]> { return (await this.tasks.batch(items, opts)).handles; }

  // ---- tasks
  getTask(id: string): Promise<Task> { return this.tasks.get(id); }
  async getTaskInfo(id: string) { return (await this.tasks.get(id)).info; }
  async getTaskResult(id: string): Promise<AnyTaskResult> { return (await this.tasks.get(id)).getResult(); }
  /** Page of tasks; also `for await (const t of await client.listTasks())` over every page. */
  listTasks(opts: ListTasksOptions = {}): Promise<Page<Task>> { return this.tasks.list(opts); }
  /** Every task matching the filters, across pages. */
  async *iterTasks(opts: ListTasksOptions = {}): AsyncGenerator<Task> { yield* await this.tasks.list(opts); }
  cancelTask(id: string): Promise<boolean> { return this.tasks.cancel(id); }
  retryTask(id: string): Promise<Task> { return this.tasks.retry(id); }
  getTaskLogs(id: string, opts: { level?: LogEntry['level']; limit?: number } = {}): Promise<LogEntry[]> { return this.tasks.logs(id, opts); }
  /**
   * The task's log entries as they are written, until the task ends (Python: stream_task_logs), from the server's
   * SSE stream `GET /tasks/{id}/logs/stream`: the last `historyLimit` stored entries first (default 50; none with
   * `includeHistory: false`), `level` a minimum. A dropped connection is resumed after the last entry received
   * (Last-Event-ID), three times in a row at most. `pollInterval` is ignored (the server pushes; kept for callers
   * of the earlier polling version).
   */
  async *streamTaskLogs(id: string, opts: { level?: LogEntry['level']; includeHistory?: boolean; historyLimit?: number; pollInterval?: number; signal?: AbortSignal } = {}): AsyncGenerator<LogEntry> {
    let lastId: string | undefined;
    for (let drops = 0; ;) {
      const query = lastId === undefined
        ? { level: opts.level, include_history: opts.includeHistory, history_limit: opts.historyLimit }
        : { level: opts.level };
      const res = await this.http.request<Response>('GET', `/tasks/${encodeURIComponent(id)}/logs/stream`, {
        raw: true, signal: opts.signal, query,
        headers: { accept: 'text/event-stream', ...(lastId === undefined ? {} : { 'last-event-id': lastId }) },
      });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return; // the server ends the stream after the task's final entry
          buf += decoder.decode(value, { stream: true });
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, end);
            buf = buf.slice(end + 2);
            let data: string | undefined;
            for (const line of frame.split('\n')) {
              if (line.startsWith('id: ')) lastId = line.slice(4);
              else if (line.startsWith('data: ')) data = line.slice(6);
            }
            if (data !== undefined) { drops = 0; yield JSON.parse(data) as LogEntry; }
          }
        }
      } catch (err) {
        if (opts.signal?.aborted || ++drops > 3) throw err;
      } finally {
        await reader.cancel().catch(() => undefined); // also when the caller stops early: close the connection
      }
    }
  }

  /**
   * Waits for every task; resolves to their results in order (Python: wait_all). `onProgress(done, total, task)`
   * is called as each one ends. Failures reject unless `returnExceptions` (then the error takes the slot).
   */
  async waitAll<R extends AnyTaskResult>(tasks: Task<R>[], opts: WaitOptions & { onProgress?: never; onTaskDone?: never; returnExceptions?: boolean; progress?: (done: number, total: number, task: Task<R>) => void } = {}): Promise<(R | Error)[]> {
    let done = 0;
    return Promise.all(tasks.map(async (t) => {
      try {
        const r = await t.wait({ timeout: opts.timeout, pollInterval: opts.pollInterval, signal: opts.signal });
        return r;
      } catch (err) {
        if (!opts.returnExceptions) throw err;
        return err as Error;
      } finally {
        done += 1;
        opts.progress?.(done, tasks.length, t);
      }
    }));
  }

  // ---- webhooks (Python mofsim_sdk: get_webhook_deliveries, resend_webhook)
  /** The delivery log of the task's callback, one row per attempt, oldest first. */
  getWebhookDeliveries(taskId: string): Promise<WebhookDelivery[]> { return this.webhooks.deliveries(taskId); }
  /** Sends the finished task's final event to its callback again; resolves to the new delivery's id and event. */
  resendWebhook(taskId: string): Promise<WebhookResend> { return this.webhooks.resend(taskId); }

  // ---- models
  listModels(opts: { family?: string } = {}): Promise<ModelInfo[]> { return this.models.list(opts); }
  getModel(name: string): Promise<ModelInfo> { return this.models.get(name); }
  loadModel(name: string, gpuId?: number) { return this.models.load(name, { gpuId }); }
  async unloadModel(name: string, gpuId?: number): Promise<boolean> { await this.models.unload(name, { gpuId }); return true; }

  // ---- system
  getGpuStatus(): Promise<GPUInfo[]> { return this.system.gpus(); }
  getQueueStatus(): Promise<QueueInfo> { return this.system.queue(); }
  getSystemConfig(): Promise<SystemConfig> { return this.system.config(); }
  getSystemStats(): Promise<SystemStats> { return this.system.stats(); }

  // ---- alerts
  listAlertRules() { return this.alerts.listRules(); }
  getActiveAlerts() { return this.alerts.active(); }
  getAlertHistory(opts: { page?: number; pageSize?: number } = {}) { return this.alerts.history(opts); }

  /** Nothing to release (fetch keeps no client state); kept for parity with the Python client's close(). */
  close(): void {}
}

/** Same client; the Python SDK's async flavour (every method here is already async). */
export { MOFSimClient as AsyncMOFSimClient };
