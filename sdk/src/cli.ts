/**
 * `mofsim` CLI, built only on the public SDK. Human tables by default, `--json` for scripts.
 * Config: --base-url/--api-key or env MOFSIM_BASE_URL/MOFSIM_API_KEY.
 */
import { MOFSimClient } from './client';
import { APIError, MOFSimError } from './core/errors';
import type { Task } from './lib/task-handle';
import type { Campaign } from './resources/campaigns';
import type { TaskType } from './types';

const USAGE = `usage: mofsim <command> [options]

commands:
  upload <file> [--name NAME]                   upload a structure (CIF, POSCAR, XYZ, …)
  submit <type> --model M --structure S [--param key=value …] [--priority P] [--wait]
        types: optimization, stability, bulk-modulus, heat-capacity, interaction-energy, single-point
        S: a local file, an uploaded structure id, or a built-in name (e.g. calf)
  status <task-id>                              status and progress
  watch <task-id>                               live progress bar until the task ends
  result <task-id>                              the result of a finished task
  cancel <task-id>                              cancel a task
  tasks [--status S] [--type T]                 list your tasks
  models                                        list models
  gpus                                          GPU status
  keys create <name> [--role admin|user]        create an API key (admin key needed; the key is shown once)
  campaign run --models M1,M2 [--set main_set] [--structures S1,S2] --tasks T1,T2 [--param T.key=value …]
               [--name N] [--no-wait]               run a campaign (models × structures × task steps) with a progress bar
  campaign status|results|cancel <campaign-id> [--csv]   progress, scores (CSV: per-structure scores), cancel

options: --json  --base-url URL  --api-key KEY  --timeout SECONDS`;

interface Args { _: string[]; flags: Record<string, string | boolean>; params: string[] }

function parseArgs(argv: string[]): Args {
  const a: Args = { _: [], flags: {}, params: [] };
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    if (t.startsWith('--')) {
      const [k, inline] = t.slice(2).split('=', 2) as [string, string | undefined];
      const next = argv[i + 1];
      const boolFlag = ['json', 'wait', 'help', 'no-wait', 'csv'].includes(k);
      const v = inline ?? (boolFlag || next === undefined || next.startsWith('--') ? true : (i++, next));
      if (k === 'param') a.params.push(String(v)); else a.flags[k] = v;
    } else a._.push(t);
  }
  return a;
}

