/**
 * Queue at scale: on a real stack (fresh database, Temporal dev server, the API in this process, one worker as a
 * child process with the default job slots), hold the worker busy, submit BENCH_N `lj_test` single points through
 * POST /tasks/batch and print what the scheduler costs while they wait and how fast they drain.
 *
 *   node --import tsx bench/queue_scale.ts                 # BENCH_N=10000
 *   BENCH_N=1000 BENCH_IDLE_S=30 BENCH_HISTORY_S=60 node --import tsx bench/queue_scale.ts
 *
 * Environment: BENCH_N (tasks queued, default 10000), BENCH_IDLE_S (seconds of CPU measured while they wait,
 * default 60), BENCH_HISTORY_S (how long the oldest task has waited when its history is read, default 600),
 * BENCH_SUBMITS (single submits timed per condition, default 100), BENCH_WARM_RUNS (idle submit → COMPLETED runs,
 * default 20), BENCH_JSON (a file to write the figures to), BENCH_BLOCKERS (`running`, the default: the MD jobs that hold
 * the slots run on the CPU beside the control plane; `stopped`: once they run, their engine is stopped with SIGSTOP
 * until the drain, so the slots stay held while the two cores are left to the control plane, as on a GPU box where
 * the jobs run on the device).
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { api, startTestStack, submit, waitForTask } from '../tests/helpers/stack.js';

const N = Number(process.env.BENCH_N ?? 10_000);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 60);
const HISTORY_S = Number(process.env.BENCH_HISTORY_S ?? 600);
const SUBMITS = Number(process.env.BENCH_SUBMITS ?? 100);
const WARM_RUNS = Number(process.env.BENCH_WARM_RUNS ?? 20);
const BLOCKERS = process.env.BENCH_BLOCKERS ?? 'running';
if (BLOCKERS !== 'running' && BLOCKERS !== 'stopped') throw new Error(`BENCH_BLOCKERS must be running or stopped, not ${BLOCKERS}`);
const calf = { source: 'builtin', name: 'calf' };
const sp = (priority = 'NORMAL') => ({ model: 'lj_test', structure: calf, options: { priority } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]! : NaN;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;
const figures: Record<string, number | string> = {};
const report = (key: string, value: number | string, text: string) => { figures[key] = value; console.log(`${text}`); };

const CLK = 100; // USER_HZ on Linux
function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK;
  } catch { return 0; }
}
function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch { return 0; }
}
function pidsMatching(fragment: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try { if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(fragment)) out.push(Number(d)); } catch { /* gone */ }
  }
  return out;
}

// Engines this run stopped: continued before the drain, or on the way out if the run fails before it.
const stopped: number[] = [];
const resume = () => { for (const p of stopped.splice(0)) { try { process.kill(p, 'SIGCONT'); } catch { /* gone */ } } };

/**
 * Where a hand-over's time goes, from the next task's Temporal history (a sample of at most 200): slot freed → the
 * grant's signal recorded, signal → its workflow task started, that task's run (it schedules the job), job scheduled
 * → its activity started on the worker, activity started → the `started` event committed.
 */
