/** Alerts: rules CRUD (writes need an admin key), active alerts, history and stats. */
import type { HttpCore } from '../core/http';
import { Page, type PaginationInfo } from '../core/pagination';
import type { Alert, AlertRule, AlertRuleCreate, AlertRuleUpdate, AlertStats } from '../types';

export class Alerts {
  constructor(private readonly http: HttpCore) {}
  async listRules(): Promise<AlertRule[]> { return (await this.http.request<{ rules: AlertRule[] }>('GET', '/alerts/rules')).rules; }
  getRule(id: string): Promise<AlertRule> { return this.http.request('GET', `/alerts/rules/${encodeURIComponent(id)}`); }
  createRule(rule: AlertRuleCreate): Promise<AlertRule> { return this.http.request('POST', '/alerts/rules', { body: rule }); }
  updateRule(id: string, patch: AlertRuleUpdate): Promise<AlertRule> { return this.http.request('PUT', `/alerts/rules/${encodeURIComponent(id)}`, { body: patch }); }
  async deleteRule(id: string): Promise<boolean> { await this.http.request('DELETE', `/alerts/rules/${encodeURIComponent(id)}`); return true; }
  enableRule(id: string): Promise<AlertRule> { return this.http.request('PUT', `/alerts/rules/${encodeURIComponent(id)}/enable`); }
  disableRule(id: string): Promise<AlertRule> { return this.http.request('PUT', `/alerts/rules/${encodeURIComponent(id)}/disable`); }
  /** Counts of fired alerts: total, active, resolved, per level. */
  stats(): Promise<AlertStats> { return this.http.request('GET', '/alerts/stats'); }
  async active(): Promise<Alert[]> { return (await this.http.request<{ alerts: Alert[] }>('GET', '/alerts/active')).alerts; }
  async history(opts: { page?: number; pageSize?: number; level?: 'CRITICAL' | 'WARNING' | 'INFO'; resolved?: boolean } = {}): Promise<Page<Alert>> {
    const fetchPage = async (page: number): Promise<Page<Alert>> => {
      const r = await this.http.request<{ items: Alert[]; pagination: PaginationInfo }>('GET', '/alerts/history', { query: { page, page_size: opts.pageSize, level: opts.level, resolved: opts.resolved } });
      return new Page(r.items, r.pagination, fetchPage);
    };
    return fetchPage(opts.page ?? 1);
  }
  resolve(id: string, resolvedBy?: string): Promise<{ message: string; resolved_by: string | null }> {
    return this.http.request('POST', `/alerts/${encodeURIComponent(id)}/resolve`, { body: resolvedBy ? { resolved_by: resolvedBy } : {} });
  }
}
