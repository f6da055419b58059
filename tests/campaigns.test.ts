/**
 * Campaigns end to end on the real stack (Postgres, Temporal dev server, a CPU worker with its engine): a small
 * grid runs through the API, chained steps start from the optimization's output, an identical second campaign
 * takes every result from the cache, cancel stops running children, and a 2,000-task campaign keeps its workflow's
 * history bounded. Few steps and small structures keep it inside a CPU budget.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MOFSimClient } from '@mofsim/sdk';
import { api, startTestStack, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { asc, eq } from 'drizzle-orm';
import { scoreTasks } from '../scoring/campaign-scores.js';
import { tasks as tasksTable } from '../store/schema.js';

let stack: TestStack;
before(async () => { stack = await startTestStack({ workers: 1 }); });
after(async () => { await stack?.stop(); });

const post = (path: string, body?: unknown) => api(stack.baseUrl, path, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
});

async function waitCampaign(id: string, statuses = ['COMPLETED', 'CANCELLED', 'FAILED'], ms = 600_000): Promise<any> {
  return until(`campaign ${id} to end`, async () => {
    const { body } = await api(stack.baseUrl, `/api/v1/campaigns/${id}`);
    return statuses.includes(body.data?.status) ? body.data : undefined;
  }, ms, 500);
}

async function allTasks(id: string): Promise<any[]> {
  const out: any[] = [];
  for (let page = 1; ; page++) {
    const { body } = await api(stack.baseUrl, `/api/v1/campaigns/${id}/tasks?page=${page}&page_size=100`);
    out.push(...body.data.items);
    if (page >= body.data.pagination.total_pages) return out;
  }
}

const SMALL = {
  models: ['lj_test'],
  structures: ['calf', 'SAS_primitive'],
  tasks: [
    { type: 'single-point-energy' },
    { type: 'optimization', parameters: { fmax: 0.05, max_steps: 15 } },
    { type: 'bulk-modulus', parameters: { opt_steps: 5, npoints: 5, point_steps: 3, opt_fmax: 0.05, point_fmax: 0.05 }, start_from: 'optimization' },
  ],
};

describe('campaigns', () => {
  it('runs models × structures × steps, chains a step to the optimization output, and reuses every result the second time', async () => {
    const { status, body } = await post('/api/v1/campaigns', { name: 'small', ...SMALL });
    assert.equal(status, 202, JSON.stringify(body));
    const c = body.data;
    assert.equal(c.total_tasks, 6);
    assert.deepEqual(c.structures.map((s: any) => s.name).sort(), ['SAS_primitive', 'calf']);
    const done = await waitCampaign(c.campaign_id);
    assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
    assert.equal(done.counts.COMPLETED, 6, JSON.stringify(done.counts));
    assert.equal(done.progress, 100);

    const tasks = await allTasks(c.campaign_id);
    assert.equal(tasks.length, 6);
    for (const t of tasks) assert.equal(t.campaign_id, c.campaign_id);
    const bulk = tasks.filter((t) => t.task_type === 'bulk-modulus');
    const opts = tasks.filter((t) => t.task_type === 'optimization');
    for (const b of bulk) {
      const opt = opts.find((o) => o.task_id === b.input_task_id);
      assert.ok(opt, 'a chained task names the optimization it starts from');
      assert.notEqual(b.structure_id, opt.structure_id, 'it starts from the relaxed structure, not the input');
      const { body: s } = await api(stack.baseUrl, `/api/v1/structures/${b.structure_id}`);
      const { body: r } = await api(stack.baseUrl, `/api/v1/tasks/${opt.task_id}/result`);
      assert.ok(Math.abs(s.data.volume_A3 - r.data.result.final_volume_A3) < 1e-6, 'the chained structure is the optimization output');
      assert.ok(new Date(b.started_at) >= new Date(opt.completed_at), 'the chained step started after the optimization ended');
    }

    // Results as JSON and CSV: one row per task, and the scores vs DFT.
    const { body: res } = await api(stack.baseUrl, `/api/v1/campaigns/${c.campaign_id}/results`);
    assert.equal(res.data.rows.length, 6);
    const sp = res.data.rows.find((r: any) => r.task_type === 'single-point-energy');
    const { body: spResult } = await api(stack.baseUrl, `/api/v1/tasks/${sp.task_id}/result`);
    assert.equal(sp.metrics.energy_eV, spResult.data.result.energy_eV);
    const taskCsv = await fetch(`${stack.baseUrl}/api/v1/campaigns/${c.campaign_id}/results?format=csv&table=tasks`, { headers: { authorization: `Bearer ${stack.userKey}` } });
    assert.equal(taskCsv.status, 200);
    assert.match(taskCsv.headers.get('content-type') ?? '', /text\/csv/);
    const lines = (await taskCsv.text()).trim().split('\n');
    assert.equal(lines.length, 7);
    assert.ok(lines[0].startsWith('task_id,model,structure,task_type,step,status'));

    // The scores stored when it finished are the scorer's on the campaign's task rows, and the optimization rows are
    // V_final / V_DFT − 1 against the DFT volumes (calf: 746.93 Å³, SAS_primitive: 1025.39 Å³, PROTOCOLS.md §7.2).
    const rowsInDb = await stack.database.db.select().from(tasksTable).where(eq(tasksTable.campaignId, c.campaign_id))
      .orderBy(asc(tasksTable.createdAt), asc(tasksTable.id));
    const direct = JSON.parse(JSON.stringify(scoreTasks(rowsInDb)));
    assert.deepEqual(JSON.parse(JSON.stringify(done.scores.scores)), direct,
      `stored ${JSON.stringify(done.scores.scores)}\ndirect ${JSON.stringify(direct)}\nrows ${JSON.stringify(rowsInDb.map((t) => [t.id, t.taskType, t.structureName, t.status, t.result && Object.fromEntries(Object.entries(t.result).filter(([, v]) => typeof v !== 'object'))]))}`);
    const optScore = done.scores.scores.find((s: any) => s.protocol === 'optimization' && s.model === 'lj_test');
    assert.ok(optScore, JSON.stringify(done.scores).slice(0, 500));
    const dft: Record<string, number> = { calf: 746.93, SAS_primitive: 1025.39 };
    for (const o of opts) {
      const row = optScore.structures.find((r: any) => r.task_id === o.task_id);
      const { body: r } = await api(stack.baseUrl, `/api/v1/tasks/${o.task_id}/result`);
      const expected = (r.data.result.final_volume_A3 / dft[o.structure_name] - 1) * 100;
      assert.ok(Math.abs(row.error_percent - expected) < 0.01, `${o.structure_name}: ${row.error_percent} vs ${expected}`);
    }
    const scoreCsv = await (await fetch(`${stack.baseUrl}/api/v1/campaigns/${c.campaign_id}/results?format=csv`, { headers: { authorization: `Bearer ${stack.userKey}` } })).text();
    assert.ok(scoreCsv.startsWith('model,weights_sha256,protocol,structure,task_id,outcome,value,reference'), scoreCsv.slice(0, 200));

    // The identical campaign again: nothing runs, every task names the one it took its result from.
    const again = (await post('/api/v1/campaigns', { name: 'small again', ...SMALL })).body.data;
    const done2 = await waitCampaign(again.campaign_id);
    assert.equal(done2.counts.COMPLETED, 6, JSON.stringify(done2.counts));
    const tasks2 = await allTasks(again.campaign_id);
    const byKey = (t: any) => `${t.task_type}|${t.structure_name.split('@')[0]}`;
    for (const t of tasks2) {
      const first = tasks.find((o) => byKey(o) === byKey(t));
      assert.equal(t.reused_from, first.task_id, `${byKey(t)} reused the first campaign's task`);
      assert.equal(t.worker_id, null, 'a reused task never ran on a worker');
      const { body: r } = await api(stack.baseUrl, `/api/v1/tasks/${t.task_id}/result`);
      assert.equal(r.data.result.provenance.reused, true);
      assert.equal(r.data.result.provenance.reused_from, first.task_id);
    }
  });

  it('SDK: create, wait with progress, get, list, results, CSV, tasks, leaderboard; pause, resume, cancel (stopping running tasks) and retry', async () => {
    // The first campaign on a built-in registers (parses) it: generous under a loaded CI machine.
    const client = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.userKey, timeout: 300 });
    const progress: number[] = [];
    const campaign = await client.campaigns.create({ name: 'sdk', models: ['lj_test'], structures: ['calf'], tasks: [{ type: 'single-point-energy', parameters: { compute_stress: false } }] });
    await campaign.wait({ pollInterval: 0.5, timeout: 300, onProgress: (p) => progress.push(p) });
    assert.equal(campaign.status, 'COMPLETED');
    assert.equal(progress.at(-1), 100);
    assert.equal((await client.campaigns.get(campaign.id)).counts.COMPLETED, 1);
    assert.ok((await client.campaigns.list({ status: 'COMPLETED' })).items.some((c) => c.id === campaign.id));
    assert.equal((await client.campaigns.results(campaign.id)).rows?.length, 1);
    assert.equal((await campaign.results()).rows?.[0]?.status, 'COMPLETED');
    assert.equal((await campaign.resultsCsv('tasks')).trim().split('\n').length, 2);
    assert.match(await campaign.resultsCsv(), /^model,weights_sha256,protocol/);
    assert.equal((await campaign.tasks()).items[0]!.status, 'COMPLETED');
    const board = await client.campaigns.leaderboard({ includeReference: true });
    assert.ok(Array.isArray(board.items));
    assert.equal((await campaign.refresh()).status, 'COMPLETED');

    // A campaign that runs a while: relaxations to an unreachable fmax.
    const slowCampaign = await client.campaigns.create({
      name: 'sdk long', models: ['lj_test'], structures: ['calf', 'SAS_primitive', 'LTA'],
      tasks: [{ type: 'optimization', parameters: { fmax: 1e-9, max_steps: 100000, cell_filter: null } }], options: { reuse: false },
    });
    const statusOf = (want: string) => until(`campaign ${want}`, async () => ((await slowCampaign.refresh()).status === want ? slowCampaign : undefined), 120_000, 300);
    const running = await until('a running task', async () => (await slowCampaign.tasks({ status: 'RUNNING' })).items[0], 180_000, 300);
    await slowCampaign.pause();
    await statusOf('PAUSED');
    await until('the running task paused', async () => (await client.getTask(running.id)).status === 'PAUSED', 120_000, 300);
    await slowCampaign.resume();
    await statusOf('RUNNING');
    await until('a task running again', async () => (await slowCampaign.tasks({ status: 'RUNNING' })).items[0], 180_000, 300);
    const runningNow = (await slowCampaign.tasks({ status: 'RUNNING' })).items.map((t) => t.id);
    await slowCampaign.cancel();
    await statusOf('CANCELLED');
    for (const id of runningNow) {
      await until(`running task ${id} cancelled`, async () => (await client.getTask(id)).status === 'CANCELLED', 120_000, 300);
    }
    const afterCancel = await allTasks(slowCampaign.id);
    assert.ok(afterCancel.every((t) => t.status === 'CANCELLED'), JSON.stringify(afterCancel.map((t) => t.status)));
    // Retry puts the cancelled tasks back in line; the campaign runs again until cancelled once more.
    await client.campaigns.retry(slowCampaign.id);
    await statusOf('RUNNING');
    await until('a retried task running', async () => (await slowCampaign.tasks({ status: 'RUNNING' })).items[0], 180_000, 300);
    await client.campaigns.cancel(slowCampaign.id);
    await statusOf('CANCELLED');
    await until('every task ended', async () => (await allTasks(slowCampaign.id)).every((t) => ['CANCELLED', 'COMPLETED'].includes(t.status)), 120_000, 500);
    await slowCampaign.retry();
    await client.campaigns.resume(slowCampaign.id).catch((e) => assert.equal(e.status, 409));
    await client.campaigns.pause(slowCampaign.id).catch((e) => assert.equal(e.status, 409));
    await client.campaigns.cancel(slowCampaign.id);
    await until('every task ended', async () => (await allTasks(slowCampaign.id)).every((t) => ['CANCELLED', 'COMPLETED'].includes(t.status)), 120_000, 500);
  });

  it('refuses bad campaigns with the field at fault', async () => {
    const cases: [unknown, number, string][] = [
      [{ ...SMALL, name: 'x', models: ['no_such_model'] }, 404, 'models[0]'],
      [{ ...SMALL, name: 'x', structures: ['no_such_structure'] }, 404, 'structures[0]'],
      [{ ...SMALL, name: 'x', tasks: [{ type: 'optimization', parameters: { fmax: -1 } }] }, 400, 'tasks[0].parameters.fmax'],
      [{ ...SMALL, name: 'x', tasks: [{ type: 'bulk-modulus', start_from: 'optimization' }] }, 400, 'tasks[0].start_from'],
    ];
    for (const [body, status, field] of cases) {
      const r = await post('/api/v1/campaigns', body);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.error.field, field, JSON.stringify(r.body));
    }
    assert.equal((await api(stack.baseUrl, '/api/v1/campaigns/00000000-0000-4000-8000-000000000000')).status, 404);
  });
});
