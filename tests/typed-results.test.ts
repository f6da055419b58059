/**
 * Typed results on real runs of every task type (calf, lj_test or SevenNet-0, a few steps): each result answers
 * the spec's per-type schema (ajv over openapi/mofsim.yaml) and the reference Python client's `TaskResult`
 * accessors (CONTRACT.md §12.1, with their fallback keys) read the values our unit-suffixed fields hold.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';
import { apiSpecPath } from '../server/app.js';
import { api, calfPath, startTestStack, submit, upload, waitForTask, type TestStack } from './helpers/stack.js';

const addFormats = addFormatsModule as unknown as (a: Ajv2020) => void;
const spec = parse(readFileSync(apiSpecPath, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, 'spec');
const resultResponse = ajv.getSchema('spec#/paths/~1api~1v1~1tasks~1{task_id}~1result/get/responses/200/content/application~1json/schema')!;

/** `mofsim_client.TaskResult` accessors: `result_data = data["result"]`, Python `or` between fallback keys. */
function pythonTaskResult(data: any) {
  const r = data.result ?? data;
  const get = (k: string) => r[k] ?? null;
  const or = (a: string, b: string) => get(a) || get(b) || null; // Python's `x or y` (0 and False fall through)
  return {
    initial_energy: get('initial_energy'), final_energy: get('final_energy'), optimization_steps: or('n_steps', 'steps'),
    converged: get('converged'), final_fmax: or('fmax', 'final_fmax'),
    is_stable: get('is_stable'), final_temperature: get('final_temperature'), final_pressure: get('final_pressure'),
    bulk_modulus: or('bulk_modulus', 'K0'), bulk_modulus_derivative: or('bulk_modulus_derivative', 'K0_prime'),
    equilibrium_volume: or('equilibrium_volume', 'V0'), equilibrium_energy: or('equilibrium_energy', 'E0'),
    fitting_r_squared: or('r_squared', 'fit_quality'),
    heat_capacity: or('heat_capacity', 'Cv'), entropy: get('entropy'), free_energy: get('free_energy'),
    interaction_energy: get('interaction_energy'), binding_energy: get('binding_energy'), energy: get('energy'),
  };
}

let stack: TestStack;
const done: Record<string, any> = {};
const close = (a: number, b: number, rel = 1e-9) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));

before(async () => {
  stack = await startTestStack({ workers: 1 });
  const file_id = (await upload(stack.baseUrl, 'calf.cif', readFileSync(calfPath))).body.data.id;
  const runs: Record<string, Record<string, unknown>> = {
    optimization: { fmax: 0.05, max_steps: 15 },
    'single-point-energy': {},
    stability: { opt_steps: 5, nvt_steps: 20, npt_steps: 20, seed: 7 },
    // SevenNet-0 (lj_test's E(V) on calf has no minimum to fit): five fixed-geometry points around the CIF volume.
    'bulk-modulus': { opt_steps: 0, npoints: 5, point_steps: 0 },
    'heat-capacity': { opt_steps: 5, t_min_K: 0, t_max_K: 500, t_step_K: 50 },
    // calf's last three atoms play the guest: a real E(complex) − E(framework) − E(guest) on the same model.
    'interaction-energy': { guest_indices: [41, 42, 43] },
  };
  const ids = await Promise.all(Object.entries(runs).map(async ([type, parameters]) => {
    const model = type === 'bulk-modulus' ? 'sevennet_prod' : 'lj_test';
    const t = await submit(stack.baseUrl, type, { model, structure: { source: 'upload', file_id }, parameters });
    assert.equal(t.status, 202, `${type}: ${JSON.stringify(t.body)}`);
    return [type, t.body.data.task_id] as const;
  }));
  for (const [type, id] of ids) {
    const task = await waitForTask(stack.baseUrl, id, 600_000);
    assert.equal(task.status, 'COMPLETED', `${type}: ${JSON.stringify(task)}`);
    const res = await api(stack.baseUrl, `/api/v1/tasks/${id}/result`);
    assert.equal(res.status, 200);
    done[type] = res.body;
  }
});
after(async () => { await stack?.stop(); });

