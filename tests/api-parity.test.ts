/**
 * The reference service's routes this API lacked, on a real stack with one CPU worker:
 * structure details and re-validation against the stored file, where models are loaded (from the workers'
 * heartbeats), alert counts, and resending a finished task's webhook as a second signed delivery.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { alerts, structures } from '../store/schema.js';
import { api, calfPath, startTestStack, submit, upload, waitForTask, type TestStack } from './helpers/stack.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';
import { until } from './helpers/until.js';

let stack: TestStack;
before(async () => {
  stack = await startTestStack({ workers: 1, env: { MOFSIM_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', MOFSIM_WEBHOOK_RETRY_INITIAL_S: '0.2' } });
});
after(async () => { await stack?.stop(); });

const calfCif = readFileSync(calfPath, 'utf8');
const lj = (fileId: string, extra: Record<string, unknown> = {}) => ({ model: 'lj_test', structure: { source: 'upload', file_id: fileId }, ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** The cell volume and atom count a CIF states (P1 files: every atom_site row is one atom). */
function cifFacts(cif: string) {
  const num = (tag: string) => Number(new RegExp(`^${tag}\\s+([-\\d.]+)`, 'm').exec(cif)![1]);
  const [a, b, c] = ['_cell_length_a', '_cell_length_b', '_cell_length_c'].map(num) as [number, number, number];
  const [al, be, ga] = ['_cell_angle_alpha', '_cell_angle_beta', '_cell_angle_gamma'].map((t) => (num(t) * Math.PI) / 180) as [number, number, number];
  const volume = a * b * c * Math.sqrt(1 - Math.cos(al) ** 2 - Math.cos(be) ** 2 - Math.cos(ga) ** 2 + 2 * Math.cos(al) * Math.cos(be) * Math.cos(ga));
  const lines = cif.split('\n');
  const last = lines.length - 1 - [...lines].reverse().findIndex((l) => l.trim().startsWith('_atom_site_'));
  const rows: string[] = [];
  for (const l of lines.slice(last + 1)) {
    if (!l.trim() || l.trim() === 'loop_' || l.trim().startsWith('_')) break;
    rows.push(l);
  }
  const elements = [...new Set(rows.map((r) => r.trim().split(/\s+/).at(-1)!))].sort();
  return { a, b, c, volume, atoms: rows.length, elements };
}

/** A copy of calf.cif with its own checksum (so tampering with its stored file touches no other record). */
const uniqueCalf = () => `${calfCif}\n# parity test ${randomBytes(6).toString('hex')}\n`;
const storedPath = async (id: string) => (await stack.database.db.select().from(structures).where(eq(structures.id, id)))[0]!.filePath;

describe('structure details', () => {
  it('describes a built-in by name with the numbers its CIF states', async () => {
    const facts = cifFacts(calfCif);
    assert.equal(facts.atoms, 44);
    const res = await api(stack.baseUrl, '/api/v1/structures/calf/details');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const d = res.body.data;
    assert.equal(d.source, 'builtin');
    assert.equal(d.name, 'calf');
    assert.equal(d.format, 'cif');
    assert.equal(d.n_atoms, facts.atoms);
    assert.ok(Math.abs(d.volume_A3 - facts.volume) < 1e-3 * facts.volume, `${d.volume_A3} vs ${facts.volume} Å³ from the cell parameters`);
    assert.ok(Math.abs(d.cell.a - facts.a) < 1e-4 && Math.abs(d.cell.b - facts.b) < 1e-4 && Math.abs(d.cell.c - facts.c) < 1e-4);
    assert.ok(Math.abs(d.cell.beta - 115.895) < 1e-3);
    assert.deepEqual([...d.elements].sort(), facts.elements);
    assert.equal(d.file_size, Buffer.byteLength(calfCif));
    assert.equal(d.is_valid, true);
    assert.deepEqual(d.validation_errors, []);
    assert.ok(Math.abs(Date.parse(d.uploaded_at) - Date.now()) < 10 * 60_000, 'uploaded_at is an ISO time');
    // The built-in now has an id: the same details by id.
    assert.equal((await api(stack.baseUrl, `/api/v1/structures/${d.id}/details`)).body.data.n_atoms, facts.atoms);
  });

  it('describes an upload like its metadata, with source upload', async () => {
    const up = (await upload(stack.baseUrl, 'mine.cif', uniqueCalf())).body.data;
    const d = (await api(stack.baseUrl, `/api/v1/structures/${up.id}/details`)).body.data;
    assert.equal(d.id, up.id);
    assert.equal(d.source, 'upload');
    assert.equal(d.formula, up.formula);
    assert.equal(d.n_atoms, 44);
    assert.equal(d.volume_A3, up.volume_A3);
    assert.equal(d.file_size, up.file_size);
    assert.equal(d.checksum, up.checksum);
    assert.equal(d.uploaded_at, up.created_at);
  });
});