function table(rows: Record<string, unknown>[], cols: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

function parseValue(v: string): unknown {
  if (v === 'true' || v === 'false') return v === 'true';
  if (v !== '' && !Number.isNaN(Number(v))) return Number(v);
  if (v.startsWith('[') || v.startsWith('{')) { try { return JSON.parse(v); } catch { /* keep string */ } }
  return v;
}

function bar(progress: number, width = 30): string {
  const n = Math.round((Math.max(0, Math.min(100, progress)) / 100) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${progress.toFixed(0).padStart(3)}%`;
}

const TYPES: Record<string, TaskType> = {
  optimization: 'optimization', stability: 'stability', 'bulk-modulus': 'bulk-modulus', 'heat-capacity': 'heat-capacity',
  'interaction-energy': 'interaction-energy', 'single-point': 'single-point-energy', 'single-point-energy': 'single-point-energy',
};

/** Runs one CLI invocation; returns the exit code. `out`/`err` default to the process streams. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n'), err: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<number> {
  const a = parseArgs(argv);
  const json = a.flags.json === true;
  const print = (human: string, data: unknown) => out(json ? JSON.stringify(data, null, 2) : human);
  if (!a._.length || a.flags.help) { out(USAGE); return a._.length ? 0 : 2; }
  const client = new MOFSimClient({
    baseUrl: typeof a.flags['base-url'] === 'string' ? a.flags['base-url'] : undefined,
    apiKey: typeof a.flags['api-key'] === 'string' ? a.flags['api-key'] : undefined,
    timeout: a.flags.timeout ? Number(a.flags.timeout) : undefined,
  });
  const [cmd, arg, arg2] = a._;
  const taskRow = (t: Task) => ({ task_id: t.id, type: t.taskType, model: t.model, status: t.status, progress: t.progress, priority: t.priority, created_at: t.info.created_at });
  const cols = ['task_id', 'type', 'model', 'status', 'progress', 'priority', 'created_at'];
  try {
    switch (cmd) {
      case 'upload': {
        if (!arg) throw new Error('upload needs a file');
        const s = await client.uploadStructure(arg, { name: typeof a.flags.name === 'string' ? a.flags.name : undefined });
        print(table([s as unknown as Record<string, unknown>], ['id', 'name', 'formula', 'n_atoms', 'format']), s);
        return 0;
      }
      case 'submit': {
        const type = TYPES[arg ?? ''];
        if (!type) throw new Error(`submit needs a task type: ${Object.keys(TYPES).join(', ')}`);
        if (typeof a.flags.model !== 'string' || typeof a.flags.structure !== 'string') throw new Error('submit needs --model and --structure');
        const parameters: Record<string, unknown> = {};
        for (const p of a.params) {
          const eq = p.indexOf('=');
          if (eq < 1) throw new Error(`--param wants key=value (got ${p})`);
          parameters[p.slice(0, eq)] = parseValue(p.slice(eq + 1));
        }
        const resources: Partial<Record<TaskType, unknown>> = { optimization: client.optimization, stability: client.stability, 'bulk-modulus': client.bulkModulus, 'heat-capacity': client.heatCapacity, 'interaction-energy': client.interactionEnergy, 'single-point-energy': client.singlePoint };
        const resource = resources[type];
        if (!resource) throw new Error(`submit has no resource for ${type}`);
        const task = await (resource as typeof client.optimization).submit({ model: a.flags.model, structure: a.flags.structure, parameters, priority: typeof a.flags.priority === 'string' ? a.flags.priority as never : undefined });
        if (a.flags.wait) {
          const r = await task.wait({ onProgress: json ? undefined : (p) => err(`${task.id} ${bar(p)}`) });
          print(JSON.stringify(r.resultData, null, 2), r.raw);
        } else print(table([taskRow(task)], cols), task.info);
        return 0;
      }
      case 'status': {
        const t = await client.getTask(need(arg, 'task id'));
        print(table([taskRow(t)], cols) + (t.errorMessage ? `\nerror: ${t.errorMessage}` : ''), t.info);
        return 0;
      }
      case 'watch': {
        const t = await client.getTask(need(arg, 'task id'));
        const tty = !json && process.stderr.isTTY;
        const show = (p: number, task: Task) => (tty ? process.stderr.write(`\r${task.status.padEnd(9)} ${bar(p)}`) : err(`${task.status} ${bar(p)}`));
        try {
          await t.wait({ onProgress: json ? undefined : show, pollInterval: Number(a.flags.interval ?? 1) });
        } catch (e) { if (!(e instanceof MOFSimError)) throw e; }
        if (tty) process.stderr.write('\n');
        print(`${t.id} ${t.status}${t.errorMessage ? `: ${t.errorMessage}` : ''}`, t.info);
        return t.status === 'COMPLETED' ? 0 : 1;
      }
      case 'result': {
        const t = await client.getTask(need(arg, 'task id'));
        const r = await t.getResult();
        print(JSON.stringify(r.resultData, null, 2), r.raw);
        return 0;
      }
      case 'cancel': {
        await client.cancelTask(need(arg, 'task id'));
        const t = await client.getTask(arg!);
        print(`${t.id} ${t.status}`, t.info);
        return 0;
      }
      case 'tasks': {
        const page = await client.listTasks({ status: a.flags.status as never, taskType: a.flags.type as never, pageSize: 50 });
        print(table(page.items.map(taskRow), cols) + `\n${page.total} task(s)`, { items: page.items.map((t) => t.info), pagination: page.pagination });
        return 0;
      }
      case 'models': {
        const models = await client.listModels();
        print(table(models as unknown as Record<string, unknown>[], ['name', 'family', 'kind', 'available', 'with_d3']), models);
        return 0;
      }
      case 'gpus': {
        const gpus = await client.getGpuStatus();
        print(gpus.length ? table(gpus as Record<string, unknown>[], ['worker_id', 'index', 'name', 'memory_used_MB', 'memory_total_MB', 'utilization_percent', 'temperature_C', 'loaded_models']) : 'no GPUs', gpus);
        return 0;
      }
      case 'keys': {
        if (arg !== 'create') throw new Error('keys: only `keys create <name> [--role admin|user]`');
        const k = await client.keys.create({ name: need(arg2, 'key name'), role: (a.flags.role as 'admin' | 'user' | undefined) ?? 'user' });
        print(`${k.key}\n(${k.role} key ${k.prefix}, id ${k.id}: store it now, it is not shown again)`, k);
        return 0;
      }
      case 'campaign': return await campaignCommand(client, a, arg, arg2, json, print, err);
      default:
        err(`unknown command: ${cmd}\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (json) out(JSON.stringify({ error: { name: (e as Error).name, message: (e as Error).message, status: (e as APIError).status, code: (e as APIError).code } }));
    else err(`error: ${(e as Error).message}`);
    return 1;
  }
}

const list = (v: string | boolean | undefined) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : []);

