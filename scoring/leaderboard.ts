/**
 * The leaderboard's rows: a campaign's scores and the classical baselines' as `benchmark_scores` rows (one per
 * metric and count), and the latest of each model × weights × protocol read back from the `leaderboard` view.
 */
import type { Db } from '../store/client.js';
import {
  readLeaderboard, replaceCampaignScores, replaceReferenceScores, type BenchmarkScoreInsert,
} from '../store/benchmark-scores.js';
import { scoreCampaign, type CampaignScores } from './campaign-scores.js';
import { classicalBaselineReports } from './classical-baselines.js';
import type { ProtocolScore } from './metrics.js';

function metricRows(model: string, label: string, weights: string, a: ProtocolScore): BenchmarkScoreInsert[] {
  const n = a.counts.n_scored + a.counts.n_failed;
  const values: Record<string, number | null> = { ...a.metrics, ...a.counts };
  return Object.entries(values).map(([metric, value]) => ({
    source: 'campaign', model, label, weightsSha256: weights, protocol: a.protocol, metric,
    value: value !== null && Number.isFinite(value) ? value : null, nStructures: n,
  }));
}

/** Scores a campaign and stores the scores for the leaderboard (replacing the campaign's earlier ones). */
export async function recordCampaignScores(db: Db, campaignId: string): Promise<CampaignScores> {
  const scores = await scoreCampaign(db, campaignId);
  await replaceCampaignScores(db, campaignId,
    scores.scores.flatMap((s) => metricRows(s.model, s.model, s.weights_sha256 ?? '', s.aggregate)));
  return scores;
}

/** Stores the classical UFF/UFF4MOF reference rows (idempotent; every API process calls it at start). */
export async function recordReferenceScores(db: Db): Promise<void> {
  const rows = classicalBaselineReports().flatMap((r) => [r.optimization, r.stability]
    .flatMap((p) => metricRows(r.baseline.model, r.baseline.label, '', p.aggregate)));
  await replaceReferenceScores(db, rows);
}

const ensured = new WeakMap<Db, Promise<void>>();

/** `recordReferenceScores` once per process and database (a failed attempt is tried again on the next call). */
export function ensureReferenceScores(db: Db): Promise<void> {
  let p = ensured.get(db);
  if (!p) {
    p = recordReferenceScores(db).catch((err) => { ensured.delete(db); throw err; });
    ensured.set(db, p);
  }
  return p;
}

/** One leaderboard entry: a model × weights × protocol with its metrics. */
export interface LeaderboardEntry {
  model: string;
  label: string;
  weights_sha256: string | null;
  protocol: string;
  source: 'campaign' | 'reference';
  campaign_id: string | null;
  computed_at: string;
  n_structures: number;
  metrics: Record<string, number | null>;
}

/** The leaderboard: latest scores per model × weights × protocol, reference rows included unless asked not to. */
export async function leaderboard(db: Db, opts: { protocol?: string; includeReference?: boolean } = {}): Promise<LeaderboardEntry[]> {
  const entries = new Map<string, LeaderboardEntry>();
  for (const r of await readLeaderboard(db, opts.protocol)) {
    if (r.source === 'reference' && opts.includeReference === false) continue;
    const key = `${r.model}\u0000${r.weights_sha256}\u0000${r.protocol}`;
    let e = entries.get(key);
    const at = new Date(r.computed_at).toISOString();
    if (!e) {
      entries.set(key, e = {
        model: r.model, label: r.label, weights_sha256: r.weights_sha256 || null, protocol: r.protocol,
        source: r.source === 'reference' ? 'reference' : 'campaign', campaign_id: r.campaign_id, computed_at: at,
        n_structures: r.n_structures, metrics: {},
      });
    } else if (at > e.computed_at) {
      Object.assign(e, { campaign_id: r.campaign_id, computed_at: at, n_structures: r.n_structures, label: r.label });
    }
    e.metrics[r.metric] = r.value === null ? null : Number(r.value);
  }
  return [...entries.values()];
}