describe('structure validation', () => {
  it('says a stored file is valid, and says why once it was replaced by a broken one', async () => {
    const up = (await upload(stack.baseUrl, 'tamper.cif', uniqueCalf())).body.data;
    const ok = await api(stack.baseUrl, `/api/v1/structures/${up.id}/validate`);
    assert.deepEqual(ok.body.data, { structure_id: up.id, is_valid: true, errors: [], error_types: [], warnings: up.warnings });

    // A second Zn 0.18 Å from Zn1 (an identical site would be merged by the CIF reader): the parser refuses
    // overlapping atoms, as it would at upload.
    const zn1 = calfCif.split('\n').find((l) => l.trim().startsWith('Zn1 '))!;
    writeFileSync(await storedPath(up.id), calfCif.replace(zn1, `${zn1}\n${zn1.replace('Zn1 ', 'Zn9 ').replace('0.82412', '0.84412')}`));
    const bad = (await api(stack.baseUrl, `/api/v1/structures/${up.id}/validate`)).body.data;
    assert.equal(bad.is_valid, false);
    assert.deepEqual(bad.error_types, ['CHECKSUM_MISMATCH', 'OVERLAPPING_ATOMS']);
    assert.match(bad.errors[1], /apart/);
    // Details check the file without parsing it: they see the changed checksum.
    const d = (await api(stack.baseUrl, `/api/v1/structures/${up.id}/details`)).body.data;
    assert.equal(d.is_valid, false);
    assert.equal(d.validation_errors.length, 1);
    assert.match(d.validation_errors[0], /SHA-256/);

    rmSync(await storedPath(up.id));
    const gone = (await api(stack.baseUrl, `/api/v1/structures/${up.id}/validate`)).body.data;
    assert.deepEqual([gone.is_valid, gone.error_types], [false, ['FILE_MISSING']]);
  });

  it('names an unknown element in the stored file', async () => {
    const up = (await upload(stack.baseUrl, 'element.cif', uniqueCalf())).body.data;
    const h1 = calfCif.split('\n').find((l) => l.trim().startsWith('H1 '))!;
    writeFileSync(await storedPath(up.id), calfCif.replace(h1, h1.replace(/H\s*$/, 'Qq')));
    const bad = (await api(stack.baseUrl, `/api/v1/structures/${up.id}/validate`)).body.data;
    assert.equal(bad.is_valid, false);
    assert.ok(bad.error_types.includes('UNKNOWN_ELEMENT') || bad.error_types.includes('PARSE_ERROR'), JSON.stringify(bad));
    assert.ok(bad.errors.some((e: string) => /Qq/.test(e)), JSON.stringify(bad.errors));
  });

  it('answers an unknown id as "Structure not found" (200), as the reference service does', async () => {
    const res = await api(stack.baseUrl, '/api/v1/structures/00000000-0000-4000-8000-000000000001/validate');
    assert.equal(res.status, 200);
    assert.equal(res.body.data.is_valid, false);
    assert.deepEqual(res.body.data.errors, ['Structure not found']);
  });
});

