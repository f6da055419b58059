/**
 * The HTTP surface against openapi/mofsim.yaml: every documented operation is implemented and answers with a
 * schema-valid body (ajv over the spec), nothing undocumented is routed under /api/v1; security (keys, owners,
 * roles, brute force, traversal, upload limits); and the parity features (list filters, retry, priority, batch,
 * logs, compatibility names).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { apiSpecPath } from '../server/app.js';
import { api, calfPath, startTestStack, submit, upload, type TestStack } from './helpers/stack.js';

const addFormats = addFormatsModule as unknown as (a: Ajv2020) => void;
const spec = parse(readFileSync(apiSpecPath, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, 'spec');
const ptr = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

let stack: TestStack;
let calfId: string;
before(async () => {
  stack = await startTestStack({ workers: 0, env: { MOFSIM_MAX_UPLOAD_MB: '1', MOFSIM_TRUST_PROXY: 'true', MOFSIM_AUTH_FAIL_LIMIT: '5', MOFSIM_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' } });
  calfId = (await upload(stack.baseUrl, 'calf.cif', readFileSync(calfPath))).body.data.id;
});
after(async () => { await stack?.stop(); });

const lj = (fileId: string, parameters: Record<string, unknown> = {}) => ({ model: 'lj_test', structure: { source: 'upload', file_id: fileId }, parameters });

/** Validates a response against the documented response of its status. */
function checkResponse(method: string, path: string, status: number, body: unknown, contentType: string | null) {
  const op = spec.paths[path][method];
  let resp = op.responses[String(status)] ?? op.responses.default;
  assert.ok(resp, `${method.toUpperCase()} ${path}: status ${status} is not documented (${JSON.stringify(body).slice(0, 300)})`);
  let base = `spec#/${ptr('paths', path, method, 'responses', String(status in op.responses ? status : 'default'))}`;
  if (resp.$ref) { base = `spec${resp.$ref}`; resp = spec.components.responses[resp.$ref.split('/').pop()]; }
  if (!resp.content?.['application/json'] || !contentType?.includes('application/json')) return;
  const validate = ajv.getSchema(`${base}/content/application~1json/schema`)!;
  assert.ok(validate(body), `${method.toUpperCase()} ${path} ${status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 500)}`);
}

