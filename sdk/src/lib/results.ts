/**
 * Typed results per task type, with the properties of the Python SDK's result classes (camelCase; the wire
 * fields stay in `resultData`). Each property reads the engine's key and then the Python SDK's fallbacks.
 */
import type { TaskResultData, TaskType } from '../types';

type R = Record<string, unknown>;
const num = (r: R, ...keys: string[]): number | null => {
  for (const k of keys) if (typeof r[k] === 'number') return r[k] as number;
  return null;
};
const pick = <T>(r: R, ...keys: string[]): T | null => {
  for (const k of keys) if (r[k] !== undefined && r[k] !== null) return r[k] as T;
  return null;
};

/** Base result (Python: TaskResult). */
export class TaskResult {
  /** The physics output as the server sent it (snake_case, units in the names). */
  readonly resultData: R;
  constructor(readonly raw: TaskResultData) { this.resultData = (raw.result ?? {}) as R; }
  get taskId(): string { return this.raw.task_id; }
  get taskType(): TaskType { return this.raw.task_type; }
  get status(): string { return this.raw.status; }
  /** True when the task COMPLETED (a physics outcome like "not converged" is still a success with a reason). */
  get success(): boolean { return this.raw.status === 'COMPLETED'; }
  get error(): { type: string; detail: string } | null { return (this.raw.error as { type: string; detail: string } | null) ?? null; }
  /** Seconds from start to end (Python: execution_time). */
  get executionTime(): number | null { return this.raw.metrics?.duration_seconds ?? null; }
  /** Download URLs of output files (relative to the server). */
  get outputFiles(): Record<string, string> { return (this.raw.output_files ?? {}) as Record<string, string>; }
  get provenance(): R | null { return pick<R>(this.resultData, 'provenance'); }
  get warnings(): string[] { return pick<string[]>(this.resultData, 'warnings') ?? []; }
  toJSON() { return this.raw; }
}

export class OptimizationResult extends TaskResult {
  get converged(): boolean | null { return pick<boolean>(this.resultData, 'converged'); }
  get optimizationSteps(): number | null { return num(this.resultData, 'steps', 'n_steps'); }
  get initialEnergy(): number | null { return num(this.resultData, 'initial_energy_eV', 'initial_energy'); }
  get finalEnergy(): number | null { return num(this.resultData, 'final_energy_eV', 'final_energy'); }
  get energyChange(): number | null {
    const a = this.initialEnergy; const b = this.finalEnergy;
    return a !== null && b !== null ? b - a : num(this.resultData, 'energy_change');
  }
  get finalFmax(): number | null { return num(this.resultData, 'fmax_final_eV_A', 'max_force_eV_A', 'final_fmax', 'fmax'); }
  get initialVolume(): number | null { return num(this.resultData, 'initial_volume_A3'); }
  get finalVolume(): number | null { return num(this.resultData, 'final_volume_A3'); }
  get volumeChangePercent(): number | null { return num(this.resultData, 'volume_change_percent'); }
  get energyHistory(): number[] { return pick<number[]>(this.resultData, 'energy_history') ?? []; }
  /** URL of the relaxed structure (Python: optimized_structure_file). */
  get optimizedStructureFile(): string | null { return this.outputFiles.final_structure ?? Object.values(this.outputFiles).find((u) => u.endsWith('.cif')) ?? null; }
}

export class StabilityResult extends TaskResult {
  get isStable(): boolean | null { return pick<boolean>(this.resultData, 'stable', 'is_stable'); }
  get instabilityReason(): string | null { return pick<string>(this.resultData, 'instability_reason'); }
  get volumeChangePercent(): number | null { return num(this.resultData, 'volume_change_percent'); }
  get maxDisplacement(): number | null { return num(this.resultData, 'max_displacement_A'); }
  get temperatureDrift(): number | null { return num(this.resultData, 'temperature_drift_K'); }
  get energyDrift(): number | null { return num(this.resultData, 'energy_drift_eV'); }
  get finalTemperature(): number | null { return num(this.resultData, 'final_temperature_K', 'final_temperature'); }
  get trajectoryFile(): string | null { return this.outputFiles.trajectory ?? null; }
}