describe('loaded models', () => {
  it('lists the model a task ran on, with the worker, times and a use count that grows', async () => {
    const s = (await upload(stack.baseUrl, 'calf.cif', calfCif)).body.data.id;
    const run = async () => {
      const t = await submit(stack.baseUrl, 'single-point-energy', lj(s));
      assert.equal((await waitForTask(stack.baseUrl, t.body.data.task_id)).status, 'COMPLETED');
    };
    await run();
    const first = await until('lj_test in /models/loaded/list', async () => {
      const entries = (await api(stack.baseUrl, '/api/v1/models/loaded/list')).body.data.lj_test;
      return entries?.length ? entries : undefined;
    });
    assert.equal(first.length, 1);
    const e = first[0];
    assert.equal(e.worker_id, stack.workers[0]!.id);
    assert.equal(e.gpu_id, null, 'a CPU worker has no GPU index');
    assert.ok(e.use_count >= 1);
    assert.ok(Date.parse(e.loaded_at) <= Date.parse(e.last_used));
    assert.ok(Date.now() - Date.parse(e.loaded_at) < 10 * 60_000);
    const model = (await api(stack.baseUrl, '/api/v1/models/lj_test')).body.data;
    assert.equal(model.is_loaded, true);
    assert.equal(model.status, 'loaded');
    assert.ok((await api(stack.baseUrl, '/api/v1/models/summary')).body.data.loaded_models.includes('lj_test'));

    await run();
    const later = await until('a higher use count', async () => {
      const [x] = (await api(stack.baseUrl, '/api/v1/models/loaded/list')).body.data.lj_test ?? [];
      return x && x.use_count > e.use_count ? x : undefined;
    });
    assert.equal(later.use_count, e.use_count + 1);
    assert.equal(later.loaded_at, e.loaded_at, 'the same resident copy');
    assert.ok(Date.parse(later.last_used) >= Date.parse(e.last_used));
  });
});

describe('alert stats', () => {
  it('counts alerts as they are raised and resolved', async () => {
    const stats = async () => (await api(stack.baseUrl, '/api/v1/alerts/stats')).body.data;
    const before = await stats();
    assert.equal(before.webhook_configured, false);
    assert.deepEqual(Object.keys(before.by_level).sort(), ['CRITICAL', 'INFO', 'WARNING']);
    // Raised directly as rows (without rules), so the counts do not wait for an evaluation (tests/alerts.test.ts covers those).
    const raised = await stack.database.db.insert(alerts).values([
      { level: 'CRITICAL', alertType: 'worker', message: 'No worker online' },
      { level: 'WARNING', alertType: 'queue', message: 'Queue backlog' },
      { level: 'WARNING', alertType: 'gpu', message: 'GPU temperature high' },
    ]).returning();
    const mid = await stats();
    assert.equal(mid.total_alerts, before.total_alerts + 3);
    assert.equal(mid.active_alerts, before.active_alerts + 3);
    assert.equal(mid.by_level.CRITICAL, before.by_level.CRITICAL + 1);
    assert.equal(mid.by_level.WARNING, before.by_level.WARNING + 2);
    const res = await api(stack.baseUrl, `/api/v1/alerts/${raised[1]!.id}/resolve`, { method: 'POST' }, { key: stack.adminKey });
    assert.equal(res.status, 200);
    const end = await stats();
    assert.equal(end.total_alerts, mid.total_alerts);
    assert.equal(end.active_alerts, mid.active_alerts - 1);
    assert.equal(end.resolved_alerts, mid.resolved_alerts + 1);
    assert.equal(end.active_by_level.WARNING, mid.active_by_level.WARNING - 1);
    assert.equal(end.by_level.WARNING, mid.by_level.WARNING, 'by_level counts resolved alerts too');
  });
});

