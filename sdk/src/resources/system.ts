/** System: health, readiness, queue, stats, config, GPUs, and the system log (admin). */
import type { HttpCore } from '../core/http';
import type {
  GPUInfo, Health, QueueInfo, SystemConfig, SystemLogArchiveResult, SystemLogArchives, SystemLogList, SystemLogStats, SystemStats,
  Usage, WorkerInfo,
} from '../types';

/** Filters of `system.logs` (wire names). */
export interface SystemLogQuery {
  /** Minimum level: `WARNING` returns WARNING, ERROR and CRITICAL. */
  level?: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';
  /** 1..1000. @default 100 */
  limit?: number;
  /** ISO 8601 date-times. */
  since?: string;
  until?: string;
  source?: 'api' | 'worker' | 'scheduler' | 'webhook';
  worker_id?: string;
  task_id?: string;
  /** Entries older than this id (the next page: the last id of the previous one). */
  before_id?: number;
}

export class System {
  constructor(private readonly http: HttpCore) {}
  health(): Promise<Health> { return this.http.request('GET', '/api/v1/health'); }
  readiness(): Promise<{ status: string }> { return this.http.request('GET', '/system/readiness'); }
  queue(): Promise<QueueInfo> { return this.http.request('GET', '/system/queue'); }
  stats(): Promise<SystemStats> { return this.http.request('GET', '/system/stats'); }
  config(): Promise<SystemConfig> { return this.http.request('GET', '/system/config'); }
  /** System log entries, newest first (admin key): workers, engines, drains, keys, admin actions, 5xx answers. */
  logs(query: SystemLogQuery = {}): Promise<SystemLogList> { return this.http.request('GET', '/system/logs', { query: { ...query } }); }
  /** Counts by level and source, oldest/newest entry, table size, retention (admin key). */
  logStats(): Promise<SystemLogStats> { return this.http.request('GET', '/system/logs/stats'); }
  /** Applies the retention now: deletes entries older than MOFSIM_SYSTEM_LOG_RETENTION_DAYS (admin key). */
  archiveLogs(): Promise<SystemLogArchiveResult> { return this.http.request('POST', '/system/logs/archive'); }
  /** Entries per calendar month (admin key). */
  logArchives(): Promise<SystemLogArchives> { return this.http.request('GET', '/system/logs/archives'); }
  /** The worker processes: status, device, running tasks, loaded models, admission budget, last heartbeat. */
  async workers(): Promise<WorkerInfo[]> {
    return (await this.http.request<{ items: WorkerInfo[] }>('GET', '/system/workers')).items;
  }
  /** Device- and GPU-seconds of engine runs per owner or per task (a user key sees its own). @default groupBy owner */
  usage(opts: { groupBy?: 'owner' | 'task'; taskId?: string } = {}): Promise<Usage> {
    return this.http.request<Usage>('GET', '/usage', { query: { group_by: opts.groupBy, task_id: opts.taskId } });
  }
  /** The GPUs the workers drive, with their last telemetry (`GET /api/v1/system/gpus`, `{items, total}`). */
  async gpus(): Promise<GPUInfo[]> {
    const r = await this.http.request<{ items?: GPUInfo[]; gpus?: GPUInfo[] } | GPUInfo[]>('GET', '/system/gpus');
    return Array.isArray(r) ? r : r.items ?? r.gpus ?? [];
  }
}