async function handOverBreakdown(client: Client, handOvers: { taskId: string; freed: number; started: number }[]) {
  const step = Math.max(1, Math.floor(handOvers.length / 200));
  const hops: Record<string, number[]> = { decide_and_signal: [], signal_to_wft: [], wft_run: [], to_activity: [], activity_to_started: [] };
  const t = eventMs;
  for (let i = 0; i < handOvers.length; i += step) {
    const h = handOvers[i]!;
    const events = (await client.workflow.getHandle(h.taskId).fetchHistory().catch(() => undefined))?.events ?? [];
    const sig = events.map((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'slot').lastIndexOf(true);
    if (sig < 0) continue;
    const wftStarted = events.findIndex((e, j) => j > sig && !!e.workflowTaskStartedEventAttributes);
    const wftDone = events.findIndex((e, j) => j > sig && !!e.workflowTaskCompletedEventAttributes);
    const actStarted = events.findIndex((e, j) => j > sig && !!e.activityTaskStartedEventAttributes);
    if (wftStarted < 0 || wftDone < 0 || actStarted < 0) continue;
    const [s, a, b, c] = [sig, wftStarted, wftDone, actStarted].map((j) => t(events[j]!.eventTime));
    hops.decide_and_signal!.push(s! - h.freed);
    hops.signal_to_wft!.push(a! - s!);
    hops.wft_run!.push(b! - a!);
    hops.to_activity!.push(c! - b!);
    hops.activity_to_started!.push(h.started - c!);
  }
  const line = Object.entries(hops).map(([k, v]) => `${k} p50 ${ms(q(v, 0.5))} p95 ${ms(q(v, 0.95))}`).join('; ');
  console.log(`hand-over, hop by hop (${hops.wft_run!.length} sampled): ${line}`);
  for (const [k, v] of Object.entries(hops)) figures[`handover_${k}_p50_ms`] = q(v, 0.5);
}

const eventMs = (x: unknown) => { const ts = x as { seconds?: unknown; nanos?: number | null } | null | undefined; return ts ? Number(ts.seconds) * 1000 + (ts.nanos ?? 0) / 1e6 : NaN; };

/**
 * Where an idle submission's time goes, from its row, its events and its workflow's history: insert → workflow
 * started, → the workflow task that schedules the job (and how many workflow tasks ran before it), → the job's
 * activity started, → `started` committed, → `completed` committed.
 */
async function idleBreakdown(client: Client, sql: import('postgres').Sql, ids: string[]) {
  const hops: Record<string, number[]> = { insert_to_wf_start: [], wf_start_to_job_scheduled: [], to_activity: [], activity_to_started: [], started_to_completed: [], wfts_before_job: [] };
  for (const id of ids) {
    const [row] = await sql`select t.created_at, (select min(created_at) from task_events where task_id = t.id and type = 'started') as st,
      (select min(created_at) from task_events where task_id = t.id and type = 'completed') as co from tasks t where t.id = ${id}`;
    const events = (await client.workflow.getHandle(id).fetchHistory().catch(() => undefined))?.events ?? [];
    const started = events.find((e) => !!e.workflowExecutionStartedEventAttributes);
    const sched = events.findIndex((e) => !!e.activityTaskScheduledEventAttributes);
    const act = events.find((e) => !!e.activityTaskStartedEventAttributes);
    if (!row || !started || sched < 0 || !act) continue;
    const [c, s, co] = [row.created_at, row.st, row.co].map((x) => new Date(x as string).getTime());
    hops.insert_to_wf_start!.push(eventMs(started.eventTime) - c!);
    hops.wf_start_to_job_scheduled!.push(eventMs(events[sched]!.eventTime) - eventMs(started.eventTime));
    hops.to_activity!.push(eventMs(act.eventTime) - eventMs(events[sched]!.eventTime));
    hops.activity_to_started!.push(s! - eventMs(act.eventTime));
    hops.started_to_completed!.push(co! - s!);
    hops.wfts_before_job!.push(events.slice(0, sched).filter((e) => !!e.workflowTaskCompletedEventAttributes).length);
  }
  console.log(`idle submit, hop by hop (${ids.length}): ${Object.entries(hops).map(([k, v]) => `${k} p50 ${k.startsWith('wfts') ? q(v, 0.5) : ms(q(v, 0.5))}`).join('; ')}`);
}

async function main() {
  const stack = await startTestStack({ workers: 0, env: { MOFSIM_WORKER_HEARTBEAT_S: '5', MOFSIM_WORKER_STALE_S: '30', MOFSIM_ACTIVITY_HEARTBEAT_TIMEOUT_S: '30' } });
  const sql = stack.database.sql;
  try {
    const worker = await stack.spawnWorker('bench-w');
    const slots = stack.config.MOFSIM_ENGINE_MAX_JOBS;
    const temporalPort = new URL(`http://${stack.config.TEMPORAL_ADDRESS}`).port;
    const temporalPids = pidsMatching(`--port\u0000${temporalPort}`).concat(pidsMatching(`--port=${temporalPort}`));
    const client = new Client({ connection: await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS }) });
    const key = { key: stack.adminKey };
    console.log(`stack up: 1 worker (${slots} slots), Temporal pid(s) ${temporalPids.join(',') || '?'}; N = ${N}`);

    // Idle stack: warm lj_test single point, submit → COMPLETED.
    await waitForTask(stack.baseUrl, (await submit(stack.baseUrl, 'single-point-energy', sp(), {}, key)).body.data.task_id, 120_000, key);
    const e2e: number[] = [];
    const idleIds: string[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      const t0 = performance.now();
      const id = (await submit(stack.baseUrl, 'single-point-energy', sp(), {}, key)).body.data.task_id;
      for (;;) {
        const [r] = await sql`select status from tasks where id = ${id}`;
        if (r!.status === 'COMPLETED') break;
        await sleep(2);
      }
      e2e.push(performance.now() - t0);
      idleIds.push(id);
    }
    report('idle_submit_to_completed_p50_ms', q(e2e, 0.5), `submit → COMPLETED, warm lj_test, idle stack: p50 ${ms(q(e2e, 0.5))}, p95 ${ms(q(e2e, 0.95))} (${WARM_RUNS} runs)`);
    await idleBreakdown(client, sql, idleIds);

    const timeSubmits = async () => {
      const lat: number[] = [];
      for (let i = 0; i < SUBMITS; i++) {
        const t0 = performance.now();
        const r = await submit(stack.baseUrl, 'single-point-energy', sp('LOW'), {}, key);
        lat.push(performance.now() - t0);
        if (r.status !== 202) throw new Error(`submit answered ${r.status}`);
      }
      return lat;
    };

    // Hold every slot with a long MD job the queued work cannot preempt (CRITICAL).
    const blockers: string[] = [];
    for (let i = 0; i < slots; i++) {
      blockers.push((await submit(stack.baseUrl, 'stability', {
        model: 'lj_test', structure: calf, options: { priority: 'CRITICAL' },
        parameters: { opt_steps: 0, nvt_steps: 10_000_000, npt_steps: 0, checkpoint_interval: 100_000, trajectory_interval: 100_000 },
      }, {}, key)).body.data.task_id);
    }
    for (;;) {
      const [r] = await sql`select count(*)::int as n from tasks where id = any(${blockers}) and status = 'RUNNING'`;
      if (r!.n === slots) break;
      await sleep(200);
    }
    // The worker's engine processes (it may run a second one for parsing): stopped, the jobs hold their slots and
    // burn no CPU. Their activities keep heartbeating from the worker.
    const engines = pidsMatching('mofsim_engine').filter((p) => parentOf(p) === worker.process.pid);
    if (BLOCKERS === 'stopped') {
      if (!engines.length) throw new Error('no engine process of the worker found');
      for (const p of engines) { process.kill(p, 'SIGSTOP'); stopped.push(p); }
    }
    console.log(`blockers: ${slots} CRITICAL MD jobs, their engine ${BLOCKERS === 'stopped' ? `stopped (pid ${engines.join(',')})` : 'running'}`);
    figures.blockers = BLOCKERS;
    // Control-plane CPU: processes of this stack only (Postgres: this database's backends).
    const pgPids = async () => (await sql`select pid from pg_stat_activity where datname = current_database()`).map((r) => Number(r.pid));
    const snapshot = async () => ({
      temporal: temporalPids.reduce((a, p) => a + procCpuSeconds(p), 0),
      api: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
      worker: procCpuSeconds(worker.process.pid!),
      postgres: (await pgPids()).reduce((a, p) => a + procCpuSeconds(p), 0),
    });
    const cpuOver = async (seconds: number) => {
      const a = await snapshot();
      await sleep(seconds * 1000);
      const b = await snapshot();
      const m = (k: keyof typeof a) => ((b[k] - a[k]) / seconds) * 60;
      return { temporal: m('temporal'), api: m('api'), worker: m('worker'), postgres: m('postgres'), total: m('temporal') + m('api') + m('worker') + m('postgres') };
    };
    // What the running jobs themselves cost the control plane (heartbeats, progress events), nothing queued.
    const base = await cpuOver(IDLE_S);
    report('busy_cpu_percent_of_core_0_queued', (base.total / 60) * 100, `control-plane CPU, worker busy, 0 queued: ${base.total.toFixed(2)} CPU-s/min = ${((base.total / 60) * 100).toFixed(2)} % of one core`);
    const lat0 = await timeSubmits();
    report('submit_p50_ms_0_queued', q(lat0, 0.5), `single submit, 0 queued (worker busy): p50 ${ms(q(lat0, 0.5))}, p99 ${ms(q(lat0, 0.99))}`);
    figures.submit_p99_ms_0_queued = q(lat0, 0.99);

    // N tasks through the batch route, 1000 at a time.
    const batchMs: number[] = [];
    const t0 = performance.now();
    for (let done = 0; done < N;) {
      const n = Math.min(1000, N - done);
      const b0 = performance.now();
      const r = await api(stack.baseUrl, '/api/v1/tasks/batch?task_type=single-point-energy', {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tasks: Array.from({ length: n }, () => sp()) }),
      }, key);
      batchMs.push(performance.now() - b0);
      if (r.status !== 202 || r.body.data.submitted !== n) throw new Error(`batch answered ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
      done += n;
    }
    const submitS = (performance.now() - t0) / 1000;
    report('batch_tasks_per_s', N / submitS, `batch submit: ${N} tasks in ${submitS.toFixed(1)} s = ${(N / submitS).toFixed(0)} tasks/s; one 1000-item batch p50 ${ms(q(batchMs, 0.5))}, max ${ms(Math.max(...batchMs))}`);
    figures.batch_1000_max_ms = Math.max(...batchMs);
    const inLine = async () => Number((await sql`select count(*)::int as n from tasks where wait_seq is not null`)[0]!.n);
    // Tasks are in line from their insert; a workflow waits there once its first workflow task is done (the last
    // one queued is the last to get there).
    const [newest] = await sql`select id from tasks where wait_seq is not null order by line_no desc limit 1`;
    const waiting = async (id: string) => !!(await client.workflow.getHandle(id).fetchHistory().catch(() => undefined))?.events
      ?.some((e) => e.workflowTaskCompletedEventAttributes);
    const w0 = performance.now();
    for (;;) {
      const [r] = await sql`select count(*)::int as n from tasks where workflow_pending`;
      if (r!.n === 0 && (await inLine()) >= N && (await waiting(String(newest!.id)))) break;
      await sleep(1000);
    }
    report('all_in_line_s', (performance.now() - w0) / 1000, `all ${N} workflows started and waiting in line ${((performance.now() - w0) / 1000).toFixed(1)} s after the last batch`);

    const latN = await timeSubmits();
    report('submit_p50_ms_n_queued', q(latN, 0.5), `single submit, ${N} queued: p50 ${ms(q(latN, 0.5))}, p99 ${ms(q(latN, 0.99))}`);
    figures.submit_p99_ms_n_queued = q(latN, 0.99);

    await sleep(5000);
    const c = await cpuOver(IDLE_S);
    report('waiting_cpu_percent_of_core', ((c.total - base.total) / 60) * 100,
      `control-plane CPU while ${N} wait: Temporal ${c.temporal.toFixed(2)}, API ${c.api.toFixed(2)}, worker ${c.worker.toFixed(2)}, Postgres backends ${c.postgres.toFixed(2)} CPU-s/min = ${((c.total / 60) * 100).toFixed(2)} % of one core; minus the 0-queued figure: ${(((c.total - base.total) / 60) * 100).toFixed(2)} % is what waiting costs`);

    // History of the oldest queued task once it has waited BENCH_HISTORY_S.
    const [oldest] = await sql`select id, created_at from tasks where wait_seq is not null order by created_at limit 1`;
    const waited = (Date.now() - new Date(oldest!.created_at as string).getTime()) / 1000;
    if (waited < HISTORY_S) await sleep((HISTORY_S - waited) * 1000);
    const history = await client.workflow.getHandle(String(oldest!.id)).fetchHistory();
    report('queued_history_events', history.events?.length ?? NaN,
      `history of a task queued for ${Math.max(waited, HISTORY_S).toFixed(0)} s: ${history.events?.length} events`);

    // Release the worker and drain.
    resume();
    const r0 = Date.now();
    for (const id of blockers) await api(stack.baseUrl, `/api/v1/tasks/${id}/cancel`, { method: 'POST' }, key);
    const total2 = N + SUBMITS * 2;
    for (;;) {
      const [r] = await sql`select count(*)::int as n from tasks where status in ('PENDING','QUEUED','RUNNING')`;
      if (r!.n === 0) break;
      await sleep(1000);
    }
    const [{ last }] = await sql`select max(completed_at) as last from tasks where status = 'COMPLETED'` as unknown as [{ last: Date }];
    const drainS = (new Date(last).getTime() - r0) / 1000;
    report('drain_tasks_per_s', total2 / drainS, `drain: ${total2} tasks in ${drainS.toFixed(1)} s = ${(total2 / drainS).toFixed(1)} tasks/s with ${slots} slots`);

    // Slot freed (a job's completed/cancelled event) → the next job's started event, matched first-freed first-taken.
    const evs2 = await sql`select e.task_id, e.type, e.created_at from task_events e where e.type in ('completed', 'cancelled', 'started')
      and e.created_at >= ${new Date(r0).toISOString()}::timestamptz order by e.id`;
    const free: number[] = [];
    const gaps: number[] = [];
    const handOvers: { taskId: string; freed: number; started: number }[] = [];
    for (const e of evs2) {
      const t = new Date(e.created_at as string).getTime();
      if (e.type === 'started') {
        const f = free.shift();
        if (f !== undefined) { gaps.push(t - f); handOvers.push({ taskId: String(e.task_id), freed: f, started: t }); }
      } else free.push(t);
    }
    report('slot_to_start_p95_ms', q(gaps, 0.95), `slot freed → next started: p50 ${ms(q(gaps, 0.5))}, p95 ${ms(q(gaps, 0.95))} (${gaps.length} hand-overs)`);
    figures.slot_to_start_p50_ms = q(gaps, 0.5);
    await handOverBreakdown(client, handOvers);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(figures, null, 2));
    await client.connection.close();
  } finally {
    resume();
    await stack.stop();
  }
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