describe('typed results', () => {
  it('answers the per-type result schema for every task type', () => {
    for (const [type, body] of Object.entries(done)) {
      assert.ok(resultResponse(body), `${type}: ${ajv.errorsText(resultResponse.errors)}`);
    }
    // The schema is enforced by type: an optimization result without its Python names does not pass.
    const stripped = structuredClone(done.optimization);
    delete stripped.data.result.final_energy;
    assert.equal(resultResponse(stripped), false);
  });

  it('optimization: initial/final energy, steps, converged, final fmax', () => {
    const r = done.optimization.data.result;
    const py = pythonTaskResult(done.optimization.data);
    assert.equal(py.initial_energy, r.energy_history[0]);
    assert.equal(py.final_energy, r.energy_history.at(-1));
    assert.equal(py.initial_energy, r.initial_energy_eV);
    assert.equal(py.final_energy, r.final_energy_eV);
    assert.ok(py.final_energy! <= py.initial_energy!, 'a relaxation lowers the energy');
    assert.equal(py.optimization_steps, r.steps);
    assert.ok(r.steps >= 1 && r.steps <= 15);
    assert.equal(py.converged, r.converged);
    assert.equal(py.final_fmax, r.max_force_eV_A);
    assert.ok(py.final_fmax! > 0);
  });

  it('single point: energy', () => {
    const r = done['single-point-energy'].data.result;
    const py = pythonTaskResult(done['single-point-energy'].data);
    assert.ok(Number.isFinite(py.energy));
    assert.equal(py.energy, r.energy_eV);
    assert.ok(close(r.energy_per_atom_eV * r.n_atoms, py.energy!, 1e-9));
  });

  it('stability: is_stable, final temperature (K) and pressure (GPa)', () => {
    const r = done.stability.data.result;
    const py = pythonTaskResult(done.stability.data);
    assert.equal(py.is_stable, r.stable);
    assert.equal(typeof py.is_stable, 'boolean');
    assert.equal(py.final_temperature, r.final_temperature_K);
    assert.ok(py.final_temperature! > 0 && py.final_temperature! < 3000, `T ${py.final_temperature} K`);
    assert.equal(py.final_pressure, r.final_pressure_GPa);
    assert.ok(Number.isFinite(py.final_pressure) && Math.abs(py.final_pressure!) < 100, `P ${py.final_pressure} GPa`);
  });

  it('bulk modulus: B, B′, V0, E0 and the fit R²', () => {
    const r = done['bulk-modulus'].data.result;
    const py = pythonTaskResult(done['bulk-modulus'].data);
    assert.equal(r.volumes_A3.length, 5);
    assert.deepEqual([r.volumes, r.energies], [r.volumes_A3, r.energies_eV]);
    assert.equal(py.bulk_modulus, r.bulk_modulus_GPa);
    assert.equal(py.bulk_modulus_derivative, r.pressure_derivative);
    assert.equal(py.equilibrium_volume, r.equilibrium_volume_A3);
    assert.equal(py.equilibrium_energy, r.equilibrium_energy_eV);
    assert.equal(py.fitting_r_squared, r.fit_r_squared);
    assert.ok(Number.isFinite(r.bulk_modulus_GPa) && r.bulk_modulus_GPa > 0, JSON.stringify(r).slice(0, 400));
    assert.ok(r.fit_r_squared > 0.9 && r.fit_r_squared <= 1, `R² ${r.fit_r_squared}`);
    assert.ok(Math.min(...r.volumes_A3) < r.equilibrium_volume_A3 * 1.2 && r.equilibrium_volume_A3 < Math.max(...r.volumes_A3) * 1.2);
  });

  it('heat capacity: Cv, S (J/(K·mol)) and F (eV) at 300 K', () => {
    const r = done['heat-capacity'].data.result;
    const py = pythonTaskResult(done['heat-capacity'].data);
    const i = r.temperatures_K.indexOf(300);
    assert.ok(i > 0, JSON.stringify(r.temperatures_K));
    assert.deepEqual(r.temperatures, r.temperatures_K);
    assert.equal(py.heat_capacity, r.heat_capacity_J_per_K_mol[i]);
    assert.equal(py.entropy, r.entropy_J_per_K_mol[i]);
    // 1 kJ/mol = 1000 / (e · N_A) eV
    assert.ok(close(py.free_energy!, (r.free_energy_kJ_per_mol[i] * 1000) / (1.602176634e-19 * 6.02214076e23), 1e-6), `${py.free_energy} eV`);
    // The same Cv per gram (the benchmark's number) times the cell's molar mass.
    assert.ok(close(r.heat_capacity_at_300K * r.total_mass_amu, py.heat_capacity!, 1e-6));
    assert.ok(py.heat_capacity! > 0 && py.entropy! > 0);
  });

  it('interaction energy: E_int and the binding energy', () => {
    const r = done['interaction-energy'].data.result;
    const py = pythonTaskResult(done['interaction-energy'].data);
    assert.equal(py.interaction_energy, r.interaction_energy_eV);
    assert.ok(close(py.interaction_energy!, r.complex_energy_eV - r.framework_energy_eV - r.guest_energy_eV, 1e-9));
    assert.equal(py.binding_energy, -r.interaction_energy_eV);
  });
});
