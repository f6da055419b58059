/**
 * `npm run demo`: against a running stack (`npm start`), upload calf (44 atoms, MOFSimBench main set), relax it
 * with sevennet_prod (SevenNet-0 + D3) under the MOFSimBench optimization protocol, and print the relaxed volume
 * next to the DFT reference. `npm run demo -- --quick` loosens fmax to 0.05 eV/Å for a fast look.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, repoRoot } from '../common/config.js';
import { devAdminKeyFile } from '../server/services/keys.js';

const config = loadConfig();
const base = `http://127.0.0.1:${config.PORT}`;
const quick = process.argv.includes('--quick');
const model = process.argv.find((a) => a.startsWith('--model='))?.slice(8) ?? 'sevennet_prod';

// The key to call with: MOFSIM_API_KEY, else the development bootstrap admin key, else the local dev key `npm start` made.
const key = config.MOFSIM_API_KEY ?? config.MOFSIM_BOOTSTRAP_ADMIN_KEY
  ?? (existsSync(devAdminKeyFile) ? readFileSync(devAdminKeyFile, 'utf8').trim() : undefined);
if (!key) throw new Error('set MOFSIM_API_KEY (or start the stack with MOFSIM_BOOTSTRAP_ADMIN_KEY) — see README "Keys"');

async function call(path: string, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  const res = await fetch(base + path, { ...init, headers });
  const body = await res.json() as { success: boolean; data: any; error?: { type: string; detail: string } };
  if (!body.success) throw new Error(`${path}: ${res.status} ${body.error?.type}: ${body.error?.detail}`);
  return body.data;
}

function bar(pct: number, width = 30): string {
  const n = Math.round((pct / 100) * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${pct.toFixed(0).padStart(3)}%`;
}

const file = join(repoRoot, 'data', 'mofsimbench', 'structures', 'main_set', 'calf.cif');
const form = new FormData();
form.append('file', new Blob([new Uint8Array(readFileSync(file))]), 'calf.cif');
const structure = await call('/api/v1/structures', { method: 'POST', body: form });
console.log(`uploaded ${structure.name}: ${structure.formula}, ${structure.n_atoms} atoms, V = ${structure.volume_A3.toFixed(2)} Å³`);

const parameters = quick ? { fmax: 0.05 } : {};
const task = await call('/api/v1/tasks/optimization', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model, structure: { source: 'upload', file_id: structure.id }, parameters }),
});
console.log(`task ${task.task_id} submitted (${model}, ${quick ? 'fmax 0.05 eV/Å (quick)' : 'MOFSimBench protocol: LBFGS + FrechetCellFilter, fmax 0.001 eV/Å, ≤ 5000 steps'})`);

let lastEvent = 0;
let line = '';
for (;;) {
  const t = await call(`/api/v1/tasks/${task.task_id}`);
  const ev = await call(`/api/v1/tasks/${task.task_id}/events?after_id=${lastEvent}`);
  for (const e of ev.items) {
    lastEvent = e.id;
    if (e.type === 'progress') {
      line = `step ${e.data.step}  E = ${Number(e.data.energy_eV).toFixed(4)} eV  fmax = ${Number(e.data.fmax_eV_A).toExponential(2)} eV/Å  V = ${Number(e.data.volume_A3).toFixed(2)} Å³`;
    }
  }
  if (process.stdout.isTTY) process.stdout.write(`\r${bar(t.progress)} ${t.status.padEnd(9)} ${line}`.padEnd(140));
  if (['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(t.status)) {
    if (process.stdout.isTTY) process.stdout.write('\n');
    if (t.status !== 'COMPLETED') throw new Error(`task ended ${t.status}: ${t.error_type}: ${t.error_message}`);
    break;
  }
  await new Promise((r) => setTimeout(r, 1000));
}

const { result } = await call(`/api/v1/tasks/${task.task_id}/result`);
const ref = result.reference;
console.log(`converged: ${result.converged} after ${result.steps} steps (max force ${result.max_force_eV_A.toExponential(2)} eV/Å)`);
console.log(`energy: ${result.initial_energy_eV.toFixed(4)} → ${result.final_energy_eV.toFixed(4)} eV`);
console.log(`volume: initial ${result.initial_volume_A3.toFixed(2)} Å³ → relaxed ${result.final_volume_A3.toFixed(2)} Å³ (${result.volume_change_percent.toFixed(2)} %)`);
if (ref) {
  console.log(`DFT reference volume (MOFSimBench): ${ref.dft_volume_A3.toFixed(2)} Å³ → relaxed vs DFT ${ref.volume_vs_dft_percent.toFixed(2)} % (${ref.within_10_percent ? 'within' : 'outside'} the benchmark's ±10 %)`);
}
console.log(`relaxed structure: ${base}/api/v1/tasks/${task.task_id}/files/final.cif`);