async function campaignCommand(
  client: MOFSimClient, a: Args, sub: string | undefined, id: string | undefined, json: boolean,
  print: (human: string, data: unknown) => void, err: (s: string) => void,
): Promise<number> {
  const summary = (c: Campaign) => `${c.id} ${c.info.name} ${c.status} ${c.progress}% ${JSON.stringify(c.counts)}`;
  switch (sub) {
    case 'run': {
      const models = list(a.flags.models);
      const structures = [...list(a.flags.set), ...list(a.flags.structures)];
      const types = list(a.flags.tasks).map((t) => TYPES[t] ?? t);
      if (!models.length || !structures.length || !types.length) throw new Error('campaign run needs --models, --set or --structures, and --tasks');
      // --param bulk-modulus.npoints=5 sets a parameter of one step.
      const params: Record<string, Record<string, unknown>> = {};
      for (const p of a.params) {
        const m = /^([^.=]+)\.([^=]+)=(.*)$/.exec(p);
        if (!m) throw new Error(`--param wants type.key=value (got ${p})`);
        const type = TYPES[m[1]!] ?? m[1]!;
        (params[type] ??= {})[m[2]!] = parseValue(m[3]!);
      }
      const c = await client.campaigns.create({
        name: typeof a.flags.name === 'string' ? a.flags.name : `${models.join('+')} on ${structures.join('+')}`,
        models, structures, tasks: types.map((type) => ({ type: type as TaskType, ...(params[type] ? { parameters: params[type] } : {}) })),
      });
      if (a.flags['no-wait']) { print(summary(c), c.info); return 0; }
      const tty = !json && process.stderr.isTTY;
      await c.wait({
        pollInterval: Number(a.flags.interval ?? 2),
        onProgress: json ? undefined : (p, cc) => {
          const line = `${cc.status.padEnd(9)} ${bar(p)} ${cc.counts.COMPLETED ?? 0}/${cc.info.total_tasks} done, ${cc.counts.FAILED ?? 0} failed`;
          if (tty) process.stderr.write(`\r${line}`); else err(line);
        },
      });
      if (tty) process.stderr.write('\n');
      print(summary(c), c.info);
      return c.status === 'COMPLETED' ? 0 : 1;
    }
    case 'status': {
      const c = await client.campaigns.get(need(id, 'campaign id'));
      print(summary(c), c.info);
      return 0;
    }
    case 'results': {
      const c = await client.campaigns.get(need(id, 'campaign id'));
      if (a.flags.csv) { print(await c.resultsCsv(a.flags.table === 'tasks' ? 'tasks' : 'scores'), undefined); return 0; }
      const r = await c.results();
      const rows = ((r.scores as { scores?: { model: string; protocol: string; aggregate: { counts: Record<string, number>; metrics: Record<string, number | null> } }[] }).scores ?? [])
        .map((s) => ({ model: s.model, protocol: s.protocol, scored: s.aggregate.counts.n_scored, failed: s.aggregate.counts.n_failed, metrics: s.aggregate.metrics }));
      print(table(rows, ['model', 'protocol', 'scored', 'failed', 'metrics']), r);
      return 0;
    }
    case 'cancel': {
      const c = await client.campaigns.cancel(need(id, 'campaign id'));
      print(summary(c), c.info);
      return 0;
    }
    default:
      throw new Error('campaign: run | status | results | cancel');
  }
}

function need(v: string | undefined, what: string): string {
  if (!v) throw new Error(`missing ${what}`);
  return v;
}