export class BulkModulusResult extends TaskResult {
  /** GPa. */
  get bulkModulus(): number | null { return num(this.resultData, 'bulk_modulus_GPa', 'B_GPa', 'bulk_modulus', 'K0'); }
  get bulkModulusDerivative(): number | null { return num(this.resultData, 'pressure_derivative', 'Bp', 'bulk_modulus_derivative', 'K0_prime'); }
  /** Å³. */
  get equilibriumVolume(): number | null { return num(this.resultData, 'equilibrium_volume_A3', 'v0', 'equilibrium_volume', 'V0'); }
  /** eV. */
  get equilibriumEnergy(): number | null { return num(this.resultData, 'equilibrium_energy_eV', 'e0', 'equilibrium_energy', 'E0'); }
  get fittingRmse(): number | null { return num(this.resultData, 'rmse'); }
  get volumes(): number[] { return pick<number[]>(this.resultData, 'volumes_A3', 'volumes') ?? []; }
  get energies(): number[] { return pick<number[]>(this.resultData, 'energies_eV', 'energies') ?? []; }
  get dftBulkModulus(): number | null { return num(this.resultData, 'dft_bulk_modulus_GPa'); }
}

export class HeatCapacityResult extends TaskResult {
  /** J/(g·K) at 300 K. */
  get heatCapacity(): number | null { return num(this.resultData, 'heat_capacity_at_300K', 'heat_capacity', 'Cv'); }
  get heatCapacityAt300K(): number | null { return this.heatCapacity; }
  get temperatures(): number[] { return pick<number[]>(this.resultData, 'temperatures_K', 'temperatures') ?? []; }
  get heatCapacities(): number[] { return pick<number[]>(this.resultData, 'heat_capacity_J_per_g_K', 'heat_capacities') ?? []; }
  get entropy(): number[] | null { return pick<number[]>(this.resultData, 'entropy'); }
  get freeEnergy(): number[] | null { return pick<number[]>(this.resultData, 'free_energy'); }
}

export class InteractionEnergyResult extends TaskResult {
  /** eV. */
  get interactionEnergy(): number | null { return num(this.resultData, 'interaction_energy_eV', 'interaction_energy'); }
  get bindingEnergy(): number | null { const e = this.interactionEnergy; return e === null ? num(this.resultData, 'binding_energy') : -e; }
  get adsorbate(): string | null { return pick<string>(this.resultData, 'guest', 'adsorbate'); }
}

export class SinglePointResult extends TaskResult {
  /** eV. */
  get energy(): number | null { return num(this.resultData, 'energy_eV', 'energy'); }
  /** eV/Å, one row per atom. */
  get forces(): number[][] | null { return pick<number[][]>(this.resultData, 'forces_eV_A', 'forces'); }
  get maxForce(): number | null { return num(this.resultData, 'max_force_eV_A'); }
  /** GPa, Voigt order. */
  get stress(): number[] | null { return pick<number[]>(this.resultData, 'stress_GPa', 'stress'); }
}

export type AnyTaskResult = OptimizationResult | StabilityResult | BulkModulusResult | HeatCapacityResult | InteractionEnergyResult | SinglePointResult;

/** Result class per wire task type. */
export interface ResultOf {
  optimization: OptimizationResult;
  stability: StabilityResult;
  'bulk-modulus': BulkModulusResult;
  'heat-capacity': HeatCapacityResult;
  'interaction-energy': InteractionEnergyResult;
  'single-point-energy': SinglePointResult;
}

export function resultFor(raw: TaskResultData): AnyTaskResult {
  switch (raw.task_type) {
    case 'optimization': return new OptimizationResult(raw);
    case 'stability': return new StabilityResult(raw);
    case 'bulk-modulus': return new BulkModulusResult(raw);
    case 'heat-capacity': return new HeatCapacityResult(raw);
    case 'interaction-energy': return new InteractionEnergyResult(raw);
    default: return new SinglePointResult(raw);
  }
}
