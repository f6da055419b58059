/**
 * SDK task control and files against the real stack: pause, resume and queue position (on the resource and on a
 * Task handle), downloading an output file to a Buffer and to a path, the worker list and usage.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as sdk from '@mofsim/sdk';
import { calfPath, startTestStack, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';

let stack: TestStack;
let client: InstanceType<typeof sdk.MOFSimClient>;
let structureId: string;
const dir = mkdtempSync(join(tmpdir(), 'sdk-files-'));

before(async () => {
  stack = await startTestStack({ workers: 1, env: { MOFSIM_ENGINE_MAX_JOBS: '1' } });
  client = new sdk.MOFSimClient({ baseUrl: stack.baseUrl, apiKey: stack.userKey, liveEvents: 'poll' });
  structureId = (await client.structures.upload(readFileSync(calfPath), { filename: 'calf.cif' })).id;
});
after(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const statusOf = async (id: string) => (await client.tasks.get(id)).status;

describe('SDK task control', () => {
  it('pauses, resumes and places tasks in the line', async () => {
    // One engine slot: the first task holds it, the second waits behind it.
    const busyTask = await client.optimization.submit({ model: 'lj_test', structure: structureId, fmax: 1e-9, max_steps: 100000 });
    await until('the first task running', async () => (await statusOf(busyTask.id)) === 'RUNNING', 120_000);
    const waitingTask = await client.optimization.submit({ model: 'lj_test', structure: structureId, fmax: 1e-9, max_steps: 100000 });
    const line = await until('the second task waiting', async () => {
      const q = await waitingTask.queuePosition();
      return q.waiting_for_worker ? q : undefined;
    });
    assert.deepEqual([line.task_id, line.position, line.ahead, line.worker_id], [waitingTask.id, 1, 0, null]);
    const running = await client.tasks.queuePosition(busyTask.id);
    assert.deepEqual([running.waiting_for_worker, running.position, running.worker_id], [false, null, stack.workers[0]!.id]);

    // Pausing the running task hands its slot to the waiting one.
    const paused = await client.tasks.pause(busyTask.id);
    assert.equal(paused.id, busyTask.id);
    await until('the first task paused', async () => (await statusOf(busyTask.id)) === 'PAUSED', 120_000);
    await until('the second task running', async () => (await statusOf(waitingTask.id)) === 'RUNNING', 120_000);
    await waitingTask.pause();
    await until('the second task paused', async () => (await statusOf(waitingTask.id)) === 'PAUSED', 120_000);

    const resumed = await client.tasks.resume(busyTask.id);
    assert.equal(resumed.id, busyTask.id);
    await until('the first task back', async () => ['QUEUED', 'RUNNING'].includes(await statusOf(busyTask.id)), 120_000);
    await waitingTask.resume();
    assert.ok(['QUEUED', 'RUNNING', 'PAUSED'].includes(waitingTask.status));
    await until('the second task back', async () => ['QUEUED', 'RUNNING'].includes(await statusOf(waitingTask.id)), 120_000);
    // Paused twice: a resume of a task that is not paused is a conflict.
    await assert.rejects(client.tasks.resume(busyTask.id), (e: unknown) => e instanceof sdk.ConflictError);

    for (const t of [busyTask, waitingTask]) await client.tasks.cancel(t.id);
    for (const t of [busyTask, waitingTask]) await until(`${t.id} cancelled`, async () => (await statusOf(t.id)) === 'CANCELLED', 120_000);
  });

  it('downloads an output file to a Buffer and to a path', async () => {
    const relaxTask = await client.optimization.submit({ model: 'lj_test', structure: structureId, fmax: 0.05, max_steps: 10 });
    const result = await relaxTask.wait({ timeout: 300 });
    const url = result.optimizedStructureFile;
    assert.ok(url, JSON.stringify(result.outputFiles));
    const name = url!.split('/').pop()!;
    const bytes = await relaxTask.downloadFile(name);
    assert.ok(Buffer.isBuffer(bytes));
    const cif = bytes.toString('utf8');
    assert.match(cif, /_cell_length_a/);
    assert.deepEqual(bytes, readFileSync(join(stack.config.MOFSIM_DATA_DIR, 'tasks', relaxTask.id, name)), 'the file the task wrote');
    const path = join(dir, 'relaxed.cif');
    assert.equal(await client.tasks.downloadFile(relaxTask.id, name, path), path);
    assert.deepEqual(readFileSync(path), bytes);
    await assert.rejects(client.tasks.downloadFile(relaxTask.id, 'no-such-file.cif'), (e: unknown) => e instanceof sdk.NotFoundError);

    // Usage: the finished task's engine time, by task.
    const usage = await client.system.usage({ groupBy: 'task', taskId: relaxTask.id });
    assert.equal(usage.group_by, 'task');
    const row = usage.items?.find((i) => i.key === relaxTask.id);
    assert.ok(row && row.device_seconds! > 0 && row.runs! >= 1, JSON.stringify(usage));
    const byOwner = await client.system.usage();
    assert.ok((byOwner.items ?? []).length >= 1);
  });

  it('lists the workers', async () => {
    const list = await client.system.workers();
    const w = list.find((x) => x.id === stack.workers[0]!.id);
    assert.ok(w, JSON.stringify(list));
    assert.deepEqual([w!.status, w!.device, w!.max_jobs], ['online', 'cpu', 1]);
  });
});
