/** Writes and reads of `benchmark_scores` and the `leaderboard` view. */
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { benchmarkScores } from './schema.js';

export type BenchmarkScoreInsert = typeof benchmarkScores.$inferInsert;

/** One row of the `leaderboard` view. */
export type LeaderboardViewRow = {
  model: string;
  label: string;
  weights_sha256: string;
  protocol: string;
  metric: string;
  value: number | null;
  n_structures: number;
  source: string;
  campaign_id: string | null;
  computed_at: Date | string;
};

/** Replaces a campaign's scores (a re-scoring keeps one set per campaign). */
export async function replaceCampaignScores(db: Db, campaignId: string, rows: BenchmarkScoreInsert[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.delete(benchmarkScores).where(eq(benchmarkScores.campaignId, campaignId));
    if (rows.length) await tx.insert(benchmarkScores).values(rows.map((r) => ({ ...r, campaignId, source: 'campaign' })));
  });
}

/**
 * Replaces the reference rows; serialised by an advisory lock so API processes starting together write one set.
 * Rows equal to the stored ones are left alone (their computed_at stays).
 */
export async function replaceReferenceScores(db: Db, rows: BenchmarkScoreInsert[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(727275)`);
    const where = and(eq(benchmarkScores.source, 'reference'), isNull(benchmarkScores.campaignId));
    const stored = await tx.select().from(benchmarkScores).where(where);
    const key = (r: BenchmarkScoreInsert) => JSON.stringify([r.model, r.label, r.weightsSha256 ?? '', r.protocol, r.metric, r.value ?? null, r.nStructures]);
    const same = stored.length === rows.length && new Set(stored.map(key)).size === new Set([...stored.map(key), ...rows.map(key)]).size;
    if (same) return;
    await tx.delete(benchmarkScores).where(where);
    if (rows.length) await tx.insert(benchmarkScores).values(rows.map((r) => ({ ...r, campaignId: null, source: 'reference' })));
  });
}

/** The leaderboard view, optionally for one protocol. */
export async function readLeaderboard(db: Db, protocol?: string): Promise<LeaderboardViewRow[]> {
  const rows = await db.execute<LeaderboardViewRow>(sql`
    select model, label, weights_sha256, protocol, metric, value, n_structures, source, campaign_id, computed_at
    from leaderboard ${protocol ? sql`where protocol = ${protocol}` : sql``}
    order by protocol, source, model, weights_sha256, metric`);
  return [...rows];
}
