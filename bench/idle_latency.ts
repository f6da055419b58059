/**
 * Submit latency and submit → COMPLETED of a warm `lj_test` single point on an idle stack (nothing else running: the
 * figures queue_scale.ts takes while its blockers' MD jobs hold the CPU), split by the task's own events: the answer,
 * submit → `queued`, `queued` → `started` (the workflow, the line, the grant, the engine activity's start) and
 * `started` → `completed` (the engine job and its result write). 20 runs, one at a time.
 *
 *   node --import tsx bench/idle_latency.ts
 */
import { startTestStack, submit, waitForTask } from '../tests/helpers/stack.js';
const calf = { source: 'builtin', name: 'calf' };
const q = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!; };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function main() {
  const stack = await startTestStack({ workers: 0 });
  const sql = stack.database.sql;
  try {
    const key = { key: stack.adminKey };
    await stack.spawnWorker('p-w');
    await waitForTask(stack.baseUrl, (await submit(stack.baseUrl, 'single-point-energy', { model: 'lj_test', structure: calf }, {}, key)).body.data.task_id, 120_000, key);
    const T: Record<string, number[]> = {};
    const add = (k: string, v: number) => (T[k] ??= []).push(v);
    for (let i = 0; i < 20; i++) {
      const t0 = Date.now();
      const r = await submit(stack.baseUrl, 'single-point-energy', { model: 'lj_test', structure: calf }, {}, key);
      add('http submit', Date.now() - t0);
      const id = r.body.data.task_id;
      for (;;) { const [x] = await sql`select status from tasks where id = ${id}`; if (x!.status === 'COMPLETED') break; await sleep(2); }
      add('submit→COMPLETED seen', Date.now() - t0);
      await sleep(100);
      const ev = await sql`select type, created_at from task_events where task_id = ${id} order by id`;
      const at = (t: string) => new Date(ev.find((e) => e.type === t)!.created_at as string).getTime();
      add('submit→queued ev', at('queued') - t0); add('queued→started', at('started') - at('queued')); add('started→completed', at('completed') - at('started'));
      await sleep(200);
    }
    for (const [k, v] of Object.entries(T)) console.log(k.padEnd(24), 'p50', q(v, 0.5), 'p95', q(v, 0.95));
  } finally { await stack.stop(); }
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
