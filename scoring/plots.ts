/**
 * SVG plots of benchmark results, built as Vega-Lite specs and rendered server-side by Vega (no browser, no
 * canvas): per campaign the parity plots predicted vs DFT (bulk modulus, heat capacity) and the distribution of the
 * optimization volume change vs DFT; per task the EOS fit, Cv(T) and the MD volume trace.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { ModelProtocolScore } from './campaign-scores.js';

export const CAMPAIGN_PLOTS = ['parity-bulk-modulus', 'parity-heat-capacity', 'volume-change'] as const;
export const TASK_PLOTS = ['eos', 'cv', 'volume-trace'] as const;
export type CampaignPlot = (typeof CAMPAIGN_PLOTS)[number];
export type TaskPlot = (typeof TASK_PLOTS)[number];

/** eV/Å³ → GPa (ase.units: 1 / GPa). */
const EV_PER_A3_IN_GPA = 160.21766208;

/** Renders a Vega-Lite spec to an SVG document. */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

type Row = Record<string, unknown>;
const WIDTH = 420;
const HEIGHT = 320;

function parity(title: string, unit: string, rows: Row[]): vl.TopLevelSpec {
  const values = rows.map((r) => [r.reference as number, r.value as number]).flat();
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  const pad = (hi - lo) * 0.05 || 0.1;
  const domain = [lo - pad, hi + pad];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json', title, width: WIDTH, height: HEIGHT,
    layer: [
      { data: { values: [{ x: domain[0], y: domain[0] }, { x: domain[1], y: domain[1] }] }, mark: { type: 'line', color: '#999', strokeDash: [4, 4] },
        encoding: { x: { field: 'x', type: 'quantitative', scale: { domain } }, y: { field: 'y', type: 'quantitative', scale: { domain } } } },
      { data: { values: rows }, mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          x: { field: 'reference', type: 'quantitative', title: `DFT (${unit})`, scale: { domain } },
          y: { field: 'value', type: 'quantitative', title: `predicted (${unit})`, scale: { domain } },
          color: { field: 'model', type: 'nominal' },
          tooltip: [{ field: 'structure' }, { field: 'model' }, { field: 'value' }, { field: 'reference' }],
        } },
    ],
  };
}

/** The Vega-Lite spec of a campaign plot from its scores (scored structures only). */
export function campaignPlotSpec(kind: CampaignPlot, scores: ModelProtocolScore[]): vl.TopLevelSpec {
  const rows = (protocol: string) => scores.filter((s) => s.protocol === protocol)
    .flatMap((s) => s.structures.filter((r) => r.outcome === 'scored').map((r) => ({ ...r, model: s.model })));
  if (kind === 'parity-bulk-modulus') return parity('Bulk modulus: predicted vs DFT', 'GPa', rows('bulk_modulus'));
  if (kind === 'parity-heat-capacity') return parity('Cv(300 K): predicted vs DFT', 'J/(K·g)', rows('heat_capacity'));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json', title: 'Optimization: volume change vs DFT',
    width: WIDTH, height: HEIGHT, data: { values: rows('optimization') },
    layer: [
      { mark: { type: 'tick', thickness: 2 }, encoding: {
        x: { field: 'error_percent', type: 'quantitative', title: 'V / V_DFT − 1 (%)' },
        y: { field: 'model', type: 'nominal' },
        color: { field: 'within_tolerance', type: 'nominal', title: 'within ±10 %' },
        tooltip: [{ field: 'structure' }, { field: 'error_percent' }],
      } },
      { data: { values: [{ x: -10 }, { x: 10 }] }, mark: { type: 'rule', color: '#999', strokeDash: [4, 4] }, encoding: { x: { field: 'x', type: 'quantitative' } } },
    ],
  };
}

/** ase.eos "birchmurnaghan": E(V) with B in eV/Å³. */
export function birchMurnaghanEnergy(V: number, E0: number, B0: number, Bp: number, V0: number): number {
  const eta2 = (V0 / V) ** (2 / 3);
  return E0 + (9 * B0 * V0 / 16) * ((eta2 - 1) ** 3 * Bp + (eta2 - 1) ** 2 * (6 - 4 * eta2));
}