describe('contract: every documented operation is implemented and schema-valid', () => {
  const seen = new Set<string>();
  // `stream`: a server-sent event stream that does not end; the probe checks the status and headers, then hangs up.
  interface Probe { path: string; method: string; url: () => string; init?: () => RequestInit | Promise<RequestInit>; admin?: boolean; expect?: number[]; stream?: boolean }
  const json = (body: unknown): RequestInit => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const form = (name: string, content: Buffer) => { const f = new FormData(); f.append('file', new Blob([new Uint8Array(content)]), name); return { body: f }; };
  const ctx: Record<string, string> = {};
  const zero = '00000000-0000-4000-8000-000000000000';
  const probes: Probe[] = [
    { method: 'get', path: '/health', url: () => '/health' },
    { method: 'get', path: '/api/v1/health', url: () => '/api/v1/health' },
    { method: 'get', path: '/api/v1/system/readiness', url: () => '/api/v1/system/readiness' },
    { method: 'post', path: '/api/v1/structures', url: () => '/api/v1/structures', init: () => form('calf.cif', readFileSync(calfPath)) },
    { method: 'post', path: '/api/v1/structures/upload', url: () => '/api/v1/structures/upload', init: () => form('spare.cif', readFileSync(calfPath)) },
    { method: 'get', path: '/api/v1/structures', url: () => '/api/v1/structures?page=1&page_size=5' },
    { method: 'get', path: '/api/v1/structures/builtin', url: () => '/api/v1/structures/builtin?set=essential' },
    { method: 'get', path: '/api/v1/structures/{structure_id}', url: () => `/api/v1/structures/${calfId}` },
    { method: 'get', path: '/api/v1/structures/{structure_id}/download', url: () => `/api/v1/structures/${calfId}/download` },
    { method: 'get', path: '/api/v1/structures/{structure_id}/validate', url: () => `/api/v1/structures/${calfId}/validate` },
    { method: 'get', path: '/api/v1/structures/{structure_id}/details', url: () => `/api/v1/structures/${calfId}/details` },
    ...(['optimization', 'single-point-energy', 'stability', 'bulk-modulus', 'heat-capacity', 'interaction-energy', 'single-point', 'speed'].map((t): Probe => ({
      method: 'post', path: `/api/v1/tasks/${t}`, url: () => `/api/v1/tasks/${t}`,
      init: () => ({ ...json(t === 'interaction-energy' ? lj(calfId, { guest: 'CO2' }) : lj(calfId)), method: 'POST' }), expect: [202, 422],
    }))),
    { method: 'post', path: '/api/v1/tasks', url: () => '/api/v1/tasks', init: () => json({ task_type: 'optimization', ...lj(calfId, { max_steps: 3 }) }) },
    { method: 'post', path: '/api/v1/campaigns', url: () => '/api/v1/campaigns', init: () => json({ name: 'contract', models: ['lj_test'], structures: [calfId], tasks: [{ type: 'single-point-energy' }] }) },
    { method: 'get', path: '/api/v1/campaigns', url: () => '/api/v1/campaigns?status=RUNNING' },
    { method: 'get', path: '/api/v1/campaigns/{campaign_id}', url: () => `/api/v1/campaigns/${ctx.campaign}` },
    { method: 'get', path: '/api/v1/campaigns/{campaign_id}/tasks', url: () => `/api/v1/campaigns/${ctx.campaign}/tasks` },
    { method: 'get', path: '/api/v1/campaigns/{campaign_id}/results', url: () => `/api/v1/campaigns/${ctx.campaign}/results` },
    { method: 'get', path: '/api/v1/campaigns/{campaign_id}/events', url: () => `/api/v1/campaigns/${ctx.campaign}/events?after=0` },
    { method: 'post', path: '/api/v1/campaigns/{campaign_id}/pause', url: () => `/api/v1/campaigns/${ctx.campaign}/pause` },
    // Without a worker the pause is not applied yet: resume of a campaign that is not PAUSED is a 409.
    { method: 'post', path: '/api/v1/campaigns/{campaign_id}/resume', url: () => `/api/v1/campaigns/${ctx.campaign}/resume`, expect: [409] },
    { method: 'post', path: '/api/v1/campaigns/{campaign_id}/retry', url: () => `/api/v1/campaigns/${ctx.campaign}/retry`, expect: [409] },
    { method: 'post', path: '/api/v1/campaigns/{campaign_id}/cancel', url: () => `/api/v1/campaigns/${zero}/cancel`, expect: [404] },
    { method: 'post', path: '/api/v1/tasks/batch', url: () => '/api/v1/tasks/batch?task_type=single-point-energy', init: () => json({ tasks: [lj(calfId), { ...lj(calfId), model: 'nope' }] }) },
    { method: 'get', path: '/api/v1/tasks', url: () => '/api/v1/tasks?status=QUEUED&page_size=3' },
    { method: 'get', path: '/api/v1/tasks/{task_id}', url: () => `/api/v1/tasks/${ctx.task}` },
    { method: 'get', path: '/api/v1/tasks/{task_id}/status', url: () => `/api/v1/tasks/${ctx.task}/status` },
    { method: 'get', path: '/api/v1/tasks/{task_id}/result', url: () => `/api/v1/tasks/${ctx.task}/result`, expect: [409] },
    { method: 'get', path: '/api/v1/tasks/{task_id}/events', url: () => `/api/v1/tasks/${ctx.task}/events` },
    { method: 'get', path: '/api/v1/tasks/{task_id}/logs', url: () => `/api/v1/tasks/${ctx.task}/logs?level=INFO&limit=10` },
    { method: 'get', path: '/api/v1/tasks/{task_id}/logs/stream', url: () => `/api/v1/tasks/${ctx.task}/logs/stream?history_limit=5`, stream: true },
    { method: 'get', path: '/api/v1/tasks/{task_id}/files/{filename}', url: () => `/api/v1/tasks/${ctx.task}/files/final.cif`, expect: [404] },
    { method: 'put', path: '/api/v1/tasks/{task_id}/priority', url: () => `/api/v1/tasks/${ctx.task}/priority`, init: () => json({ priority: 'CRITICAL' }) },
    { method: 'post', path: '/api/v1/tasks/{task_id}/pause', url: () => `/api/v1/tasks/${ctx.task}/pause`, expect: [202] },
    // The pause lands asynchronously (a workflow signal): the task may not be PAUSED yet.
    { method: 'post', path: '/api/v1/tasks/{task_id}/resume', url: () => `/api/v1/tasks/${ctx.task}/resume`, expect: [202, 409] },
    { method: 'get', path: '/api/v1/tasks/{task_id}/queue', url: () => `/api/v1/tasks/${ctx.task}/queue` },
    { method: 'get', path: '/api/v1/tasks/{task_id}/webhooks', url: () => `/api/v1/tasks/${ctx.task}/webhooks` },
    // A cancelled task with a callback has a final event to resend (no worker runs here: the delivery just waits).
    { method: 'post', path: '/api/v1/tasks/{task_id}/webhooks/resend', url: () => `/api/v1/tasks/${ctx.hooked}/webhooks/resend`, expect: [202],
      init: async () => {
        const t = await submit(stack.baseUrl, 'single-point-energy', { ...lj(calfId), options: { callback: { url: 'http://127.0.0.1:9/hook' } } });
        ctx.hooked = t.body.data.task_id;
        assert.equal((await api(stack.baseUrl, `/api/v1/tasks/${ctx.hooked}/cancel`, { method: 'POST' })).status, 202);
        return {};
      } },
    { method: 'get', path: '/api/v1/system/workers', url: () => '/api/v1/system/workers' },
    { method: 'post', path: '/api/v1/system/workers/{worker_id}/drain', url: () => '/api/v1/system/workers/no-such-worker/drain', admin: true, expect: [404] },
    { method: 'get', path: '/api/v1/system/gpus', url: () => '/api/v1/system/gpus' },
    { method: 'get', path: '/api/v1/usage', url: () => '/api/v1/usage?group_by=task' },
    { method: 'get', path: '/api/v1/leaderboard', url: () => '/api/v1/leaderboard?protocol=optimization' },
    { method: 'get', path: '/api/v1/tasks/{task_id}/plots/{plot}', url: () => `/api/v1/tasks/${ctx.task}/plots/eos.svg`, expect: [409] },
    { method: 'get', path: '/api/v1/campaigns/{campaign_id}/plots/{plot}', url: () => `/api/v1/campaigns/${zero}/plots/volume-change.svg`, expect: [404] },
    { method: 'post', path: '/api/v1/tasks/{task_id}/retry', url: () => `/api/v1/tasks/${ctx.task}/retry` },
    { method: 'post', path: '/api/v1/tasks/{task_id}/cancel', url: () => `/api/v1/tasks/${ctx.task}/cancel` },
    { method: 'get', path: '/api/v1/models', url: () => '/api/v1/models?family=sevennet' },
    { method: 'get', path: '/api/v1/models/summary', url: () => '/api/v1/models/summary' },
    { method: 'get', path: '/api/v1/models/families', url: () => '/api/v1/models/families' },
    { method: 'get', path: '/api/v1/models/loaded/list', url: () => '/api/v1/models/loaded/list' },
    { method: 'get', path: '/api/v1/models/{model_name}', url: () => '/api/v1/models/lj_test' },
    // No worker runs here: a load has nowhere to go, an unload nothing to do (the 202 path: sdk-methods.test.ts).
    { method: 'post', path: '/api/v1/models/{model_name}/load', url: () => '/api/v1/models/lj_test/load?gpu_id=0', admin: true, expect: [404] },
    { method: 'post', path: '/api/v1/models/{model_name}/load', url: () => '/api/v1/models/lj_test/load', admin: true, expect: [409] },
    { method: 'post', path: '/api/v1/models/{model_name}/unload', url: () => '/api/v1/models/lj_test/unload?worker_id=nobody', admin: true, expect: [404] },
    { method: 'post', path: '/api/v1/models/{model_name}/unload', url: () => '/api/v1/models/lj_test/unload', admin: true, expect: [200] },
    { method: 'get', path: '/api/v1/system/queue', url: () => '/api/v1/system/queue' },
    { method: 'get', path: '/api/v1/system/stats', url: () => '/api/v1/system/stats' },
    { method: 'get', path: '/api/v1/system/config', url: () => '/api/v1/system/config' },
    // System logs (admin); earlier probes (model load) have written entries by now.
    { method: 'get', path: '/api/v1/system/logs', url: () => '/api/v1/system/logs?level=INFO&limit=5&source=api', admin: true },
    { method: 'get', path: '/api/v1/system/logs/stream', url: () => '/api/v1/system/logs/stream?after_id=0&level=WARNING', admin: true, stream: true },
    { method: 'get', path: '/api/v1/system/logs/stats', url: () => '/api/v1/system/logs/stats', admin: true },
    { method: 'post', path: '/api/v1/system/logs/archive', url: () => '/api/v1/system/logs/archive', admin: true },
    { method: 'get', path: '/api/v1/system/logs/archives', url: () => '/api/v1/system/logs/archives', admin: true },
    { method: 'get', path: '/api/v1/alerts/rules', url: () => '/api/v1/alerts/rules' },
    { method: 'post', path: '/api/v1/alerts/rules', url: () => '/api/v1/alerts/rules', admin: true, init: () => json({ id: 'contract_rule', name: 'Contract rule', condition: { metric: 'queue_length', operator: '>', threshold: 5 } }) },
    { method: 'get', path: '/api/v1/alerts/rules/{rule_id}', url: () => '/api/v1/alerts/rules/queue_backlog' },
    { method: 'put', path: '/api/v1/alerts/rules/{rule_id}', url: () => '/api/v1/alerts/rules/contract_rule', admin: true, init: () => json({ level: 'CRITICAL' }) },
    { method: 'put', path: '/api/v1/alerts/rules/{rule_id}/disable', url: () => '/api/v1/alerts/rules/contract_rule/disable', admin: true },
    { method: 'put', path: '/api/v1/alerts/rules/{rule_id}/enable', url: () => '/api/v1/alerts/rules/contract_rule/enable', admin: true },
    { method: 'delete', path: '/api/v1/alerts/rules/{rule_id}', url: () => '/api/v1/alerts/rules/contract_rule', admin: true },
    { method: 'get', path: '/api/v1/alerts/history', url: () => '/api/v1/alerts/history?resolved=false' },
    { method: 'get', path: '/api/v1/alerts/active', url: () => '/api/v1/alerts/active' },
    { method: 'get', path: '/api/v1/alerts/stats', url: () => '/api/v1/alerts/stats' },
    { method: 'post', path: '/api/v1/alerts/{alert_id}/resolve', url: () => `/api/v1/alerts/${zero}/resolve`, admin: true, expect: [404] },
    { method: 'get', path: '/api/v1/keys/me', url: () => '/api/v1/keys/me' },
    { method: 'post', path: '/api/v1/keys', url: () => '/api/v1/keys', admin: true, init: () => json({ name: 'contract', role: 'user' }) },
    { method: 'get', path: '/api/v1/keys', url: () => '/api/v1/keys', admin: true },
    { method: 'delete', path: '/api/v1/keys/{key_id}', url: () => `/api/v1/keys/${ctx.key}`, admin: true },
    { method: 'delete', path: '/api/v1/structures/{structure_id}', url: () => `/api/v1/structures/${ctx.spare}` },
  ];

  it('has a probe for every operation in the spec', () => {
    const documented = Object.entries(spec.paths).flatMap(([p, item]) => Object.keys(item as object).map((m) => `${m.toUpperCase()} ${p}`));
    const probed = new Set(probes.map((p) => `${p.method.toUpperCase()} ${p.path}`));
    assert.deepEqual(documented.filter((d) => !probed.has(d)), []);
  });

  for (const p of probes) {
    it(`${p.method.toUpperCase()} ${p.path}`, async () => {
      if (p.stream) {
        const res = await fetch(stack.baseUrl + p.url(), { headers: { authorization: `Bearer ${stack.adminKey}`, accept: 'text/event-stream' } });
        seen.add(`${p.method} ${p.path}`);
        await res.body?.cancel();
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
        checkResponse(p.method, p.path, res.status, '', res.headers.get('content-type'));
        return;
      }
      const init = { ...(await p.init?.()), method: p.method.toUpperCase() };
      const res = await api(stack.baseUrl, p.url(), init, p.admin ? { key: stack.adminKey } : {});
      seen.add(`${p.method} ${p.path}`);
      assert.ok(!(res.status === 404 && String(res.body?.message ?? '').startsWith('no route')), `not implemented: ${JSON.stringify(res.body)}`);
      const ok = p.expect ?? [200, 201, 202];
      assert.ok(ok.includes(res.status), `status ${res.status}: ${JSON.stringify(res.body).slice(0, 400)}`);
      checkResponse(p.method, p.path, res.status, res.body, res.headers.get('content-type'));
      if (p.path === '/api/v1/tasks') ctx.task ??= res.body.data?.task_id;
      if (p.path === '/api/v1/campaigns' && p.method === 'post') ctx.campaign = res.body.data.campaign_id;
      if (p.path === '/api/v1/structures/upload') ctx.spare = res.body.data.id;
      if (p.path === '/api/v1/keys' && p.method === 'post') ctx.key = res.body.data.id;
    });
  }

  it('serves nothing under /api/v1 that the spec does not document', () => {
    const documented = Object.entries(spec.paths).flatMap(([p, item]) =>
      Object.keys(item as object).map((m) => ({ m: m.toUpperCase(), re: new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`) })));
    const prefixes = [...new Set(Object.keys(spec.paths).map((p) => p.split('/').slice(0, 4).join('/')))];
    const routes: string[] = [];
    for (const layer of (stack.app as any).router.stack) {
      const sub = layer.handle?.stack;
      if (layer.route) for (const m of Object.keys(layer.route.methods)) routes.push(`${m.toUpperCase()} ${layer.route.path}`);
      if (!sub) continue;
      // The mount path is what the layer's matcher consumes of a documented prefix (a router at /api/v1 matches
      // /api/v1/health too, but consumes only /api/v1).
      const hit = prefixes.map((pre) => layer.matchers?.[0]?.(pre)).find(Boolean) as { path: string } | undefined;
      const prefix = hit?.path ?? '';
      for (const l of sub) if (l.route) for (const m of Object.keys(l.route.methods)) routes.push(`${m.toUpperCase()} ${prefix}${l.route.path === '/' ? '' : l.route.path}`);
    }
    const api = routes.filter((r) => r.split(' ')[1]!.startsWith('/api/v1'));
    assert.ok(api.length > 30, `found ${api.length} routes`);
    const sample = (path: string) => path.replace(/:[A-Za-z_]+/g, 'x');
    const undocumented = api.filter((r) => { const [m, path] = r.split(' '); return !documented.some((d) => d.m === m && d.re.test(sample(path!))); });
    assert.deepEqual(undocumented, []);
  });

  it('answers an undocumented path with the 404 envelope', async () => {
    const res = await api(stack.baseUrl, '/api/v1/secret-admin-panel');
    assert.equal(res.status, 404);
    assert.equal(res.body.success, false);
  });
});

describe('security', () => {
  it('answers 401 without a key, with a wrong key, and with a malformed Authorization header', async () => {
    const variants: Record<string, string>[] = [{}, { authorization: 'Bearer msk_deadbeef_nope' }, { 'x-api-key': 'wrong-key-123456' }, { authorization: 'Basic abc' }];
    for (const headers of variants) {
      const res = await api(stack.baseUrl, '/api/v1/tasks', { headers }, { key: null });
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.equal(res.body.success, false);
      assert.ok([40101, 40103].includes(res.body.code));
    }
  });

  it('accepts the key in X-API-Key as well as Authorization: Bearer', async () => {
    const res = await api(stack.baseUrl, '/api/v1/keys/me', { headers: { 'x-api-key': stack.userKey } }, { key: null });
    assert.equal(res.status, 200);
    assert.equal(res.body.data.role, 'user');
  });

  it("hides another user's tasks and structures (404), while admin sees them", async () => {
    const other = (await api(stack.baseUrl, '/api/v1/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'other' }) }, { key: stack.adminKey })).body.data.key;
    const mine = await submit(stack.baseUrl, 'single-point-energy', lj(calfId));
    assert.equal(mine.status, 202);
    const id = mine.body.data.task_id;
    const theirs = { key: other };
    assert.equal((await api(stack.baseUrl, `/api/v1/tasks/${id}`, {}, theirs)).status, 404);
    assert.equal((await api(stack.baseUrl, `/api/v1/tasks/${id}/cancel`, { method: 'POST' }, theirs)).status, 404);
    assert.equal((await api(stack.baseUrl, `/api/v1/structures/${calfId}`, {}, theirs)).status, 404);
    const list = await api(stack.baseUrl, '/api/v1/tasks', {}, theirs);
    assert.equal(list.body.data.pagination.total_items, 0);
    const sub = await submit(stack.baseUrl, 'single-point-energy', lj(calfId), {}, theirs);
    assert.equal(sub.status, 404, 'cannot run a task on somebody else\'s structure');
    assert.equal(sub.body.error.field, 'structure.file_id');
    assert.equal((await api(stack.baseUrl, `/api/v1/tasks/${id}`, {}, { key: stack.adminKey })).status, 200);
  });

  it('answers 403 to a user key on admin routes', async () => {
    for (const [method, path] of [['POST', '/api/v1/keys'], ['GET', '/api/v1/keys'], ['POST', '/api/v1/models/lj_test/load'], ['DELETE', '/api/v1/alerts/rules/queue_backlog']]) {
      const res = await api(stack.baseUrl, path!, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{"name":"x"}' : undefined });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(res.body.code, 40301);
    }
  });

  it('rate-limits failed authentications per client address (429 with Retry-After), not other clients', async () => {
    const attacker = { 'x-forwarded-for': '203.0.113.7' };
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) codes.push((await api(stack.baseUrl, '/api/v1/tasks', { headers: { ...attacker, authorization: `Bearer guess-${i}-aaaaaaaa` } }, { key: null })).status);
    assert.deepEqual(codes.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.deepEqual(codes.slice(5), [429, 429, 429]);
    const blocked = await api(stack.baseUrl, '/api/v1/tasks', { headers: { ...attacker, authorization: `Bearer ${stack.userKey}` } }, { key: null });
    assert.equal(blocked.status, 429, 'even a right key is refused while the address is blocked');
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    assert.equal((await api(stack.baseUrl, '/api/v1/tasks')).status, 200, 'other addresses are unaffected');
  });

  it('enforces a per-key request rate (429 with Retry-After)', async () => {
    const slow = (await api(stack.baseUrl, '/api/v1/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'slow', rate_limit_per_minute: 3 }) }, { key: stack.adminKey })).body.data.key;
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await api(stack.baseUrl, '/api/v1/keys/me', {}, { key: slow })).status);
    assert.deepEqual(codes, [200, 200, 200, 429]);
  });

  it('enforces the max-concurrent-tasks quota', async () => {
    const q = (await api(stack.baseUrl, '/api/v1/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'quota', max_concurrent_tasks: 1 }) }, { key: stack.adminKey })).body.data.key;
    const s = (await upload(stack.baseUrl, 'calf.cif', readFileSync(calfPath), { key: q })).body.data.id;
    assert.equal((await submit(stack.baseUrl, 'single-point-energy', lj(s), {}, { key: q })).status, 202);
    const second = await submit(stack.baseUrl, 'single-point-energy', lj(s), {}, { key: q });
    assert.equal(second.status, 429);
    assert.equal(second.body.code, 42902);
  });

  it('revoked keys stop working', async () => {
    const created = (await api(stack.baseUrl, '/api/v1/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'temp' }) }, { key: stack.adminKey })).body.data;
    assert.equal((await api(stack.baseUrl, '/api/v1/keys/me', {}, { key: created.key })).status, 200);
    await api(stack.baseUrl, `/api/v1/keys/${created.id}`, { method: 'DELETE' }, { key: stack.adminKey });
    assert.equal((await api(stack.baseUrl, '/api/v1/keys/me', {}, { key: created.key })).status, 401);
    const listed = await api(stack.baseUrl, '/api/v1/keys', {}, { key: stack.adminKey });
    assert.ok(!JSON.stringify(listed.body).includes(created.key), 'listings never contain key material');
  });

  it('keeps path traversal in file names and ids harmless', async () => {
    const up = await upload(stack.baseUrl, '../../../../tmp/evil.cif', readFileSync(calfPath));
    assert.equal(up.status, 200);
    assert.equal(up.body.data.name, 'evil');
    for (const path of [`/api/v1/tasks/..%2F..%2Fetc%2Fpasswd`, `/api/v1/structures/..%2F..%2Fetc%2Fpasswd/download`,
      `/api/v1/tasks/${calfId}/files/..%2F..%2F..%2Fetc%2Fpasswd`, '/api/v1/tasks/../../etc/passwd']) {
      const res = await api(stack.baseUrl, path);
      assert.ok([400, 404].includes(res.status), `${path} → ${res.status}`);
      assert.ok(!String(typeof res.body === 'string' ? res.body : JSON.stringify(res.body)).includes('root:'), path);
    }
  });

  it('holds the upload size and type limits', async () => {
    assert.equal((await upload(stack.baseUrl, 'big.cif', Buffer.alloc(1.5 * 1024 * 1024, 'a'))).status, 413);
    const exe = await upload(stack.baseUrl, 'run.sh', '#!/bin/sh\nrm -rf /\n');
    assert.equal(exe.status, 400);
    assert.equal(exe.body.error.type, 'UNSUPPORTED_FORMAT');
  });
});

describe('parity features', () => {
  it('lists tasks with filters and the {items, pagination} shape', async () => {
    const a = await submit(stack.baseUrl, 'optimization', lj(calfId, { max_steps: 2 }));
    assert.equal(a.status, 202);
    const res = await api(stack.baseUrl, `/api/v1/tasks?task_type=optimization&model=lj_test&page_size=1&created_after=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.data.items.length, 1);
    assert.ok(res.body.data.pagination.total_items >= 1);
    assert.equal(res.body.data.items[0].task_type, 'optimization');
    const none = await api(stack.baseUrl, `/api/v1/tasks?created_before=2000-01-01T00:00:00Z`);
    assert.equal(none.status, 200, JSON.stringify(none.body));
    assert.equal(none.body.data.pagination.total_items, 0);
    assert.equal(none.body.data.pagination.total_pages, 1);
  });

  it('retries a task as a new task and changes the priority of a waiting one, not of a finished one', async () => {
    const t = (await submit(stack.baseUrl, 'single-point-energy', lj(calfId))).body.data;
    const r = await api(stack.baseUrl, `/api/v1/tasks/${t.task_id}/retry`, { method: 'POST' });
    assert.equal(r.status, 202);
    assert.equal(r.body.data.original_task_id, t.task_id);
    assert.notEqual(r.body.data.new_task_id, t.task_id);
    const p = await api(stack.baseUrl, `/api/v1/tasks/${r.body.data.new_task_id}/priority`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"priority":"LOW"}' });
    assert.equal(p.body.data.priority, 'LOW');
    await api(stack.baseUrl, `/api/v1/tasks/${t.task_id}/cancel`, { method: 'POST' });
    const late = await api(stack.baseUrl, `/api/v1/tasks/${t.task_id}/priority`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"priority":"LOW"}' });
    assert.equal(late.status, 409);
    const again = await api(stack.baseUrl, `/api/v1/tasks/${t.task_id}/cancel`, { method: 'POST' });
    assert.equal(again.status, 409);
    const logs = await api(stack.baseUrl, `/api/v1/tasks/${t.task_id}/logs?level=WARNING`);
    assert.deepEqual(logs.body.data.logs.map((l: { level: string }) => l.level), ['WARNING']);
  });

  it('maps the reference Python SDK names onto the canonical ones', async () => {
    const sp = await api(stack.baseUrl, '/api/v1/tasks/single-point', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...lj(calfId, { calculate_forces: true, calculate_stress: false }), options: { priority: 'HIGH', callback_url: 'http://127.0.0.1:9/hook' } }),
    });
    assert.equal(sp.status, 202, JSON.stringify(sp.body));
    assert.deepEqual(sp.body.data.parameters, { compute_forces: true, compute_stress: false });
    assert.equal(sp.body.data.priority, 'HIGH');
    const st = await submit(stack.baseUrl, 'stability', lj(calfId, { temperature: 350, pressure: 1.0, steps: 10, timestep: 1.0 }));
    assert.equal(st.status, 202, JSON.stringify(st.body));
    assert.deepEqual(st.body.data.parameters, { variant: 'ambient', temperature_K: 350, pressure_bar: 1.0, npt_steps: 10, timestep_fs: 1.0 });
    const bm = await submit(stack.baseUrl, 'bulk-modulus', lj(calfId, { strain_range: 0.05, n_points: 7 }));
    assert.deepEqual(bm.body.data.parameters, { eps: 0.05, npoints: 7 });
    const opt = await submit(stack.baseUrl, 'optimization', lj(calfId, { steps: 7 }));
    assert.equal(opt.body.data.parameters.max_steps, 7);
    assert.equal(opt.body.data.parameters.steps, undefined);
  });

  it('refuses to delete a structure a task uses (409) and lists the built-in suite with attribution', async () => {
    const del = await api(stack.baseUrl, `/api/v1/structures/${calfId}`, { method: 'DELETE' });
    assert.equal(del.status, 409);
    assert.equal(del.body.error.type, 'STRUCTURE_IN_USE');
    const b = await api(stack.baseUrl, '/api/v1/structures/builtin');
    assert.equal(b.body.data.sets.main_set, 100);
    assert.equal(b.body.data.sets.essential, 4);
    assert.match(b.body.data.attribution.license, /MIT/);
    assert.ok(b.body.data.items.some((i: { name: string }) => i.name === 'calf'));
  });

  it('validates per-type parameters on the generic and batch routes', async () => {
    const bad = await api(stack.baseUrl, '/api/v1/tasks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task_type: 'optimization', ...lj(calfId, { fmax: -1 }) }) });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'parameters.fmax');
    const batch = await api(stack.baseUrl, '/api/v1/tasks/batch?task_type=optimization', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tasks: [lj(calfId, { max_steps: 2 }), lj(calfId, { bogus: 1 })] }) });
    assert.equal(batch.status, 202);
    assert.equal(batch.body.data.submitted, 1);
    assert.equal(batch.body.data.failed, 1);
    assert.equal(batch.body.data.errors[0].index, 1);
  });
});

