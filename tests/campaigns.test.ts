/**
 * Campaigns end to end on the real stack (Postgres, Temporal dev server, a CPU worker with its engine): a small
 * grid of lj_test and sevennet_prod runs through the API, chained steps start from the optimization's output, its
 * signed campaign.progress / campaign.completed webhooks and live events arrive, an identical second campaign takes
 * every result from the cache, cancel stops running children, and a SIGKILLed worker loses none of a campaign's
 * tasks. Few steps and small structures keep it inside a CPU budget; the 2,000-task campaign is
 * tests/campaign-scale.test.ts.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MOFSimClient } from '@mofsim/sdk';
import WebSocket from 'ws';
import { api, startTestStack, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';
import { asc, eq } from 'drizzle-orm';
import { scoreTasks } from '../scoring/campaign-scores.js';
import { tasks as tasksTable } from '../store/schema.js';
import { progressDue } from '../store/campaign-events.js';

let stack: TestStack;
let hooks: WebhookReceiver;
before(async () => {
  hooks = await startWebhookReceiver();
  stack = await startTestStack({
    workers: 1,
    // Progress events at most once a second (the default 10 s would leave a short campaign with only its last one).
    env: { MOFSIM_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', MOFSIM_CAMPAIGN_PROGRESS_S: '1', MOFSIM_WEBHOOK_RETRY_INITIAL_S: '1' },
  });
});
after(async () => { await stack?.stop(); hooks?.close(); });

const SECRET = 'campaign-hook-secret';

/** The webhooks one campaign got, in event order, each checked for its signature and idempotency key. */
function campaignHooks(campaignId: string): { id: number; type: string; body: any }[] {
  const out: { id: number; type: string; body: any }[] = [];
  for (const h of hooks.received) {
    const body = JSON.parse(h.body);
    if (body.campaign?.campaign_id !== campaignId) continue;
    const [t, v1] = String(h.headers['x-mofsim-signature']).split(',').map((x) => x.split('=')[1]);
    assert.equal(t, h.headers['x-mofsim-timestamp']);
    assert.equal(v1, createHmac('sha256', SECRET).update(`${t}.${h.body}`).digest('hex'), 'the signature verifies with the callback secret');
    const id = Number(String(body.id).replace(/^cevt_/, ''));
    assert.equal(h.headers['idempotency-key'], `campaign:${campaignId}:${id}`);
    assert.equal(h.headers['x-mofsim-event'], body.type);
    out.push({ id, type: body.type, body });
  }
  return out.sort((a, b) => a.id - b.id);
}

/** A WebSocket watching one campaign's live events from the start. */
async function watchCampaign(campaignId: string): Promise<{ events: any[]; close(): void }> {
  const ws = new WebSocket(stack.baseUrl.replace('http', 'ws') + '/ws', { headers: { authorization: `Bearer ${stack.userKey}` } });
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const events: any[] = [];
  const subscribed = new Promise<void>((r) => ws.on('message', (m) => {
    const x = JSON.parse(String(m));
    if (x.type === 'campaign_event') events.push(x.event);
    if (x.type === 'subscribed') r();
  }));
  ws.send(JSON.stringify({ action: 'subscribe', campaign_id: campaignId, last_event_id: 0 }));
  await subscribed;
  return { events, close: () => ws.close() };
}

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
  // sevennet_prod: the real SevenNet-0 weights from the sevenn wheel, on two small cells (44 and 48 atoms).
  models: ['lj_test', 'sevennet_prod'],
  structures: ['calf', 'SAS_primitive'],
  tasks: [
    { type: 'single-point-energy' },
    // Few steps: a SevenNet-0 + D3 force call takes seconds on a loaded 2-core CPU.
    { type: 'optimization', parameters: { fmax: 0.05, max_steps: 5 } },
    { type: 'bulk-modulus', parameters: { opt_steps: 2, npoints: 5, point_steps: 1, opt_fmax: 0.05, point_fmax: 0.05 }, start_from: 'optimization' },
  ],
};