function numbers(v: unknown): number[] {
  return Array.isArray(v) ? v.map((x) => (typeof x === 'number' ? x : NaN)) : [];
}

/** The Vega-Lite spec of a task plot, or null when the task's result has no such data. */
export function taskPlotSpec(kind: TaskPlot, result: Record<string, unknown>): vl.TopLevelSpec | null {
  const base = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', width: WIDTH, height: HEIGHT } as const;
  if (kind === 'eos') {
    const V = numbers(result.volumes_A3);
    const E = numbers(result.energies_eV);
    const points = V.map((v, i) => ({ volume_A3: v, energy_eV: E[i] })).filter((p) => Number.isFinite(p.volume_A3) && Number.isFinite(p.energy_eV));
    if (!points.length) return null;
    const [V0, E0, B, Bp] = [result.equilibrium_volume_A3, result.equilibrium_energy_eV, result.bulk_modulus_GPa, result.pressure_derivative];
    const layers: Record<string, unknown>[] = [];
    if ([V0, E0, B, Bp].every((x) => typeof x === 'number' && Number.isFinite(x)) && result.eos === 'birchmurnaghan') {
      const lo = Math.min(...points.map((p) => p.volume_A3));
      const hi = Math.max(...points.map((p) => p.volume_A3));
      const curve = Array.from({ length: 101 }, (_, i) => {
        const v = lo + ((hi - lo) * i) / 100;
        return { volume_A3: v, energy_eV: birchMurnaghanEnergy(v, E0 as number, (B as number) / EV_PER_A3_IN_GPA, Bp as number, V0 as number) };
      });
      layers.push({ data: { values: curve }, mark: { type: 'line', color: '#4c78a8' },
        encoding: { x: { field: 'volume_A3', type: 'quantitative' }, y: { field: 'energy_eV', type: 'quantitative' } } });
    }
    layers.push({ data: { values: points }, mark: { type: 'point', filled: true, size: 60, color: '#e45756' },
      encoding: { x: { field: 'volume_A3', type: 'quantitative', title: 'volume (Å³)', scale: { zero: false } },
        y: { field: 'energy_eV', type: 'quantitative', title: 'energy (eV)', scale: { zero: false } } } });
    const title = typeof B === 'number' ? `EOS (${String(result.eos)}): B = ${B.toFixed(2)} GPa` : 'E(V) points (no fit)';
    return { ...base, title, layer: layers } as unknown as vl.TopLevelSpec;
  }
  if (kind === 'cv') {
    const T = numbers(result.temperatures_K ?? result.temperatures);
    const C = numbers(result.heat_capacities);
    const values = T.map((t, i) => ({ temperature_K: t, cv_J_per_K_g: C[i] })).filter((p) => Number.isFinite(p.temperature_K) && Number.isFinite(p.cv_J_per_K_g));
    if (!values.length) return null;
    return { ...base, title: 'Heat capacity Cv(T)', data: { values }, mark: { type: 'line', point: true },
      encoding: { x: { field: 'temperature_K', type: 'quantitative', title: 'T (K)' }, y: { field: 'cv_J_per_K_g', type: 'quantitative', title: 'Cv (J/(K·g))' } } };
  }
  const frames = Array.isArray(result.volume_trace) ? (result.volume_trace as Row[]) : [];
  const values = frames.map((f, i) => ({ frame: i, step: f.step ?? i, volume_A3: f.volume_A3, stage: String(f.stage ?? f.stage_index ?? '') }))
    .filter((f) => typeof f.volume_A3 === 'number' && Number.isFinite(f.volume_A3));
  if (!values.length) return null;
  return { ...base, title: 'MD volume trace', data: { values }, mark: { type: 'line', point: true },
    encoding: { x: { field: 'step', type: 'quantitative', title: 'step' }, y: { field: 'volume_A3', type: 'quantitative', title: 'volume (Å³)', scale: { zero: false } },
      color: { field: 'stage', type: 'nominal' } } };
}
