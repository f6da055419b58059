/**
 * Small-upload latency while a large CIF parses, against the same uploads on an idle server, and the parse time
 * of a 10,000-atom P1 CIF. Runs a real stack (tests/helpers/stack.ts: PostgreSQL, Temporal, the API and its parse
 * engine) in this process.
 *
 *   node --import tsx bench/upload_latency.ts [--small 40] [--large-atoms 4000] [--big-atoms 10000]
 */
import { parseArgs } from 'node:util';
import { startTestStack, upload } from '../tests/helpers/stack.js';

const { values } = parseArgs({
  options: {
    small: { type: 'string', default: '40' },
    'large-atoms': { type: 'string', default: '4000' },
    'big-atoms': { type: 'string', default: '10000' },
  },
});
const nSmall = Number(values.small);
const largeAtoms = Number(values['large-atoms']);
const bigAtoms = Number(values['big-atoms']);

/** A P1 CIF of `n` atoms on a jittered grid (nearest neighbours ~1.6 Å apart, so it passes validation). */
function p1Cif(n: number, seed: number): string {
  const m = Math.ceil(Math.cbrt(n));
  const L = m * 1.6;
  let s = seed;
  const rand = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
  const lines = ['data_big', `_cell_length_a ${L}`, `_cell_length_b ${L}`, `_cell_length_c ${L}`,
    '_cell_angle_alpha 90', '_cell_angle_beta 90', '_cell_angle_gamma 90', "_symmetry_space_group_name_H-M 'P 1'",
    'loop_', '_atom_site_label', '_atom_site_type_symbol', '_atom_site_fract_x', '_atom_site_fract_y', '_atom_site_fract_z'];
  const el = ['C', 'H', 'O', 'N'];
  for (let k = 0; k < n; k++) {
    const [i, j, l] = [Math.floor(k / (m * m)), Math.floor(k / m) % m, k % m];
    const f = [i, j, l].map((x) => ((x + 0.5 + (rand() - 0.5) * 0.2) / m).toFixed(6));
    lines.push(`${el[k % 4]}${k} ${el[k % 4]} ${f.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

let counter = 0;
/** A 3-atom CIF, unique each time (a comment) so no upload is answered from the content-addressed store. */
const smallCif = () => `# upload ${counter++} ${Date.now()}\ndata_s\n_cell_length_a 6\n_cell_length_b 6\n_cell_length_c 6\n`
  + '_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n_atom_site_type_symbol\n'
  + '_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nC1 C 0 0 0\nO1 O 0.2 0 0\nO2 O 0.5 0.5 0.5\n';

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!; };

async function timedUpload(baseUrl: string, name: string, content: string): Promise<number> {
  const t0 = performance.now();
  const { status, body } = await upload(baseUrl, name, content);
  if (status !== 200) throw new Error(`${name}: ${status} ${JSON.stringify(body).slice(0, 300)}`);
  return performance.now() - t0;
}

async function smallSeries(baseUrl: string, n: number, until?: () => boolean): Promise<number[]> {
  const ms: number[] = [];
  for (let k = 0; k < n && (until === undefined || !until()); k++) ms.push(await timedUpload(baseUrl, `s${k}.cif`, smallCif()));
  return ms;
}

const stack = await startTestStack({ workers: 0, env: { MOFSIM_MAX_UPLOAD_MB: '50' } });
try {
  await smallSeries(stack.baseUrl, 5); // starts the parse children
  await timedUpload(stack.baseUrl, 'warm.cif', p1Cif(500, 7)); // and the large-file lane
  const idle = await smallSeries(stack.baseUrl, nSmall);

  let largeDone = false;
  const t0 = performance.now();
  const large = timedUpload(stack.baseUrl, 'large.cif', p1Cif(largeAtoms, 1)).finally(() => { largeDone = true; });
  await new Promise((r) => setTimeout(r, 200)); // the large parse is under way
  const busy = await smallSeries(stack.baseUrl, nSmall, () => largeDone);
  const busyAll = busy.length;
  const largeMs = await large;
  const bigMs = await timedUpload(stack.baseUrl, 'big.cif', p1Cif(bigAtoms, 2));

  const row = (label: string, xs: number[]) => `${label.padEnd(34)} n=${String(xs.length).padStart(3)}  p50 ${pct(xs, 50).toFixed(1).padStart(7)} ms  p95 ${pct(xs, 95).toFixed(1).padStart(7)} ms`;
  console.log(row('small uploads, idle', idle));
  console.log(row(`small uploads, ${largeAtoms}-atom CIF parsing`, busy));
  console.log(`p95 ratio busy/idle: ${(pct(busy, 95) / pct(idle, 95)).toFixed(2)} (${busyAll} small uploads finished during the large one)`);
  console.log(`${largeAtoms}-atom P1 CIF upload: ${(largeMs / 1000).toFixed(2)} s (started at +0, small series ran ${((performance.now() - t0) / 1000).toFixed(1)} s in all)`);
  console.log(`${bigAtoms}-atom P1 CIF upload (parse + validation): ${(bigMs / 1000).toFixed(2)} s`);
} finally {
  await stack.stop();
}
