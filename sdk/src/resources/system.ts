/** System: health, readiness, queue, stats, config, GPUs. */
import type { HttpCore } from '../core/http';
import type { GPUInfo, Health, QueueInfo, SystemConfig, SystemStats } from '../types';

export class System {
  constructor(private readonly http: HttpCore) {}
  health(): Promise<Health> { return this.http.request('GET', '/api/v1/health'); }
  readiness(): Promise<{ status: string }> { return this.http.request('GET', '/system/readiness'); }
  queue(): Promise<QueueInfo> { return this.http.request('GET', '/system/queue'); }
  stats(): Promise<SystemStats> { return this.http.request('GET', '/system/stats'); }
  config(): Promise<SystemConfig> { return this.http.request('GET', '/system/config'); }
  /** GPU status (`GET /api/v1/system/gpus`, served by the GPU scheduler work). */
  async gpus(): Promise<GPUInfo[]> {
    const r = await this.http.request<{ gpus?: GPUInfo[] } | GPUInfo[]>('GET', '/system/gpus');
    return Array.isArray(r) ? r : r.gpus ?? [];
  }
}