describe('webhook resend', () => {
  let receiver: WebhookReceiver;
  let url: string;
  const received = () => receiver.received;
  const forTask = (id: string) => received().filter((r) => JSON.parse(r.body).task.task_id === id);
  before(async () => {
    receiver = await startWebhookReceiver();
    url = receiver.url;
  });
  after(() => { receiver?.close(); });

  it('delivers the final event again as a second signed delivery with its own key', async () => {
    const secret = 'whsec_resend';
    const s = (await upload(stack.baseUrl, 'calf.cif', calfCif)).body.data.id;
    const t = await submit(stack.baseUrl, 'single-point-energy', lj(s, { options: { callback: { url, secret, events: ['task.completed'] } } }));
    const id = t.body.data.task_id;
    assert.equal((await waitForTask(stack.baseUrl, id)).status, 'COMPLETED');
    const [first] = await until('the first delivery', async () => (forTask(id).length ? forTask(id) : undefined));

    const resend = () => api(stack.baseUrl, `/api/v1/tasks/${id}/webhooks/resend`, { method: 'POST', headers: { 'idempotency-key': 'resend-1' } });
    const r = await resend();
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const d = r.body.data;
    assert.equal(d.event, 'task.completed');
    assert.equal(`evt_${d.event_id}`, JSON.parse(first!.body).id);
    assert.equal(d.url, url);
    assert.match(d.delivery_id, new RegExp(`^${id}:${d.event_id}:resend-[0-9a-f]{16}$`));
    assert.equal((await resend()).body.data.delivery_id, d.delivery_id, 'the same Idempotency-Key: the same resend');

    const [, second] = await until('the resent delivery', async () => (forTask(id).length >= 2 ? forTask(id) : undefined));
    await sleep(1500); // room for a (wrong) third delivery
    assert.equal(forTask(id).length, 2);
    assert.equal(first!.headers['idempotency-key'], `${id}:${d.event_id}`);
    assert.equal(first!.headers['x-mofsim-resend'], undefined);
    assert.equal(second!.headers['idempotency-key'], d.delivery_id);
    assert.equal(second!.headers['x-mofsim-delivery'], d.delivery_id);
    assert.equal(second!.headers['x-mofsim-resend'], 'true');
    assert.equal(second!.body, first!.body, 'the signed body is the event\'s own');
    const ts = String(second!.headers['x-mofsim-timestamp']);
    assert.equal(second!.headers['x-mofsim-signature'], `t=${ts},v1=${createHmac('sha256', secret).update(`${ts}.${second!.body}`).digest('hex')}`);

    const log = (await api(stack.baseUrl, `/api/v1/tasks/${id}/webhooks`)).body.data.items;
    assert.deepEqual(log.map((x: any) => [x.idempotency_key, x.event, x.ok]), [[`${id}:${d.event_id}`, 'task.completed', true], [d.delivery_id, 'task.completed', true]]);
  });

  it('refuses a running task (40902) and a callback that does not take the final event (40907), resends a cancelled one', async () => {
    const s = (await upload(stack.baseUrl, 'calf.cif', calfCif)).body.data.id;
    const long = await submit(stack.baseUrl, 'optimization', lj(s, { parameters: { fmax: 1e-9, max_steps: 100000 }, options: { callback: { url } } }));
    const id = long.body.data.task_id;
    const early = await api(stack.baseUrl, `/api/v1/tasks/${id}/webhooks/resend`, { method: 'POST' });
    assert.deepEqual([early.status, early.body.code, early.body.error.type], [409, 40902, 'INVALID_TASK_STATE']);
    await api(stack.baseUrl, `/api/v1/tasks/${id}/cancel`, { method: 'POST' });
    assert.equal((await waitForTask(stack.baseUrl, id)).status, 'CANCELLED');
    const again = await api(stack.baseUrl, `/api/v1/tasks/${id}/webhooks/resend`, { method: 'POST' });
    assert.equal(again.status, 202, JSON.stringify(again.body));
    assert.equal(again.body.data.event, 'task.cancelled');
    await until('the resent cancellation', async () => received().some((r) => r.headers['idempotency-key'] === again.body.data.delivery_id));

    const startedOnly = await submit(stack.baseUrl, 'single-point-energy', lj(s, { options: { callback: { url, events: ['task.started'] } } }));
    assert.equal((await waitForTask(stack.baseUrl, startedOnly.body.data.task_id)).status, 'COMPLETED');
    const refused = await api(stack.baseUrl, `/api/v1/tasks/${startedOnly.body.data.task_id}/webhooks/resend`, { method: 'POST' });
    assert.deepEqual([refused.status, refused.body.code, refused.body.error.type], [409, 40907, 'EVENT_NOT_SUBSCRIBED']);
  });
});
