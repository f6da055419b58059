/** SVG plots: each renders, parses as SVG and holds one mark per data point (not just a 200). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { scoreTasks, type ScorableTask } from '../scoring/campaign-scores.js';
import { birchMurnaghanEnergy, campaignPlotSpec, renderSvg, taskPlotSpec } from '../scoring/plots.js';

/** Paths inside the `<g class="mark-<type> …">` groups of a Vega SVG (one per symbol / tick; one per line). */
function marks(svg: string, type: string): number {
  assert.equal(XMLValidator.validate(svg), true, 'the SVG is well-formed XML');
  const doc = new XMLParser({ ignoreAttributes: false }).parse(svg);
  assert.ok(doc.svg, 'root element is <svg>');
  let n = 0;
  const walk = (node: unknown, inside: boolean): void => {
    if (Array.isArray(node)) { node.forEach((c) => walk(c, inside)); return; }
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    const cls = String(o['@_class'] ?? '');
    // role-mark: the data marks (legends draw symbols too, with role-legend-symbol).
    const here = inside || (cls.split(' ').includes(`mark-${type}`) && cls.split(' ').includes('role-mark'));
    for (const [k, v] of Object.entries(o)) {
      if (k === 'path' && here) n += Array.isArray(v) ? v.length : 1;
      else if (!k.startsWith('@_')) walk(v, here);
    }
  };
  walk(doc.svg, false);
  return n;
}

const task = (over: Partial<ScorableTask>): ScorableTask => ({
  id: Math.random().toString(36).slice(2), taskType: 'bulk-modulus', model: 'm', structureName: 'calf', status: 'COMPLETED',
  parameters: {}, result: null, errorType: null, errorMessage: null, createdAt: new Date(), ...over,
});

describe('campaign plots', () => {
  const scores = scoreTasks([
    task({ structureName: 'calf', result: { bulk_modulus_GPa: 25, minimum_outside_1_percent: false } }),
    task({ structureName: 'LTA', result: { bulk_modulus_GPa: 30, minimum_outside_1_percent: false } }),
    task({ structureName: 'SAS_primitive', result: { bulk_modulus_GPa: 40, minimum_outside_1_percent: false } }),
    task({ structureName: 'FER', status: 'FAILED' }), // not a point
    task({ taskType: 'heat-capacity', structureName: 'RSM0010', result: { heat_capacity_at_300K: 0.7 } }),
    task({ taskType: 'heat-capacity', structureName: 'RSM0009', result: { heat_capacity_at_300K: 0.72 } }),
    task({ taskType: 'optimization', structureName: 'calf', result: { final_volume_A3: 700 } }),
    task({ taskType: 'optimization', structureName: 'LTA', result: { final_volume_A3: 1900 } }),
  ]);

  it('parity plot of the bulk modulus: one point per scored structure', async () => {
    const svg = await renderSvg(campaignPlotSpec('parity-bulk-modulus', scores));
    assert.equal(marks(svg, 'symbol'), 3);
    assert.equal(marks(svg, 'line'), 1); // the y = x diagonal
  });

  it('parity plot of Cv(300 K) and the volume-change distribution', async () => {
    assert.equal(marks(await renderSvg(campaignPlotSpec('parity-heat-capacity', scores)), 'symbol'), 2);
    const dist = await renderSvg(campaignPlotSpec('volume-change', scores));
    assert.equal(marks(dist, 'rect'), 2, 'one tick per optimized structure');
  });
});

describe('task plots', () => {
  it('EOS: the E(V) points and the fitted Birch–Murnaghan curve through its minimum', async () => {
    const V0 = 100; const E0 = -10; const B = 20; const Bp = 4;
    const volumes = [96, 98, 100, 102, 104];
    const energies = volumes.map((v) => birchMurnaghanEnergy(v, E0, B / 160.21766208, Bp, V0));
    const spec = taskPlotSpec('eos', { volumes_A3: volumes, energies_eV: energies, equilibrium_volume_A3: V0, equilibrium_energy_eV: E0,
      bulk_modulus_GPa: B, pressure_derivative: Bp, eos: 'birchmurnaghan' })!;
    const svg = await renderSvg(spec);
    assert.equal(marks(svg, 'symbol'), 5);
    assert.equal(marks(svg, 'line'), 1);
    assert.match(svg, /B = 20\.00 GPa/);
    // The curve's minimum is E0 at V0 (a wrong energy form would not be).
    assert.ok(Math.abs(birchMurnaghanEnergy(V0, E0, 0.1, 4, V0) - E0) < 1e-12);
    assert.ok(birchMurnaghanEnergy(99, E0, 0.1, 4, V0) > E0 && birchMurnaghanEnergy(101, E0, 0.1, 4, V0) > E0);
  });

  it('Cv(T) and the MD volume trace draw every point; a result without the data has no plot', async () => {
    const cv = await renderSvg(taskPlotSpec('cv', { temperatures_K: [0, 100, 200, 300], heat_capacities: [0, 0.3, 0.5, 0.7] })!);
    assert.equal(marks(cv, 'symbol'), 4);
    const trace = await renderSvg(taskPlotSpec('volume-trace', { volume_trace: [
      { step: 0, stage: 'opt', volume_A3: 100 }, { step: 100, stage: 'nvt', volume_A3: 100 }, { step: 200, stage: 'npt', volume_A3: 101 },
    ] })!);
    assert.equal(marks(trace, 'symbol'), 3);
    assert.equal(taskPlotSpec('eos', { energy_eV: -1 }), null);
  });
});
