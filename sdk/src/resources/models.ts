/** Models: list, get, summary, families, where they are loaded; load/unload (admin; answered 202). */
import type { HttpCore } from '../core/http';
import type { LoadedModels, ModelInfo, ModelsSummary } from '../types';

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
  /** Asks the workers to load a model (admin key). */
  load(name: string, opts: { gpuId?: number } = {}): Promise<{ model: string; action: string; status: string }> {
    return this.http.request('POST', `/models/${encodeURIComponent(name)}/load`, { query: { gpu_id: opts.gpuId }, idempotent: true });
  }
  unload(name: string, opts: { gpuId?: number } = {}): Promise<{ model: string; action: string; status: string }> {
    return this.http.request('POST', `/models/${encodeURIComponent(name)}/unload`, { query: { gpu_id: opts.gpuId }, idempotent: true });
  }
}
