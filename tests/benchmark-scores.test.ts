/** Campaign scores read from the database equal the pure scorer's answer on the same tasks. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { scoreCampaign, scoreTasks, type ScorableTask } from '../scoring/campaign-scores.js';
import { tasks } from '../store/schema.js';
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
