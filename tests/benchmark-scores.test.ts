/** Campaign scores read from the database equal the pure scorer's answer on the same tasks. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { scoreCampaign, scoreTasks, type ScorableTask } from '../scoring/campaign-scores.js';
import { ensureReferenceScores, leaderboard, recordCampaignScores, recordReferenceScores } from '../scoring/leaderboard.js';
import { benchmarkScores, tasks } from '../store/schema.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-database.js';

describe('scoreCampaign', () => {
  let tdb: TestDatabase;
  before(async () => { tdb = await createTestDatabase(); });
  after(async () => { await tdb?.drop(); });

  it('scores only the campaign\'s tasks, grouped per model × weights × protocol', async () => {
    const campaignId = randomUUID();
    const prov = (w: string) => ({ provenance: { weights_sha256: w } });
    const rows = [
      { taskType: 'optimization', model: 'lj_test', structureName: 'calf', status: 'COMPLETED', result: { final_volume_A3: 700, converged: true, ...prov('a') } },
      { taskType: 'optimization', model: 'lj_test', structureName: 'LTA', status: 'FAILED', result: null, errorType: 'ENGINE_ERROR' },
      { taskType: 'bulk-modulus', model: 'lj_test', structureName: 'calf', status: 'COMPLETED', result: { bulk_modulus_GPa: 30, minimum_outside_1_percent: false, ...prov('a') } },
      { taskType: 'optimization', model: 'sevennet_prod', structureName: 'calf', status: 'COMPLETED', result: { final_volume_A3: 750, converged: true, ...prov('b') } },
    ].map((r, i) => ({ id: randomUUID(), campaignId, createdAt: new Date(Date.UTC(2026, 11, 1, 0, i)), parameters: {}, ...r }));
    const db = tdb.database.db;
    await db.insert(tasks).values(rows);
    // Another campaign's task and a plain task: not part of the score.
    await db.insert(tasks).values([
      { taskType: 'optimization', model: 'lj_test', structureName: 'SAS_primitive', status: 'COMPLETED', campaignId: randomUUID(), result: { final_volume_A3: 1, ...prov('a') } },
      { taskType: 'optimization', model: 'lj_test', structureName: 'FER', status: 'COMPLETED', result: { final_volume_A3: 1, ...prov('a') } },
    ]);
    const got = await scoreCampaign(db, campaignId);
    const expected = scoreTasks(rows.map((r): ScorableTask => ({
      id: r.id, taskType: r.taskType, model: r.model, structureName: r.structureName, status: r.status, parameters: r.parameters,
      result: r.result, errorType: r.errorType ?? null, errorMessage: null, createdAt: r.createdAt,
    })));
    assert.equal(got.campaign_id, campaignId);
    assert.deepEqual(got.scores, expected);
    const lj = got.scores.find((s) => s.model === 'lj_test' && s.protocol === 'optimization')!;
    assert.equal(lj.weights_sha256, 'a');
    assert.deepEqual([lj.aggregate.counts.n_scored, lj.aggregate.counts.n_failed], [1, 1]);
    assert.equal(got.scores.length, 3);
  });
});

describe('leaderboard', () => {
  let tdb: TestDatabase;
  before(async () => { tdb = await createTestDatabase(); });
  after(async () => { await tdb?.drop(); });

  const optTask = (campaignId: string, model: string, weights: string, structure: string, volume: number, minute: number) => ({
    id: randomUUID(), campaignId, taskType: 'optimization', model, structureName: structure, status: 'COMPLETED', parameters: {},
    result: { final_volume_A3: volume, converged: true, provenance: { weights_sha256: weights } }, createdAt: new Date(Date.UTC(2026, 11, 1, 0, minute)),
  });

  it('holds the classical reference rows once, however often they are recorded', async () => {
    const db = tdb.database.db;
    await Promise.all([recordReferenceScores(db), recordReferenceScores(db), ensureReferenceScores(db)]);
    await recordReferenceScores(db);
    const board = await leaderboard(db, { protocol: 'optimization' });
    const within = Object.fromEntries(board.filter((e) => e.source === 'reference').map((e) => [e.label, e.metrics.n_within_10_percent]));
    assert.deepEqual(within, { UFF4MOF: 65, 'UFF4MOF (fixed metal)': 76, UFF: 74, 'UFF (fixed metal)': 87 });
    assert.ok(board.every((e) => e.n_structures === 98 && e.weights_sha256 === null));
    const [{ n }] = await db.execute<{ n: number }>(sql`select count(*)::int as n from ${benchmarkScores} where source = 'reference'`);
    const perSet = (await leaderboard(db)).filter((e) => e.source === 'reference').reduce((a, e) => a + Object.keys(e.metrics).length, 0);
    assert.equal(n, perSet); // no duplicates: every stored row is on the board
  });

  it('shows the latest campaign per model × weights × protocol; other weights are their own entry', async () => {
    const db = tdb.database.db;
    const [c1, c2, c3] = [randomUUID(), randomUUID(), randomUUID()];
    // calf's DFT volume is 746.926 Å³: 700 is −6.3 % (within), 600 is −19.7 % (outside).
    await db.insert(tasks).values([optTask(c1, 'lj_test', 'w1', 'calf', 600, 1)]);
    await recordCampaignScores(db, c1);
    await db.insert(tasks).values([optTask(c2, 'lj_test', 'w1', 'calf', 700, 2), optTask(c3, 'lj_test', 'w2', 'calf', 600, 3)]);
    await recordCampaignScores(db, c2);
    await recordCampaignScores(db, c3);
    await recordCampaignScores(db, c2); // re-scoring a campaign replaces its rows
    const board = (await leaderboard(db, { protocol: 'optimization', includeReference: false }));
    assert.deepEqual(board.map((e) => [e.weights_sha256, e.campaign_id, e.metrics.fraction_within_10_percent]).sort(),
      [['w1', c2, 1], ['w2', c3, 0]]);
    const [{ n }] = await db.execute<{ n: number }>(sql`select count(distinct computed_at)::int as n from ${benchmarkScores} where campaign_id = ${c2}`);
    assert.equal(n, 1);
  });

  it('is readable by the read-only Grafana role, which cannot read the tasks', async () => {
    const { sql: pg } = tdb.database;
    const rows = await pg.begin(async (tx) => {
      await tx`set local role mofsim_grafana`;
      return tx`select model, protocol, metric, value from leaderboard where source = 'reference' limit 3`;
    });
    assert.equal(rows.length, 3);
    await assert.rejects(pg.begin(async (tx) => {
      await tx`set local role mofsim_grafana`;
      return tx`select id from tasks limit 1`;
    }), /permission denied/);
  });
});
