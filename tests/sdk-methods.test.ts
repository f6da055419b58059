/**
 * Every public SDK method, called by its own name against the real stack (real Postgres, Temporal and engine):
 * the resource methods the flat Python-style aliases forward to (`structures.upload`, `tasks.retry`, `system.gpus`,
 * `alerts.resolve`, …), the flat submitters of the slower task types, and every `Task` method. A guard (no stack)
 * lists the methods of a constructed client, of its resources and of `Task` at run time and fails when one is
 * called nowhere in tests/ or sdk/examples/, so a method added later comes with a test.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ts from 'typescript';
import * as sdk from '@mofsim/sdk';
import { repoRoot } from '../common/config.js';
import { alerts, systemLogs, workers } from '../store/schema.js';
import { calfPath, startTestStack, type TestStack } from './helpers/stack.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';
import { until } from './helpers/until.js';

const { MOFSimClient } = sdk;
type Client = InstanceType<typeof MOFSimClient>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


// ---------------------------------------------------------------------------------------------------------------
// Guard: every public method is called somewhere.

/** Members declared `private`/`protected` (or `#name`) per SDK class: TypeScript keeps them on the prototype. */
function nonPublicMembers(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
  for (const file of walk(join(repoRoot, 'sdk', 'src'))) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node): void => {
      if (ts.isClassDeclaration(n) && n.name) {
        const hidden = new Set<string>();
        for (const m of n.members) {
          if (!m.name) continue;
          const mods = ts.canHaveModifiers(m) ? ts.getModifiers(m) ?? [] : [];
          if (ts.isPrivateIdentifier(m.name) || mods.some((k) => k.kind === ts.SyntaxKind.PrivateKeyword || k.kind === ts.SyntaxKind.ProtectedKeyword)) {
            hidden.add(m.name.getText(sf));
          }
        }
        out.set(n.name.text, hidden);
      }
      n.forEachChild(visit);
    };
    visit(sf);
  }
  return out;
}

/** Public methods of an object: functions on its prototype chain (not getters, not the constructor) and own function properties. */
function publicMethods(obj: object, hidden: Map<string, Set<string>>): string[] {
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(obj); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const skip = hidden.get(p.constructor.name) ?? new Set<string>();
    for (const name of Object.getOwnPropertyNames(p)) {
      if (name === 'constructor' || skip.has(name)) continue;
      if (typeof Object.getOwnPropertyDescriptor(p, name)!.value === 'function') names.add(name);
    }
  }
  for (const [k, v] of Object.entries(obj)) if (typeof v === 'function') names.add(k);
  return [...names].sort();
}

/** The text of tests/**\/*.ts and the code cells of sdk/examples/*.ipynb. */
function callSites(): string {
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
  const tests = walk(join(repoRoot, 'tests')).map((f) => readFileSync(f, 'utf8'));
  const examplesDir = join(repoRoot, 'sdk', 'examples');
  const notebooks = readdirSync(examplesDir).filter((f) => f.endsWith('.ipynb')).map((f) => {
    const nb = JSON.parse(readFileSync(join(examplesDir, f), 'utf8')) as { cells: { cell_type: string; source: string | string[] }[] };
    return nb.cells.filter((c) => c.cell_type === 'code').map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source)).join('\n');
  });
  return [...tests, ...notebooks].join('\n');
}

/**
 * Methods that cannot be exercised by a test, each with the reason. Empty: everything is callable against the
 * test stack. (An entry here is `'<where>.<method>'`, e.g. `'client.close'` or `'structures.upload'` or `'Task.wait'`.)
 */
const NOT_CALLABLE: Record<string, string> = {};