describe('security of the parity routes (validate, details, loaded models, alert stats, webhook resend)', () => {
  const paths = () => [
    ['GET', `/api/v1/structures/${calfId}/validate`], ['GET', `/api/v1/structures/${calfId}/details`], ['GET', '/api/v1/models/loaded/list'],
    ['GET', '/api/v1/alerts/stats'], ['GET', `/api/v1/tasks/${calfId}/webhooks`], ['POST', `/api/v1/tasks/${calfId}/webhooks/resend`],
  ];

  it('answers 401 without a key', async () => {
    for (const [method, path] of paths()) {
      const res = await api(stack.baseUrl, path!, { method }, { key: null });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.body.code, 40101);
    }
  });

  it("answers another user's structure exactly like an unknown one, and hides its details and webhooks (404)", async () => {
    const other = (await api(stack.baseUrl, '/api/v1/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'parity-other' }) }, { key: stack.adminKey })).body.data.key;
    const theirs = { key: other };
    const zero = '00000000-0000-4000-8000-000000000000';
    const foreign = await api(stack.baseUrl, `/api/v1/structures/${calfId}/validate`, {}, theirs);
    const unknown = await api(stack.baseUrl, `/api/v1/structures/${zero}/validate`, {}, theirs);
    assert.equal(foreign.status, 200);
    const verdict = (b: any) => ({ is_valid: b.data.is_valid, errors: b.data.errors, error_types: b.data.error_types, warnings: b.data.warnings });
    assert.deepEqual(verdict(foreign.body), { is_valid: false, errors: ['Structure not found'], error_types: ['STRUCTURE_NOT_FOUND'], warnings: [] });
    assert.deepEqual(verdict(unknown.body), verdict(foreign.body));
    assert.equal((await api(stack.baseUrl, `/api/v1/structures/${calfId}/validate`)).body.data.is_valid, true, 'the owner sees it valid');
    const details = await api(stack.baseUrl, `/api/v1/structures/${calfId}/details`, {}, theirs);
    assert.equal(details.status, 404);
    assert.equal(details.body.code, 40403);
    assert.equal((await api(stack.baseUrl, `/api/v1/structures/${zero}/details`)).status, 404);
    const t = await submit(stack.baseUrl, 'single-point-energy', { ...lj(calfId), options: { callback: { url: 'http://127.0.0.1:9/hook' } } });
    await api(stack.baseUrl, `/api/v1/tasks/${t.body.data.task_id}/cancel`, { method: 'POST' });
    for (const [method, path] of [['GET', 'webhooks'], ['POST', 'webhooks/resend']]) {
      const res = await api(stack.baseUrl, `/api/v1/tasks/${t.body.data.task_id}/${path}`, { method }, theirs);
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.body.code, 40402);
    }
    const asAdmin = await api(stack.baseUrl, `/api/v1/tasks/${t.body.data.task_id}/webhooks/resend`, { method: 'POST' }, { key: stack.adminKey });
    assert.equal(asAdmin.status, 202, 'an admin may resend any task\'s webhook');
    assert.match(asAdmin.body.data.delivery_id, new RegExp(`^${t.body.data.task_id}:\\d+:resend-[0-9a-f]{16}$`));
  });

  it('keeps path traversal in structure ids and built-in names harmless', async () => {
    for (const path of ['/api/v1/structures/..%2F..%2Fetc%2Fpasswd/validate', '/api/v1/structures/..%2F..%2Fetc%2Fpasswd/details',
      '/api/v1/structures/%2Fetc%2Fpasswd/details', '/api/v1/structures/..%5C..%5Cetc/details', '/api/v1/tasks/..%2F..%2Fetc/webhooks/resend']) {
      const res = await api(stack.baseUrl, path, { method: path.endsWith('resend') ? 'POST' : 'GET' });
      assert.ok([400, 404].includes(res.status), `${path} → ${res.status}`);
      assert.ok(!JSON.stringify(res.body).includes('root:'), path);
    }
    // A name that passes the pattern but is no shipped file: not found, never a file outside the built-in sets.
    for (const name of ['PROVENANCE', 'LICENSE', 'structures']) {
      assert.equal((await api(stack.baseUrl, `/api/v1/structures/${name}/details`)).status, 404, name);
    }
    const outside = await submit(stack.baseUrl, 'single-point-energy', { model: 'lj_test', structure: { source: 'builtin', name: '../PROVENANCE' } });
    assert.equal(outside.status, 404, 'a built-in set named .. reaches no file beside the sets');
  });

  it('refuses a resend with a clear 409 when the task has no callback or has not finished', async () => {
    const plain = (await submit(stack.baseUrl, 'single-point-energy', lj(calfId))).body.data.task_id;
    const waiting = await api(stack.baseUrl, `/api/v1/tasks/${plain}/webhooks/resend`, { method: 'POST' });
    assert.equal(waiting.status, 409);
    assert.equal(waiting.body.code, 40902);
    assert.equal(waiting.body.error.type, 'INVALID_TASK_STATE');
    await api(stack.baseUrl, `/api/v1/tasks/${plain}/cancel`, { method: 'POST' });
    const none = await api(stack.baseUrl, `/api/v1/tasks/${plain}/webhooks/resend`, { method: 'POST' });
    assert.equal(none.status, 409);
    assert.equal(none.body.code, 40907);
    assert.equal(none.body.error.type, 'NO_CALLBACK');
    checkResponse('post', '/api/v1/tasks/{task_id}/webhooks/resend', none.status, none.body, none.headers.get('content-type'));
  });
});
