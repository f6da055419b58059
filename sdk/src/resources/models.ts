/** Models: list, get, summary, families, where they are loaded; load/unload on the workers (admin). */
import type { HttpCore } from '../core/http';
import type { LoadedModels, ModelAction, ModelInfo, ModelsSummary } from '../types';

/** Which worker(s) a load or unload concerns; neither: the server picks (load) or every holder (unload). */
export interface ModelActionTarget {
  /** Only the worker(s) driving this GPU index. */
  gpuId?: number;
  /** Only this worker (`client.system.workers()`). */
  workerId?: string;
}

export class Models {
  constructor(private readonly http: HttpCore) {}
  async list(opts: { family?: string; status?: string } = {}): Promise<ModelInfo[]> {
    return (await this.http.request<{ models: ModelInfo[] }>('GET', '/models', { query: opts })).models;
  }
  get(name: string): Promise<ModelInfo> { return this.http.request('GET', `/models/${encodeURIComponent(name)}`); }
  summary(): Promise<ModelsSummary> { return this.http.request('GET', '/models/summary'); }
  /** Where each model is resident now: `{<model>: [{gpu_id, worker_id, loaded_at, last_used, use_count, …}]}`. */
  loaded(): Promise<LoadedModels> { return this.http.request('GET', '/models/loaded/list'); }
  async families(): Promise<string[]> { return (await this.http.request<{ families: string[] }>('GET', '/models/families')).families; }
  /**
   * Loads a model into one worker's engine (admin key). `status`: `accepted` (sent to `worker_ids`; watch
   * `loaded()` or the system log for the outcome) or `already_loaded` (held by `worker_ids`; nothing sent).
   */
  load(name: string, opts: ModelActionTarget = {}): Promise<ModelAction> {
    return this.http.request('POST', `/models/${encodeURIComponent(name)}/load`, { query: { gpu_id: opts.gpuId, worker_id: opts.workerId }, idempotent: true });
  }
  /**
   * Unloads a model from the workers that hold it (admin key). `status`: `accepted` or `not_loaded`. A worker running
   * a job on the model keeps it (a WARNING in the system log says so).
   */
  unload(name: string, opts: ModelActionTarget = {}): Promise<ModelAction> {
    return this.http.request('POST', `/models/${encodeURIComponent(name)}/unload`, { query: { gpu_id: opts.gpuId, worker_id: opts.workerId }, idempotent: true });
  }
}