describe('every public SDK method is called by a test or an example', () => {
  it('finds a qualified call for each method of the client, its resources and Task', () => {
    const hidden = nonPublicMembers();
    assert.ok(hidden.get('Task')?.has('follow'), 'the private members of Task are recognised (parser sanity check)');
    const client = new MOFSimClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'x' });
    const text = callSites();
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const missing: string[] = [];
    const seen: string[] = [];
    const check = (where: string, method: string, re: RegExp) => {
      const key = `${where}.${method}`;
      seen.push(key);
      if (re.test(text)) assert.ok(!(key in NOT_CALLABLE), `${key} is called now: take it off NOT_CALLABLE`);
      else if (!(key in NOT_CALLABLE)) missing.push(key);
    };

    // Flat methods on a client: `client.getTask(`, `admin.loadModel(`, `fooClient.listModels(`.
    const flat = publicMethods(client, hidden);
    assert.ok(flat.includes('getTask') && flat.includes('waitAll') && !flat.includes('baseUrl'), flat.join(', '));
    for (const m of flat) check('client', m, new RegExp(`\\b(?:\\w*[cC]lient|admin)\\.${esc(m)}\\(`));

    // Resources: every own enumerable object property except the transport; calls written `<resource>.<method>(`.
    const resources = Object.entries(client).filter(([k, v]) => k !== 'http' && v !== null && typeof v === 'object');
    assert.ok(resources.length >= 13, resources.map(([k]) => k).join(', '));
    for (const [name, resource] of resources) {
      const methods = publicMethods(resource as object, hidden);
      assert.ok(methods.length > 0, `${name} has no methods`);
      for (const m of methods) check(name, m, new RegExp(`\\b${esc(name)}\\.${esc(m)}\\(`));
    }

    // Task: on a handle whose name ends in task/Task (`task.wait(`, `slowTask.cancel(`; not `tasks.cancel(`).
    const taskMethods = publicMethods(new sdk.Task({ task_id: 'x' } as sdk.TaskInfo, client.http), hidden);
    assert.ok(taskMethods.includes('wait') && !taskMethods.includes('follow') && !taskMethods.includes('apply'), taskMethods.join(', '));
    for (const m of taskMethods) check('Task', m, new RegExp(`\\b\\w*[tT]ask\\.${esc(m)}\\(`));

    // Campaign: on a handle whose name ends in campaign/Campaign (`campaign.wait(`; not `campaigns.cancel(`).
    const campaignMethods = publicMethods(new sdk.Campaign({ campaign_id: 'x' } as sdk.CampaignInfo, client.http), hidden);
    assert.ok(campaignMethods.includes('wait'), campaignMethods.join(', '));
    for (const m of campaignMethods) check('Campaign', m, new RegExp(`\\b\\w*[cC]ampaign\\.${esc(m)}\\(`));

    assert.deepEqual(missing, [], `SDK methods called by no test (tests/**/*.ts, sdk/examples/*.ipynb): ${missing.join(', ')}`);
    for (const k of Object.keys(NOT_CALLABLE)) assert.ok(seen.includes(k), `NOT_CALLABLE names ${k}, which is no SDK method`);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Against the real server.

describe('SDK methods against the real server', () => {
  let stack: TestStack;
  let client: Client;
  let admin: Client;
  let receiver: WebhookReceiver;
  let hookUrl: string;
  const received = () => receiver.received;
  const calfBytes = readFileSync(calfPath);
  let structureId: string;

  before(async () => {
    // No worker at first: tasks stay queued for the priority, cancel and retry checks; one is started later.
    stack = await startTestStack({ workers: 0, env: { MOFSIM_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', MOFSIM_WEBHOOK_RETRY_INITIAL_S: '0.2' } });
    client = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.userKey });
    admin = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.adminKey });
    receiver = await startWebhookReceiver();
    hookUrl = receiver.url;
  });
  after(async () => { receiver?.close(); await stack?.stop(); });

  it('structures: upload (bytes, path), get, list, download gives the uploaded bytes, builtin, delete', async () => {
    const s = await client.structures.upload(calfBytes, { filename: 'calf-methods.cif', name: 'calf-methods' });
    assert.deepEqual([s.n_atoms, s.name], [44, 'calf-methods']);
    structureId = s.id;
    const fromPath = await client.structures.upload(calfPath);
    assert.equal(fromPath.checksum, s.checksum);
    assert.equal((await client.structures.get(s.id)).checksum, s.checksum);

    const downloaded = await client.structures.download(s.id);
    assert.ok(Buffer.isBuffer(downloaded));
    assert.ok(downloaded.equals(calfBytes), 'the download is the uploaded file, byte for byte');

    const ids: string[] = [];
    for await (const x of await client.structures.list({ pageSize: 1 })) ids.push(x.id);
    assert.ok(ids.includes(s.id) && ids.includes(fromPath.id), ids.join(','));

    const essential = await client.structures.builtin({ set: 'essential' });
    assert.equal(essential.items.length, 4);
    assert.equal(essential.total, 4);
    assert.ok(essential.attribution.source.length > 0 && essential.attribution.license.length > 0);
    const all = await client.structures.builtin();
    assert.ok(all.total > essential.total, `${all.total} built-ins in all`);
    assert.ok(all.items.some((b) => b.name === 'calf'));
    assert.ok(Object.keys(all.sets).includes('essential'));

    const doomed = await client.structures.upload(calfBytes, { filename: 'doomed.cif', name: 'sdk-delete-me' });
    assert.notEqual(doomed.id, s.id);
    assert.equal(await client.structures.delete(doomed.id), true);
    await assert.rejects(client.structures.get(doomed.id), sdk.StructureNotFoundError);
    await assert.rejects(client.structures.download(doomed.id), sdk.StructureNotFoundError);
    await assert.rejects(client.structures.delete(doomed.id), sdk.StructureNotFoundError);
    // Another user's structure is not found either.
    const other = new MOFSimClient({ baseUrl: stack.baseUrl, apiKey: (await admin.keys.create({ name: 'other-user' })).key });
    await assert.rejects(other.structures.download(s.id), sdk.StructureNotFoundError);
  });

  describe('tasks while no worker runs (they stay queued)', () => {
    const queued: Record<string, sdk.Task> = {};

    it('tasks.setPriority moves a queued task up the line; a finished one is refused', async () => {
      const first = await client.singlePoint.submit({ model: 'lj_test', structure: structureId });
      const second = await client.singlePoint.submit({ model: 'lj_test', structure: { builtin: 'calf' } });
      const position = async (t: sdk.Task) => (await client.http.request<{ position: number; status: string }>('GET', `/tasks/${t.id}/queue`));
      await until('both queued', async () => (await position(first)).status === 'QUEUED' && (await position(second)).status === 'QUEUED');
      assert.deepEqual([(await position(first)).position, (await position(second)).position], [1, 2]);

      const changed = await client.tasks.setPriority(second.id, 'CRITICAL');
      assert.ok(changed instanceof sdk.Task);
      assert.equal(changed.id, second.id);
      assert.equal(changed.priority, 'CRITICAL');
      assert.equal((await client.tasks.get(second.id)).priority, 'CRITICAL');
      assert.deepEqual([(await position(second)).position, (await position(first)).position], [1, 2], 'the CRITICAL task heads the line');
      const logs = await client.tasks.logs(second.id);
      const change = logs.find((l) => l.message === 'priority_changed');
      assert.deepEqual([change?.extra?.from, change?.extra?.to], ['NORMAL', 'CRITICAL']);
      assert.deepEqual((await client.tasks.logs(second.id, { limit: 1 })).map((l) => l.message), ['queued']);
      assert.deepEqual((await client.tasks.logs(second.id, { limit: 1, offset: 1 })).map((l) => l.message), ['priority_changed']);
      await assert.rejects(client.tasks.setPriority('00000000-0000-4000-8000-000000000000', 'LOW'), sdk.TaskNotFoundError);
      queued.first = first;
      queued.second = second;

      // The structure is in use: deleting it is refused.
      await assert.rejects(client.structures.delete(structureId), (e: any) => e instanceof sdk.ConflictError && e.code === 40905);
    });

    it('tasks.list filters, tasks.cancel cancels, tasks.retry makes a new task like the old one', async () => {
      const page = await client.tasks.list({ status: 'QUEUED', taskType: 'single-point-energy', pageSize: 1 });
      assert.equal(page.items.length, 1);
      assert.ok(page.items[0] instanceof sdk.Task);
      const ids: string[] = [];
      for await (const t of page) ids.push(t.id);
      assert.deepEqual(ids.sort(), [queued.first!.id, queued.second!.id].sort());

      const doomed = await client.optimization.submit({ model: 'lj_test', structure: structureId, fmax: 0.2, max_steps: 7, priority: 'LOW' });
      assert.equal(await client.tasks.cancel(doomed.id), true);
      await until('cancelled', async () => (await client.tasks.get(doomed.id)).status === 'CANCELLED');
      await assert.rejects(client.tasks.setPriority(doomed.id, 'HIGH'), (e: any) => e instanceof sdk.ConflictError && e.code === 40902);
      assert.equal((await client.tasks.list({ status: 'CANCELLED' })).items.map((t) => t.id).includes(doomed.id), true);

      const retried = await client.tasks.retry(doomed.id);
      assert.ok(retried instanceof sdk.Task);
      assert.notEqual(retried.id, doomed.id);
      assert.equal(retried.taskType, 'optimization');
      assert.equal(retried.priority, 'LOW');
      assert.equal(retried.info.structure_id, structureId);
      assert.deepEqual([retried.info.parameters?.fmax, retried.info.parameters?.max_steps], [0.2, 7]);
      assert.ok(['PENDING', 'QUEUED'].includes(retried.status), retried.status);
      assert.equal((await client.tasks.get(doomed.id)).status, 'CANCELLED', 'the original stays as it was');
      queued.retried = retried;
      await assert.rejects(client.tasks.retry('00000000-0000-4000-8000-000000000000'), sdk.TaskNotFoundError);
      await assert.rejects(client.tasks.cancel('00000000-0000-4000-8000-000000000000'), sdk.TaskNotFoundError);
    });

    it('system.queue counts the queued tasks by priority', async () => {
      const q = await client.system.queue();
      const count = (p: string) => q.queues.find((x) => x.priority === p)?.count;
      assert.deepEqual(q.queues.map((x) => x.priority).sort(), ['CRITICAL', 'HIGH', 'LOW', 'NORMAL']);
      assert.deepEqual([count('CRITICAL'), count('NORMAL'), count('LOW')], [1, 1, 1]);
      assert.equal(q.total_pending, 3);
      assert.equal(q.total_running, 0);
    });

    it('runs the line in its new order once a worker starts; the retried task completes', { timeout: 180_000 }, async () => {
      // A slow heartbeat: the model tests check that a load or unload is visible without waiting for one.
      await stack.startWorker('methods-w', { MOFSIM_ENGINE_MAX_JOBS: '1', MOFSIM_WORKER_HEARTBEAT_S: '3' });
      const [a, b, r] = await client.waitAll([queued.first!, queued.second!, queued.retried!], { timeout: 150, pollInterval: 0.3 });
      assert.ok(a instanceof sdk.SinglePointResult && b instanceof sdk.SinglePointResult);
      assert.ok(r instanceof sdk.OptimizationResult);
      assert.ok(r.optimizationSteps! <= 7);
      assert.equal(a.energy, b.energy, 'the uploaded calf and the built-in one are the same structure');
      const started = (t: sdk.Task) => Date.parse(t.info.started_at!);
      assert.ok(started(queued.second!) <= started(queued.first!), 'the task moved to CRITICAL started first');
      await assert.rejects(client.tasks.setPriority(queued.first!.id, 'LOW'), (e: any) => e instanceof sdk.ConflictError && e.code === 40902);
    });
  });

  it('submitStability, submitHeatCapacity and submitInteractionEnergy run short jobs to typed results', { timeout: 240_000 }, async () => {
    const stability = await client.submitStability('lj_test', { builtin: 'calf' }, { opt_steps: 0, nvt_steps: 20, npt_steps: 10, checkpoint_interval: 100, trajectory_interval: 10 });
    const heat = await client.submitHeatCapacity('lj_test', structureId, { opt_steps: 5, t_min_K: 0, t_max_K: 500, t_step_K: 50, mesh: 10 });
    const inter = await client.submitInteractionEnergy('lj_test', { id: structureId }, { guest_indices: [42, 43] });
    assert.deepEqual([stability.taskType, heat.taskType, inter.taskType], ['stability', 'heat-capacity', 'interaction-energy']);
    assert.equal(stability.info.parameters?.nvt_steps, 20);
    const [st, hc, ie] = await client.waitAll([stability, heat, inter] as sdk.Task[], { timeout: 200, pollInterval: 0.5 });

    assert.ok(st instanceof sdk.StabilityResult, String(st));
    assert.equal(st.taskId, stability.id);
    assert.ok(Number.isFinite(st.volumeChangePercent!), JSON.stringify(st.resultData).slice(0, 400));
    assert.equal(typeof st.isStable, 'boolean');

    assert.ok(hc instanceof sdk.HeatCapacityResult, String(hc));
    assert.deepEqual(hc.temperatures, [0, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500]);
    assert.equal(hc.heatCapacities.length, hc.temperatures.length);
    assert.ok(Number.isFinite(hc.heatCapacityAt300K!) && hc.heatCapacityAt300K! >= 0, `Cv(300 K) ${hc.heatCapacityAt300K}`);

    assert.ok(ie instanceof sdk.InteractionEnergyResult, String(ie));
    const d = ie.resultData;
    assert.deepEqual([d.n_atoms, d.n_framework_atoms, d.n_guest_atoms], [44, 42, 2]);
    assert.ok(Math.abs(ie.interactionEnergy! - (d.complex_energy_eV! - d.framework_energy_eV! - d.guest_energy_eV!)) < 1e-9);
    assert.equal(ie.bindingEnergy, -ie.interactionEnergy!);

    // The resource forms the flat methods forward to: the server checks each type's parameters.
    await assert.rejects(client.heatCapacity.submit({ model: 'lj_test', structure: structureId, t_step_K: 0 }),
      (e: any) => e instanceof sdk.ValidationError && e.field === 'parameters.t_step_K');
    await assert.rejects(client.interactionEnergy.submit({ model: 'lj_test', structure: structureId, guest: 'Xe2' as 'CO2' }),
      (e: any) => e instanceof sdk.ValidationError && e.field === 'parameters.guest');
  });

  it('tasks.batch submits several tasks in one request, reports the bad item, and the handles complete', { timeout: 180_000 }, async () => {
    const res = await client.tasks.batch([
      { model: 'lj_test', structure: { builtin: 'calf' } },
      { model: 'lj_test', structure: structureId, parameters: { compute_stress: false } },
      { model: 'lj_test', structure: structureId, taskType: 'optimization', parameters: { fmax: -1 } },
      { model: 'lj_test', structure: calfPath, taskType: 'optimization', parameters: { fmax: 0.5, max_steps: 3 }, priority: 'HIGH' },
    ], { taskType: 'single-point-energy' });
    assert.deepEqual([res.submitted, res.failed], [3, 1]);
    assert.deepEqual(res.errors.map((e) => [e.index, e.code]), [[2, 40002]]);
    assert.deepEqual(res.handles.map((h) => h.id), res.task_ids);
    assert.deepEqual(res.handles.map((h) => h.taskType), ['single-point-energy', 'single-point-energy', 'optimization']);
    assert.equal(res.handles[2]!.priority, 'HIGH');
    const results = await client.waitAll(res.handles, { timeout: 150, pollInterval: 0.3 });
    const [a, b, c] = results as [sdk.SinglePointResult, sdk.SinglePointResult, sdk.OptimizationResult];
    assert.ok(a instanceof sdk.SinglePointResult && b instanceof sdk.SinglePointResult && c instanceof sdk.OptimizationResult);
    assert.equal(a.energy, b.energy);
    assert.ok(a.stress && !b.stress, 'compute_stress=false reached the second task');
  });

  it('Task: refresh, wait, getResult, getLogs, events, cancel, toString, toJSON', { timeout: 180_000 }, async () => {
    const task = await client.singlePoint.submit({ model: 'lj_test', structure: structureId });
    assert.equal(await task.refresh(), task, 'refresh is chainable');
    const result = await task.wait({ timeout: 120, pollInterval: 0.3 });
    assert.equal(task.status, 'COMPLETED');
    assert.equal(await task.getResult(), result, 'the result is cached');
    const fresh = await client.tasks.get(task.id);
    const again = await fresh.getResult();
    assert.notEqual(again, result);
    assert.deepEqual(again.raw, result.raw);
    const types: string[] = [];
    for await (const e of task.events()) types.push(e.type);
    assert.deepEqual([types[0], types.at(-1)], ['queued', 'completed']);
    const logs = await task.getLogs();
    assert.deepEqual(logs.map((l) => l.message.split(':')[0]), types);
    assert.deepEqual((await task.getLogs({ limit: 2, offset: 1 })).map((l) => l.id), logs.slice(1, 3).map((l) => l.id));
    assert.deepEqual(await task.getLogs({ since: new Date(Date.now() + 60_000) }), []);
    assert.equal(await task.cancel(), false, 'a finished task is not cancelled');
    assert.equal(task.toString(), `Task ${task.id} [COMPLETED]`);
    assert.deepEqual(task.toJSON(), task.info);
    assert.equal(JSON.parse(JSON.stringify(task)).task_id, task.id);

    const longTask = await client.stability.submit({ model: 'lj_test', structure: { builtin: 'calf' }, opt_steps: 0, nvt_steps: 1_000_000, npt_steps: 0, checkpoint_interval: 100, trajectory_interval: 1000 });
    await assert.rejects(longTask.getResult(), sdk.TaskNotCompletedError);
    assert.equal(await longTask.cancel(), true);
    await assert.rejects(longTask.wait({ timeout: 60, pollInterval: 0.3 }), sdk.TaskCancelledError);
    assert.equal(longTask.status, 'CANCELLED');
  });

  // The outcome of a model load/unload, as the system log records it (one entry per worker; found by workflow id).
  const outcomeOf = (workflowId: string) => until(`the outcome of ${workflowId} in the system log`, async () =>
    (await admin.system.logs({ source: 'worker', limit: 200 })).logs.find((e) => e.extra?.workflow_id === workflowId));

  it('models: get, list; load and unload on the worker (admin), idempotent, visible at once, logged', { timeout: 150_000 }, async () => {
    const m = await client.models.get('lj_test');
    assert.deepEqual([m.name, m.kind], ['lj_test', 'classical']);
    const family = m.family!;
    const inFamily = await client.models.list({ family });
    assert.ok(inFamily.length >= 1 && inFamily.every((x) => x.family === family) && inFamily.some((x) => x.name === 'lj_test'));
    assert.ok((await client.models.list()).length >= inFamily.length);
    const resident = await until('lj_test resident after the jobs above', async () => (await client.models.loaded()).lj_test);
    assert.deepEqual(resident.map((e) => e.worker_id), ['methods-w']);

    const held = await admin.models.load('lj_test');
    assert.deepEqual([held.status, held.worker_ids, held.request_id, held.action, held.gpu_id], ['already_loaded', ['methods-w'], null, 'load', null]);

    const unload = await admin.models.unload('lj_test');
    assert.deepEqual([unload.model, unload.action, unload.status, unload.worker_ids], ['lj_test', 'unload', 'accepted', ['methods-w']]);
    assert.match(unload.request_id!, /^model-unload-lj_test-/);
    const unloaded = await outcomeOf(unload.request_id!);
    assert.deepEqual([unloaded.level, unloaded.message, unloaded.worker_id, unloaded.extra?.outcome], ['INFO', 'model lj_test unloaded from worker methods-w', 'methods-w', 'unloaded']);
    // The worker heartbeat before the outcome was recorded: the list is current already (its own beat is every 3 s).
    assert.equal((await client.models.loaded()).lj_test, undefined);
    assert.deepEqual([(await client.models.get('lj_test')).is_loaded, (await client.models.get('lj_test')).status], [false, 'available']);
    const none = await admin.models.unload('lj_test');
    assert.deepEqual([none.status, none.worker_ids, none.request_id], ['not_loaded', [], null]);

    const load = await admin.models.load('lj_test');
    assert.deepEqual(load, { ...load, model: 'lj_test', action: 'load', status: 'accepted', gpu_id: null, worker_ids: ['methods-w'] });
    assert.ok(Date.parse(load.requested_at!) <= Date.now());
    const loadedLog = await outcomeOf(load.request_id!);
    assert.equal(loadedLog.level, 'INFO');
    assert.match(loadedLog.message, /^model lj_test loaded on worker methods-w in \d+\.\d+ s$/);
    const [entry, ...others] = (await client.models.loaded()).lj_test ?? [];
    assert.deepEqual([entry?.worker_id, entry?.use_count, entry?.in_use, others.length], ['methods-w', 0, 0, 0], 'loaded, and no job has used it yet');
    const model = await client.models.get('lj_test');
    assert.deepEqual([model.is_loaded, model.status], [true, 'loaded']);
    const twice = await admin.models.load('lj_test');
    assert.deepEqual([twice.status, twice.worker_ids, twice.request_id], ['already_loaded', ['methods-w'], null]);

    // The next job runs on the copy the API loaded: one more use of it, no new copy.
    await (await client.singlePoint.submit({ model: 'lj_test', structure: structureId })).wait({ timeout: 100, pollInterval: 0.3 });
    const used = await until('the job counted on the loaded copy', async () => {
      const [x] = (await client.models.loaded()).lj_test ?? [];
      return x && x.use_count >= 1 && x;
    });
    assert.deepEqual([used.use_count, used.loaded_at], [1, entry!.loaded_at]);

    const requested = await until('the admin requests in the system log', async () => {
      const l = (await admin.system.logs({ source: 'api', limit: 100 })).logs.filter((e) => /^model (un)?load requested: lj_test$/.test(e.message));
      return l.length >= 5 && l;
    });
    assert.deepEqual([...new Set(requested.map((e) => e.extra?.action))].sort(), ['load', 'unload']);
    assert.equal(requested.find((e) => e.extra?.workflow_id === load.request_id)?.extra?.by_key_name, 'test-admin');
  });

  it('models: who may load and where (403, unknown model, no such worker or GPU, a draining worker)', async () => {
    await assert.rejects(client.models.load('lj_test'), (e: any) => e instanceof sdk.AuthorizationError && e.status === 403);
    await assert.rejects(client.models.unload('lj_test'), sdk.AuthorizationError);
    await assert.rejects(admin.models.load('no_such_model'), sdk.ModelNotFoundError);
    await assert.rejects(admin.models.unload('no_such_model'), sdk.ModelNotFoundError);
    await assert.rejects(admin.models.load('lj_test', { gpuId: 0 }),
      (e: any) => e instanceof sdk.NotFoundError && e.code === 40407 && e.type === 'WORKER_NOT_FOUND' && e.field === 'gpu_id');
    await assert.rejects(admin.models.unload('lj_test', { workerId: 'no-such-worker' }),
      (e: any) => e instanceof sdk.NotFoundError && e.code === 40407 && e.field === 'worker_id');
    await stack.database.db.insert(workers).values({
      id: 'methods-draining', hostname: 'h', pid: 1, device: 'cpu', taskQueue: 'mofsim.none', status: 'draining', maxJobs: 1, memoryBudgetMB: 1000,
    });
    try {
      await assert.rejects(admin.models.load('lj_test', { workerId: 'methods-draining' }),
        (e: any) => e instanceof sdk.ConflictError && e.code === 40908 && e.type === 'WORKER_UNAVAILABLE' && /draining/.test(e.message));
    } finally {
      await stack.database.sql`delete from workers where id = 'methods-draining'`;
    }
    const targeted = await admin.models.load('lj_test', { workerId: 'methods-w' });
    assert.deepEqual([targeted.status, targeted.worker_ids], ['already_loaded', ['methods-w']]);
  });

  it('models: a model the worker cannot load is a WARNING, not a crash; an unload while a job uses the model is refused', { timeout: 120_000 }, async () => {
    const unavailable = (await client.models.list()).find((x) => !x.available);
    if (unavailable) {
      const before = (await client.models.loaded()).lj_test?.[0];
      const broken = await admin.models.load(unavailable.name, { workerId: 'methods-w' });
      assert.deepEqual([broken.status, broken.worker_ids], ['accepted', ['methods-w']]);
      const warning = await outcomeOf(broken.request_id!);
      assert.deepEqual([warning.level, warning.worker_id, warning.extra?.outcome, warning.extra?.error_type], ['WARNING', 'methods-w', 'failed', 'MODEL_UNAVAILABLE']);
      assert.match(warning.message, new RegExp(`^model ${unavailable.name} could not be loaded on worker methods-w: `));
      const loaded = await client.models.loaded();
      assert.equal(loaded[unavailable.name], undefined);
      assert.equal(loaded.lj_test?.[0]?.loaded_at, before?.loaded_at, 'the same engine still holds lj_test');
    }

    const long = await client.stability.submit({ model: 'lj_test', structure: { builtin: 'calf' }, opt_steps: 0, nvt_steps: 1_000_000, npt_steps: 0, checkpoint_interval: 100, trajectory_interval: 1000 });
    try {
      // A progress event means MD steps are running on the model; the heartbeat's in_use alone can be a stale
      // count from the previous test's job, taken before this one held the model.
      for await (const e of long.events()) if (e.type === 'progress') break;
      await until('the job holds lj_test', async () => ((await client.models.loaded()).lj_test ?? []).some((e) => (e.in_use ?? 0) > 0));
      const unload = await admin.models.unload('lj_test');
      assert.deepEqual([unload.status, unload.worker_ids], ['accepted', ['methods-w']]);
      const refused = await outcomeOf(unload.request_id!);
      assert.deepEqual([refused.level, refused.extra?.outcome, refused.extra?.in_use], ['WARNING', 'in_use', 1]);
      assert.match(refused.message, /^model lj_test not unloaded from worker methods-w: in use by 1 running job/);
      assert.equal((await client.tasks.get(long.id)).status, 'RUNNING');
      assert.equal((await client.models.loaded()).lj_test?.length, 1);
    } finally {
      // The worker has one job slot: a job left running would starve every later test.
      assert.equal(await long.cancel(), true);
    }
    await assert.rejects(long.wait({ timeout: 60, pollInterval: 0.3 }), sdk.TaskCancelledError);
  });

  it('system: health, config, queue, stats, gpus, archiveLogs and logArchives', async () => {
    const h = await client.system.health();
    assert.equal(h.status, 'healthy');
    assert.deepEqual(Object.entries(h.components ?? {}).map(([k, c]) => [k, c.status]).sort(), [['database', 'healthy'], ['engine', 'healthy'], ['temporal', 'healthy']]);
    assert.match(h.version, /^\d+\.\d+\.\d+/);
    assert.ok(h.uptime_seconds! > 0);

    const cfg = await client.system.config();
    assert.ok(cfg.supported_models.includes('lj_test'));
    assert.deepEqual([...cfg.task_types!].sort(), ['bulk-modulus', 'heat-capacity', 'interaction-energy', 'optimization', 'single-point-energy', 'speed', 'stability']);
    assert.deepEqual(cfg.priorities, ['CRITICAL', 'HIGH', 'NORMAL', 'LOW']);
    assert.ok(cfg.default_timeout > 0);

    const q = await client.system.queue();
    assert.equal(q.total_pending, 0);
    assert.ok(q.total_completed_today >= 8, `${q.total_completed_today} completed today`);
    assert.ok((await client.system.stats()).tasks.total! >= 10);

    // A CPU-only stack drives no GPU; a GPU worker's row (offline, so nothing is scheduled on it) is listed.
    assert.deepEqual(await client.system.gpus(), []);
    await stack.database.db.insert(workers).values({
      id: 'methods-gpu', hostname: 'gpu-box', pid: 1, device: 'cuda:0', gpuIndex: 0, taskQueue: 'mofsim.none', status: 'offline', maxJobs: 1,
      memoryBudgetMB: 1000, loadedModels: ['lj_test'], telemetry: { gpu_name: 'Test GPU', memory_total_MB: 81920, memory_used_MB: 1024, utilization_percent: 7, temperature_C: 40 },
    });
    const gpus = await client.system.gpus();
    assert.equal(gpus.length, 1);
    assert.deepEqual([gpus[0]!.worker_id, gpus[0]!.index, gpus[0]!.name, gpus[0]!.memory_total_MB, gpus[0]!.loaded_models], ['methods-gpu', 0, 'Test GPU', 81920, ['lj_test']]);

    const [old] = await stack.database.db.insert(systemLogs).values({ level: 'INFO', source: 'api', logger: 'test', message: 'sdk-methods ancient', createdAt: new Date(Date.now() - 100 * 86_400_000) }).returning();
    const oldMonth = old!.createdAt.toISOString().slice(0, 7);
    const before = await admin.system.logArchives();
    assert.equal(before.retention_days, 90);
    assert.equal(before.archives.find((a) => a.month === oldMonth)?.entries, 1);
    assert.equal(before.archives[0]!.month, new Date().toISOString().slice(0, 7), 'newest month first');
    const archived = await admin.system.archiveLogs();
    assert.deepEqual([archived.deleted, archived.retention_days, archived.errors], [1, 90, []]);
    assert.ok(Date.parse(archived.cutoff) < Date.now() - 89 * 86_400_000);
    assert.equal((await stack.database.sql`select 1 from system_logs where id = ${old!.id}`).length, 0);
    assert.equal((await admin.system.logArchives()).archives.some((a) => a.month === oldMonth), false);
    await assert.rejects(client.system.archiveLogs(), sdk.AuthorizationError);
    await assert.rejects(client.system.logArchives(), sdk.AuthorizationError);
  });

  it('alerts: listRules, getRule, enableRule/disableRule, active, history, resolve', async () => {
    const rules = await client.alerts.listRules();
    assert.ok(rules.length >= 7);
    const listed = rules.find((r) => r.id === 'gpu_unavailable')!;
    const rule = await client.alerts.getRule('gpu_unavailable');
    assert.deepEqual(rule, listed);
    assert.equal(rule.enabled, true);
    assert.equal((await admin.alerts.disableRule(rule.id)).enabled, false);
    assert.equal((await client.alerts.getRule(rule.id)).enabled, false);
    assert.equal((await admin.alerts.enableRule(rule.id)).enabled, true);
    assert.equal((await client.alerts.getRule(rule.id)).enabled, true);
    await assert.rejects(client.alerts.enableRule(rule.id), sdk.AuthorizationError);
    await assert.rejects(client.alerts.getRule('no_such_rule'), (e: any) => e instanceof sdk.NotFoundError && e.code === 40406);

    assert.deepEqual(await client.alerts.active(), []);
    // No evaluator raises alerts yet: raise them as it will, as rows.
    const [crit, warn] = await stack.database.db.insert(alerts).values([
      { ruleId: 'gpu_unavailable', level: 'CRITICAL', alertType: 'gpu', message: 'No GPU available' },
      { ruleId: 'queue_backlog', level: 'WARNING', alertType: 'queue', message: 'Queue backlog' },
    ]).returning();
    assert.deepEqual((await client.alerts.active()).map((a) => a.id).sort(), [crit!.id, warn!.id].sort());
    const critical = await client.alerts.history({ level: 'CRITICAL' });
    assert.deepEqual(critical.items.map((a) => [a.id, a.rule_id, a.message, a.resolved]), [[crit!.id, 'gpu_unavailable', 'No GPU available', false]]);

    assert.deepEqual(await admin.alerts.resolve(crit!.id, 'sdk-methods'), { message: 'alert resolved', resolved_by: 'sdk-methods' });
    assert.deepEqual((await client.alerts.active()).map((a) => a.id), [warn!.id]);
    const resolved = await client.alerts.history({ resolved: true });
    assert.deepEqual(resolved.items.map((a) => [a.id, a.resolved, a.resolved_by]), [[crit!.id, true, 'sdk-methods']]);
    assert.ok(resolved.items[0]!.resolved_at);
    assert.deepEqual((await client.alerts.history({ resolved: false })).items.map((a) => a.id), [warn!.id]);
    const paged = await client.alerts.history({ pageSize: 1 });
    assert.equal(paged.total, 2);
    const all: string[] = [];
    for await (const a of paged) all.push(a.id);
    assert.deepEqual(all.sort(), [crit!.id, warn!.id].sort());

    assert.equal((await admin.alerts.resolve(warn!.id)).resolved_by, 'test-admin', 'without a name: the admin key that resolved it');
    assert.deepEqual(await client.alerts.active(), []);
    await assert.rejects(client.alerts.resolve(warn!.id), sdk.AuthorizationError);
    await assert.rejects(admin.alerts.resolve('00000000-0000-4000-8000-000000000000'), (e: any) => e instanceof sdk.NotFoundError && e.code === 40406);
  });

  it('webhooks: deliveries and resend (one new signed delivery per idempotency key)', { timeout: 120_000 }, async () => {
    const task = await client.singlePoint.submit({ model: 'lj_test', structure: structureId, callbackUrl: hookUrl, callbackSecret: 'whsec_methods' });
    await task.wait({ timeout: 100, pollInterval: 0.3 });
    const first = await until('the completion delivery', async () => {
      const log = await client.webhooks.deliveries(task.id);
      return log.some((d) => d.ok && d.event === 'task.completed') && log;
    });
    const completed = first.find((d) => d.event === 'task.completed')!;

    const resend = await client.webhooks.resend(task.id, { idempotencyKey: 'sdk-methods-resend-1' });
    assert.deepEqual([resend.task_id, resend.event, resend.event_id, resend.url], [task.id, 'task.completed', completed.event_id, hookUrl]);
    const same = await client.webhooks.resend(task.id, { idempotencyKey: 'sdk-methods-resend-1' });
    assert.equal(same.delivery_id, resend.delivery_id, 'the same idempotency key starts no second resend');
    const got = await until('the resent request at the receiver', async () => {
      const r = received().filter((x) => x.headers['idempotency-key'] === resend.delivery_id);
      return r.length > 0 && r;
    });
    assert.equal(got[0]!.headers['x-mofsim-resend'], 'true');
    assert.match(String(got[0]!.headers['x-mofsim-signature']), /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(JSON.parse(got[0]!.body).task.task_id, task.id);
    const log = await until('the resend in the delivery log', async () => {
      const l = await client.webhooks.deliveries(task.id);
      return l.some((d) => d.idempotency_key === resend.delivery_id && d.ok) && l;
    });
    assert.equal(log.filter((d) => d.idempotency_key === resend.delivery_id).length, 1);
    await sleep(500);
    assert.equal(received().filter((x) => x.headers['idempotency-key'] === resend.delivery_id).length, 1, 'delivered once');
    await assert.rejects(client.webhooks.resend('00000000-0000-4000-8000-000000000000'), sdk.TaskNotFoundError);
  });
});