describe('campaign progress throttle', () => {
  /** How many progress events a campaign of `total` tasks sends when one task ends every `everyMs`. */
  const sent = (total: number, everyMs: number, minIntervalS: number) => {
    let previous: { ended: number; at: Date } | undefined;
    let n = 0;
    for (let ended = 1; ended < total; ended++) {
      const now = new Date(ended * everyMs);
      if (progressDue(previous, ended, total, now, minIntervalS)) { previous = { ended, at: now }; n++; }
    }
    return n;
  };
  it('sends at most one per interval and per 1 % of the tasks, and one per task for a small slow campaign', () => {
    assert.ok(sent(2000, 10, 10) <= 3, 'a fast campaign: bounded by the interval');
    assert.ok(sent(20_000, 60_000, 10) <= 100, 'a slow large one: bounded by 1 % steps');
    assert.equal(sent(10, 60_000, 10), 9, 'a slow small one: every task end (the last comes with the completion)');
    assert.equal(progressDue({ ended: 5, at: new Date(0) }, 5, 10, new Date(3_600_000), 10), false, 'nothing new, nothing sent');
  });
});

describe('campaigns', () => {
  it('runs models × structures × steps, chains a step to the optimization output, and reuses every result the second time', async () => {
    const { status, body } = await post('/api/v1/campaigns', { name: 'small', ...SMALL, options: { callback: { url: hooks.url, secret: SECRET } } });
    assert.equal(status, 202, JSON.stringify(body));
    const c = body.data;
    assert.equal(c.total_tasks, 12);
    assert.deepEqual(c.structures.map((s: any) => s.name).sort(), ['SAS_primitive', 'calf']);
    assert.equal(c.options.callback.secret, undefined, 'the callback secret is never shown back');
    assert.equal(c.options.callback.has_secret, true);
    const live = await watchCampaign(c.campaign_id);
    const done = await waitCampaign(c.campaign_id);
    assert.equal(done.status, 'COMPLETED', JSON.stringify(done));
    assert.equal(done.counts.COMPLETED, 12, JSON.stringify(done.counts));
    assert.equal(done.progress, 100);

    // Webhooks: signed; progress never goes back; exactly one campaign.completed, last, with the final counts and scores.
    const got = await until('campaign.completed delivered', async () => {
      const h = campaignHooks(c.campaign_id);
      return h.some((x) => x.type === 'campaign.completed') ? h : undefined;
    }, 60_000, 200);
    const progress = got.filter((h) => h.type === 'campaign.progress');
    assert.ok(progress.length >= 1, JSON.stringify(got.map((h) => h.type)));
    for (let i = 1; i < progress.length; i++) {
      const [a, b] = [progress[i - 1].body.data, progress[i].body.data];
      assert.ok(b.ended >= a.ended, `ended ${a.ended} → ${b.ended}`);
      assert.ok((b.counts.COMPLETED ?? 0) >= (a.counts.COMPLETED ?? 0), `completed ${a.counts.COMPLETED} → ${b.counts.COMPLETED}`);
    }
    assert.equal(progress.at(-1)!.body.data.ended, 12, 'a last progress event once every task ended');
    assert.equal(progress.at(-1)!.body.data.progress, 100);
    const completed = got.filter((h) => h.type === 'campaign.completed');
    assert.equal(completed.length, 1);
    assert.equal(got.at(-1)!.type, 'campaign.completed');
    const end = completed[0].body;
    assert.equal(end.campaign.status, 'COMPLETED');
    assert.deepEqual(end.data.counts, done.counts);
    assert.equal(end.data.total_tasks, 12);
    assert.deepEqual(end.data.scores, done.scores.scores.map((x: any) => ({ model: x.model, weights_sha256: x.weights_sha256, protocol: x.protocol, aggregate: x.aggregate })));
    assert.ok(end.data.scores.some((x: any) => x.model === 'sevennet_prod' && x.protocol === 'optimization'), JSON.stringify(end.data.scores).slice(0, 300));
    // The same events live on the WebSocket and in the events list, each with its delivery.
    await until('the completed event on the socket', async () => live.events.some((e) => e.type === 'completed'), 30_000, 100);
    live.close();
    const { body: listed } = await api(stack.baseUrl, `/api/v1/campaigns/${c.campaign_id}/events`);
    assert.deepEqual(live.events.map((e) => e.id), listed.data.items.map((e: any) => e.id));
    assert.deepEqual(got.map((h) => h.id), listed.data.items.map((e: any) => e.id), 'every event was delivered once');
    await until('deliveries recorded', async () => {
      const { body: again } = await api(stack.baseUrl, `/api/v1/campaigns/${c.campaign_id}/events`);
      return again.data.items.every((e: any) => e.webhook?.delivered_at && e.webhook.last_status_code === 200);
    }, 30_000, 200);

    const tasks = await allTasks(c.campaign_id);
    assert.equal(tasks.length, 12);
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
    assert.equal(res.data.rows.length, 12);
    const sp = res.data.rows.find((r: any) => r.task_type === 'single-point-energy');
    const { body: spResult } = await api(stack.baseUrl, `/api/v1/tasks/${sp.task_id}/result`);
    assert.equal(sp.metrics.energy_eV, spResult.data.result.energy_eV);
    const taskCsv = await fetch(`${stack.baseUrl}/api/v1/campaigns/${c.campaign_id}/results?format=csv&table=tasks`, { headers: { authorization: `Bearer ${stack.userKey}` } });
    assert.equal(taskCsv.status, 200);
    assert.match(taskCsv.headers.get('content-type') ?? '', /text\/csv/);
    const lines = (await taskCsv.text()).trim().split('\n');
    assert.equal(lines.length, 13);
    assert.ok(lines[0].startsWith('task_id,model,structure,task_type,step,status'));

    // The scores stored when it finished are the scorer's on the campaign's task rows, and the optimization rows are
    // V_final / V_DFT − 1 against the DFT volumes (calf: 746.93 Å³, SAS_primitive: 1025.39 Å³, PROTOCOLS.md §7.2).
    const rowsInDb = await stack.database.db.select().from(tasksTable).where(eq(tasksTable.campaignId, c.campaign_id))
      .orderBy(asc(tasksTable.createdAt), asc(tasksTable.id));
    const direct = JSON.parse(JSON.stringify(scoreTasks(rowsInDb)));
    assert.deepEqual(JSON.parse(JSON.stringify(done.scores.scores)), direct,
      `stored ${JSON.stringify(done.scores.scores)}\ndirect ${JSON.stringify(direct)}\nrows ${JSON.stringify(rowsInDb.map((t) => [t.id, t.taskType, t.structureName, t.status, t.result && Object.fromEntries(Object.entries(t.result).filter(([, v]) => typeof v !== 'object'))]))}`);
    const dft: Record<string, number> = { calf: 746.93, SAS_primitive: 1025.39 };
    for (const o of opts) {
      const optScore = done.scores.scores.find((s: any) => s.protocol === 'optimization' && s.model === o.model);
      assert.ok(optScore, JSON.stringify(done.scores).slice(0, 500));
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
    assert.equal(done2.counts.COMPLETED, 12, JSON.stringify(done2.counts));
    const tookS = (Date.parse(done2.finished_at) - Date.parse(done2.created_at)) / 1000;
    assert.ok(tookS < 30, `the cached campaign finished in ${tookS} s (chained steps do not wait for the idle look)`);
    const tasks2 = await allTasks(again.campaign_id);
    const byKey = (t: any) => `${t.model}|${t.task_type}|${t.structure_name.split('@')[0]}`;
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
    // Its end is one completed event, CANCELLED, written once its running tasks stopped (final counts).
    const eventsOf = async () => (await api(stack.baseUrl, `/api/v1/campaigns/${slowCampaign.id}/events`)).body.data.items as any[];
    const ended = await until('the cancelled campaign\'s completed event', async () => {
      const ev = await eventsOf();
      return ev.some((e) => e.type === 'completed') ? ev : undefined;
    }, 120_000, 300);
    const ends = ended.filter((e) => e.type === 'completed');
    assert.equal(ends.length, 1);
    assert.equal(ends[0].data.status, 'CANCELLED');
    assert.deepEqual(ends[0].data.counts, { CANCELLED: 3 });
    assert.equal(ends[0].webhook, null, 'no callback, no delivery');
    // Retry puts the cancelled tasks back in line; the campaign runs again until cancelled once more.
    await client.campaigns.retry(slowCampaign.id);
    await statusOf('RUNNING');
    const listed = await eventsOf();
    const retried = listed.filter((e) => e.type === 'retried');
    assert.equal(retried.length, 1);
    // The SDK reads the same stream, from the start and after a given event id.
    const sdkEvents = await slowCampaign.events();
    assert.deepEqual(sdkEvents.map((e) => e.id), listed.map((e) => e.id));
    assert.deepEqual((await slowCampaign.events(sdkEvents[0]!.id)).map((e) => e.id), listed.slice(1).map((e) => e.id));
    assert.equal(retried[0].data.retried_tasks, 3);
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

  it('loses nothing when a worker running campaign tasks is SIGKILLed: the campaign completes with every task accounted for', async () => {
    // A second worker in its own process; the in-process one keeps serving. 8 MD runs of the test potential (a
    // checkpoint every 100 steps) fill both workers' 4 slots, so the child gets some of them.
    const child = await stack.spawnWorker('campaign-kill-1');
    const md = (nvt: number) => ({ type: 'stability', parameters: { opt_steps: 0, nvt_steps: nvt, npt_steps: 0, checkpoint_interval: 100, trajectory_interval: 1000 } });
    const { status, body } = await post('/api/v1/campaigns', {
      name: 'sigkill', models: ['lj_test'], structures: ['calf', 'SAS_primitive', 'LTA', 'MOF-5_primitive'], tasks: [md(800), md(900)],
      options: { reuse: false },
    });
    assert.equal(status, 202, JSON.stringify(body).slice(0, 500));
    const id = body.data.campaign_id;
    assert.equal(body.data.total_tasks, 8);
    const victims = await until('a campaign task on the child worker past its first checkpoint', async () => {
      const rows = await stack.database.sql`select id from tasks where campaign_id = ${id} and worker_id = ${child.id} and status = 'RUNNING'
        and (checkpoint->>'step')::int >= 100`;
      return rows.length ? rows.map((r) => r.id as string) : undefined;
    }, 300_000, 100);
    child.process.kill('SIGKILL');
    await child.exited;
    const done = await waitCampaign(id);
    assert.equal(done.status, 'COMPLETED', JSON.stringify(done).slice(0, 500));
    assert.deepEqual(done.counts, { COMPLETED: 8 }, 'every task accounted for');
    for (const v of victims) {
      const task = (await api(stack.baseUrl, `/api/v1/tasks/${v}`)).body.data;
      assert.equal(task.status, 'COMPLETED');
      assert.notEqual(task.worker_id, child.id, `task ${v} finished on a live worker`);
      const { body: ev } = await api(stack.baseUrl, `/api/v1/tasks/${v}/events`);
      const resumed = ev.data.items.find((e: any) => e.type === 'resumed');
      assert.ok(resumed && resumed.data.from_step >= 100, `task ${v} resumed from its checkpoint: ${ev.data.items.map((e: any) => e.type).join(',')}`);
    }
    const { body: ev } = await api(stack.baseUrl, `/api/v1/campaigns/${id}/events`);
    assert.equal(ev.data.items.filter((e: any) => e.type === 'completed').length, 1);
  });
});
