/**
 * Campaigns end to end on the real stack (Postgres, Temporal dev server, a CPU worker with its engine): a small
 * grid of lj_test and sevennet_prod runs through the API, chained steps start from the optimization's output, its
 * signed campaign.progress / campaign.completed webhooks and live events arrive, an identical second campaign takes
 * every result from the cache, cancel stops running children, and a 2,000-task campaign is accepted in one call and
 * completes with its workflow's history bounded while a worker is SIGKILLed under it. Few steps and small
 * structures keep it inside a CPU budget.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MOFSimClient } from '@mofsim/sdk';
import WebSocket from 'ws';
import { api, startTestStack, upload, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';
import { asc, eq } from 'drizzle-orm';
import { scoreTasks } from '../scoring/campaign-scores.js';
import { tasks as tasksTable } from '../store/schema.js';
import { progressDue } from '../store/campaign-events.js';
import { campaignWorkflowId } from '../workflows/campaign-ids.js';

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
    { type: 'optimization', parameters: { fmax: 0.05, max_steps: 15 } },
    { type: 'bulk-modulus', parameters: { opt_steps: 5, npoints: 5, point_steps: 3, opt_fmax: 0.05, point_fmax: 0.05 }, start_from: 'optimization' },
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
    const retried = (await eventsOf()).filter((e) => e.type === 'retried');
    assert.equal(retried.length, 1);
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

  it('accepts a 2,000-task lj_test campaign in one call and completes it, its workflow history bounded, losing nothing to a SIGKILLed worker', async (t) => {
    // 100 distinct one-atom cells × 20 single-point steps: the orchestration is what costs, not the physics. A
    // second worker in its own process starts meanwhile, to be killed while it runs some of the campaign's tasks.
    const childStarting = stack.spawnWorker('campaign-kill-1');
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const a = (3 + i * 0.01).toFixed(2);
      const r = await upload(stack.baseUrl, `ar-${i}.vasp`, `Ar cell ${i}\n1.0\n${a} 0 0\n0 ${a} 0\n0 0 ${a}\nAr\n1\nCartesian\n0 0 0\n`);
      assert.ok(r.body.data?.id, JSON.stringify(r.body));
      ids.push(r.body.data.id);
    }
    const child = await childStarting;
    const t0 = Date.now();
    const { status, body } = await post('/api/v1/campaigns', {
      name: 'two thousand', models: ['lj_test'], structures: ids,
      tasks: Array.from({ length: 20 }, () => ({ type: 'single-point-energy' })), options: { reuse: false },
    });
    const acceptedMs = Date.now() - t0;
    assert.equal(status, 202, JSON.stringify(body).slice(0, 500));
    assert.equal(body.data.total_tasks, 2000);
    const id = body.data.campaign_id;

    const victims = await until('campaign tasks running on the child worker', async () => {
      const rows = await stack.database.sql`select id from tasks where campaign_id = ${id} and worker_id = ${child.id} and status = 'RUNNING'`;
      return rows.length ? rows.map((r) => r.id as string) : undefined;
    }, 300_000, 50);
    const killedAt = Date.now();
    const endedBeforeKill = (await api(stack.baseUrl, `/api/v1/campaigns/${id}`)).body.data.progress;
    child.process.kill('SIGKILL');
    await child.exited;

    const done = await waitCampaign(id, ['COMPLETED', 'CANCELLED', 'FAILED'], 1_200_000);
    const totalMs = Date.now() - t0;
    assert.equal(done.status, 'COMPLETED', JSON.stringify(done).slice(0, 500));
    assert.deepEqual(done.counts, { COMPLETED: 2000 }, 'every task accounted for');
    for (const v of victims) {
      const task = (await api(stack.baseUrl, `/api/v1/tasks/${v}`)).body.data;
      assert.equal(task.status, 'COMPLETED');
      assert.notEqual(task.worker_id, child.id, `task ${v} was run again by a live worker`);
    }
    const { body: ev } = await api(stack.baseUrl, `/api/v1/campaigns/${id}/events`);
    assert.equal(ev.data.items.filter((e: any) => e.type === 'completed').length, 1);
    assert.ok(ev.data.items.filter((e: any) => e.type === 'progress').length <= 101, 'progress is throttled to 1 % steps');

    // Each run of the campaign workflow (walking back through its continue-as-new chain) stays near the 2,000
    // events it continues at, although the chain as a whole holds far more: one history for all would not.
    const lengths: number[] = [];
    for (let handle = stack.temporalClient.workflow.getHandle(campaignWorkflowId(id)); ;) {
      const events = (await handle.fetchHistory()).events ?? [];
      lengths.unshift(events.length);
      const previous = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
      if (!previous) break;
      handle = stack.temporalClient.workflow.getHandle(campaignWorkflowId(id), previous);
    }
    t.diagnostic(`2,000 tasks: accepted in ${acceptedMs} ms, completed in ${(totalMs / 1000).toFixed(1)} s (worker killed at ${((killedAt - t0) / 1000).toFixed(1)} s, ${endedBeforeKill}% ended, ${victims.length} task(s) running on it); workflow runs' history lengths ${lengths.join(', ')}`);
    assert.ok(lengths.length >= 2, `it continued as new (runs: ${lengths.join(', ')})`);
    assert.ok(Math.max(...lengths) <= 2_600, `every run stays bounded: ${lengths.join(', ')}`);
    assert.ok(lengths.reduce((a, b) => a + b, 0) > 2_600, 'the chain holds more than one run may');
  });
});
