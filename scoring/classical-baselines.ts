/**
 * The classical UFF / UFF4MOF baselines shipped with MOFSimBench (LAMMPS via lammps-interface, data/mofsimbench/uff/,
 * PROTOCOLS.md §3.4), turned into task outcomes and scored by the same functions as the models' tasks, so they
 * appear as reference rows of the leaderboard.
 *
 * Reading the LAMMPS files: volumes are of the LAMMPS supercell (divided here by the product of
 * `supercell_factor`); a minimisation that used all 5000 steps (`total_step` 5001) did not converge; an NpT run
 * is complete at `total_step` 50001 (steps 1000 → 51000), a shorter one crashed. Names come from the benchmark's
 * older candidate set and are normalised (strip `_primitive` and `_P1`, drop a leading `AW_`) to today's keys.
 */
import { referenceCsv, referenceTables } from './reference-data.js';
import { scoreOptimization, scoreStability, type ProtocolReport, type TaskOutcome } from './metrics.js';

export interface ClassicalBaseline {
  /** Row id on the leaderboard. */
  model: string;
  label: string;
  dir: string;
  file: string;
}

export const CLASSICAL_BASELINES: ClassicalBaseline[] = [
  { model: 'uff4mof_no_fix_metal', label: 'UFF4MOF', dir: 'uff4mof_setting_for_mini_npt_cu', file: 'uff4mof_no_fix_metal' },
  { model: 'uff4mof_fix_metal', label: 'UFF4MOF (fixed metal)', dir: 'uff4mof_setting_for_mini_npt_cu', file: 'uff4mof_fix_metal' },
  { model: 'uff_no_fix_metal', label: 'UFF', dir: 'uff_setting_for_mini_npt_cu', file: 'uff_no_fix_metal' },
  { model: 'uff_fix_metal', label: 'UFF (fixed metal)', dir: 'uff_setting_for_mini_npt_cu', file: 'uff_fix_metal' },
];

/**
 * Today's main-set structures the baselines cover: 98 of 100, as PROTOCOLS.md §3.4 counts them (16050N2 has no
 * baseline line; NAVJAW_full is left out there too, although a `NAVJAW_full_primitive` line exists — counting it
 * gives 66 / 77 / 74 / 88 of 99, see the README).
 */
export const BASELINE_EXCLUDED = new Set(['NAVJAW_full']);

const OPT_MAX_TOTAL_STEP = 5001;
const NPT_COMPLETE_TOTAL_STEP = 50001;

/** The benchmark key of a baseline line's `MOF_name`. */
export function baselineStructureKey(name: string): string {
  return name.replaceAll('_primitive', '').replaceAll('_P1', '').replace(/^AW_/, '');
}

function supercellProduct(s: string): number {
  return (JSON.parse(s) as number[]).reduce((a, b) => a * b, 1);
}

function lines(b: ClassicalBaseline, kind: 'opt' | 'nptmd_atomic'): Record<string, string>[] {
  const main = referenceTables().structures;
  return referenceCsv(`uff/${b.dir}/calculation_results/${b.file}/parse_${b.file}_lammps_${kind}_results.csv`)
    .filter((r) => {
      const key = baselineStructureKey(r.MOF_name);
      return main.has(key) && !BASELINE_EXCLUDED.has(key);
    });
}

/** The baseline's minimisations as optimization outcomes (final volume per cell, convergence). */
export function baselineOptimizationOutcomes(b: ClassicalBaseline): TaskOutcome[] {
  return lines(b, 'opt').map((r) => {
    const totalStep = Number(r.total_step);
    return {
      structure: baselineStructureKey(r.MOF_name), status: 'COMPLETED',
      result: {
        final_volume_A3: Number(r.final_step_volume) / supercellProduct(r.supercell_factor),
        initial_volume_A3: Number(r.initial_step_volume) / supercellProduct(r.supercell_factor),
        converged: totalStep < OPT_MAX_TOTAL_STEP,
        steps: totalStep - 1,
        status: 'ok',
      },
    };
  });
}

/** The baseline's 50 ps NpT runs as stability outcomes (V_end / V_start − 1; an incomplete run crashed). */
export function baselineStabilityOutcomes(b: ClassicalBaseline): TaskOutcome[] {
  return lines(b, 'nptmd_atomic').map((r) => {
    const complete = Number(r.total_step) === NPT_COMPLETE_TOTAL_STEP;
    const dv = (Number(r.final_step_volume) / Number(r.initial_step_volume) - 1) * 100;
    return {
      structure: baselineStructureKey(r.MOF_name), status: 'COMPLETED',
      result: complete
        ? { status: 'ok', volume_change_percent: dv, variant: 'ambient' }
        : { status: 'exploded', failure_reason: `LAMMPS run stopped at step ${r.final_step} of 51000`, variant: 'ambient' },
    };
  });
}

export interface BaselineReport {
  baseline: ClassicalBaseline;
  optimization: ProtocolReport;
  stability: ProtocolReport;
}

let cached: BaselineReport[] | undefined;

/** Every baseline scored on optimization and MD stability (computed once; the data never changes at run time). */
export function classicalBaselineReports(): BaselineReport[] {
  cached ??= CLASSICAL_BASELINES.map((baseline) => ({
    baseline,
    optimization: scoreOptimization(baselineOptimizationOutcomes(baseline)),
    stability: scoreStability(baselineStabilityOutcomes(baseline)),
  }));
  return cached;
}
