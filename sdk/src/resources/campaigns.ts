/** Campaigns: models × structures × task steps run as one job on the server, its progress, results and scores. */
import type { HttpCore } from '../core/http';
import { MOFSimError } from '../core/errors';
import { Page, type PaginationInfo } from '../core/pagination';
import { sleep } from '../lib/task-events';
import { Task } from '../lib/task-handle';
import type { CampaignCreate, CampaignEvent, CampaignInfo, CampaignPlot, CampaignResults, CampaignStatus, LeaderboardEntry, TaskInfo } from '../types';

const ENDED: CampaignStatus[] = ['COMPLETED', 'CANCELLED', 'FAILED'];

export interface CampaignWaitOptions {
  /** Seconds. @default 86400 */
  timeout?: number;
  /** Seconds between polls. @default 2 */
  pollInterval?: number;
  /** Called whenever the counts change: percent of tasks ended, and the campaign. */
  onProgress?: (progress: number, campaign: Campaign) => void;
  signal?: AbortSignal;
}

/** A wait for a campaign ran out of time. */
export class CampaignTimeoutError extends MOFSimError {
  constructor(readonly campaignId: string, readonly timeout: number) { super(`campaign ${campaignId} did not finish within ${timeout} s`); }
}

/** A handle on one campaign. */
export class Campaign {
  constructor(public info: CampaignInfo, private readonly http: HttpCore) {}
  get id(): string { return this.info.campaign_id; }
  get status(): CampaignStatus { return this.info.status; }
  get progress(): number { return this.info.progress; }
  get counts(): Record<string, number> { return this.info.counts; }
  get done(): boolean { return ENDED.includes(this.info.status); }

  async refresh(): Promise<this> {
    this.info = await this.http.request<CampaignInfo>('GET', `/campaigns/${encodeURIComponent(this.id)}`);
    return this;
  }

  /** Waits until every task ended (or the campaign was cancelled), reporting progress; resolves to the campaign. */
  async wait(opts: CampaignWaitOptions = {}): Promise<this> {
    const timeout = opts.timeout ?? 86_400;
    const end = Date.now() + timeout * 1000;
    let last = '';
    for (;;) {
      await this.refresh();
      const seen = JSON.stringify(this.info.counts);
      if (seen !== last) { last = seen; opts.onProgress?.(this.progress, this); }
      if (this.done) return this;
      if (Date.now() > end) throw new CampaignTimeoutError(this.id, timeout);
      await sleep((opts.pollInterval ?? 2) * 1000, opts.signal);
    }
  }

  cancel(): Promise<this> { return this.act('cancel'); }
  pause(): Promise<this> { return this.act('pause'); }
  resume(): Promise<this> { return this.act('resume'); }
  /** Runs the failed, timed-out and cancelled tasks again. */
  retry(): Promise<this> { return this.act('retry'); }
  results(): Promise<CampaignResults> { return this.http.request('GET', `/campaigns/${encodeURIComponent(this.id)}/results`); }
  /** The scores (`table: 'scores'`, one row per model × protocol × structure) or the task rows as CSV text. */
  async resultsCsv(table: 'scores' | 'tasks' = 'scores'): Promise<string> {
    const res = await this.http.request<Response>('GET', `/campaigns/${encodeURIComponent(this.id)}/results`, { query: { format: 'csv', table }, raw: true });
    return res.text();
  }
  /**
   * An SVG plot of the campaign's scores, as text: `parity-bulk-modulus` / `parity-heat-capacity` (predicted vs DFT
   * per scored structure and model) or `volume-change` (optimization V / V_DFT − 1). In tslab:
   * `tslab.display.svg(await campaign.plot('parity-bulk-modulus'))`.
   */
  async plot(name: CampaignPlot): Promise<string> {
    const res = await this.http.request<Response>('GET', `/campaigns/${encodeURIComponent(this.id)}/plots/${name}.svg`, { raw: true });
    return res.text();
  }
  /** The campaign's own events after event id `after` (progress with counts by status, completed, retried), oldest first. */
  async events(after = 0): Promise<CampaignEvent[]> {
    const r = await this.http.request<{ items: CampaignEvent[] }>('GET', `/campaigns/${encodeURIComponent(this.id)}/events`, { query: { after } });
    return r.items;
  }
  /** The campaign's tasks, as task handles, in grid order (model, structure, step). */
  async tasks(opts: { page?: number; pageSize?: number; status?: string } = {}): Promise<Page<Task>> {
    const fetchPage = async (page: number): Promise<Page<Task>> => {
      const r = await this.http.request<{ items: TaskInfo[]; pagination: PaginationInfo }>('GET', `/campaigns/${encodeURIComponent(this.id)}/tasks`, {
        query: { page, page_size: opts.pageSize, status: opts.status },
      });
      return new Page(r.items.map((t) => new Task(t, this.http)), r.pagination, fetchPage);
    };
    return fetchPage(opts.page ?? 1);
  }

  private async act(action: string): Promise<this> {
    this.info = await this.http.request<CampaignInfo>('POST', `/campaigns/${encodeURIComponent(this.id)}/${action}`);
    return this;
  }
}

export class Campaigns {
  constructor(private readonly http: HttpCore) {}
  /** Starts a campaign; resolves once the server accepted it (its tasks start in the background). */
  async create(body: CampaignCreate): Promise<Campaign> {
    return new Campaign(await this.http.request<CampaignInfo>('POST', '/campaigns', { body }), this.http);
  }
  async get(id: string): Promise<Campaign> {
    return new Campaign(await this.http.request<CampaignInfo>('GET', `/campaigns/${encodeURIComponent(id)}`), this.http);
  }
  async list(opts: { page?: number; pageSize?: number; status?: CampaignStatus } = {}): Promise<Page<Campaign>> {
    const fetchPage = async (page: number): Promise<Page<Campaign>> => {
      const r = await this.http.request<{ items: CampaignInfo[]; pagination: PaginationInfo }>('GET', '/campaigns', {
        query: { page, page_size: opts.pageSize, status: opts.status },
      });
      return new Page(r.items.map((c) => new Campaign(c, this.http)), r.pagination, fetchPage);
    };
    return fetchPage(opts.page ?? 1);
  }
  async cancel(id: string): Promise<Campaign> { return (await this.get(id)).cancel(); }
  async pause(id: string): Promise<Campaign> { return (await this.get(id)).pause(); }
  async resume(id: string): Promise<Campaign> { return (await this.get(id)).resume(); }
  async retry(id: string): Promise<Campaign> { return (await this.get(id)).retry(); }
  results(id: string): Promise<CampaignResults> { return this.http.request('GET', `/campaigns/${encodeURIComponent(id)}/results`); }
  /** The leaderboard across campaigns (latest per model × protocol × weights), with the classical reference rows. */
  async leaderboard(opts: { protocol?: string; includeReference?: boolean } = {}): Promise<{ items: LeaderboardEntry[]; reference: string }> {
    return this.http.request('GET', '/leaderboard', { query: { protocol: opts.protocol, include_reference: opts.includeReference } });
  }
}
