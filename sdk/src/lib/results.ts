/**
 * Typed results per task type, with the properties of the Python SDK's result classes (camelCase). Each class is
 * built on the spec's schema of its task type (`resultData`, generated from openapi/mofsim.yaml) and each
 * property reads one documented field: units are the spec's.
 */
import type {
  BulkModulusResultData, HeatCapacityResultData, InteractionEnergyResultData, OptimizationResultData, SinglePointResultData,
  StabilityResultData, TaskResultData, TaskType,
} from '../types';

/** Base result (Python: TaskResult); `D` is the task type's result schema. */
export class TaskResult<D extends object = Record<string, unknown>> {
  /** The physics output as the server sent it (snake_case, units in the names). */
  readonly resultData: D;
  constructor(readonly raw: TaskResultData) { this.resultData = (raw.result ?? {}) as D; }
  get taskId(): string { return this.raw.task_id; }
  get taskType(): TaskType { return this.raw.task_type; }
  get status(): string { return this.raw.status; }
  /** True when the task COMPLETED (a physics outcome like "not converged" is still a success with a reason). */
  get success(): boolean { return this.raw.status === 'COMPLETED'; }
  get error(): { type: string; detail: string } | null { return (this.raw.error as { type: string; detail: string } | null) ?? null; }
  /** Seconds from start to end (Python: execution_time). */
  get executionTime(): number | null { return this.raw.metrics?.duration_seconds ?? null; }
  /** Download URLs of output files (relative to the server), by role. */
  get outputFiles(): Record<string, string> { return (this.raw.output_files ?? {}) as Record<string, string>; }
  private get common(): { status?: string; warnings?: string[]; provenance?: Record<string, unknown> } { return this.resultData as never; }
  /** The physics outcome: ok, not_converged, exploded, nan, fit_failed, … */
  get outcome(): string | null { return this.common.status ?? null; }
  get provenance(): Record<string, unknown> | null { return this.common.provenance ?? null; }
  get warnings(): string[] { return this.common.warnings ?? []; }
  toJSON() { return this.raw; }
}

export class OptimizationResult extends TaskResult<OptimizationResultData> {
  get converged(): boolean { return this.resultData.converged; }
  get optimizationSteps(): number { return this.resultData.steps; }
  /** eV. */
  get initialEnergy(): number | null { return this.resultData.initial_energy_eV; }
  /** eV. */
  get finalEnergy(): number | null { return this.resultData.final_energy_eV; }
  /** eV. */
  get energyChange(): number | null {
    const a = this.initialEnergy; const b = this.finalEnergy;
    return a !== null && b !== null ? b - a : null;
  }
  /** eV/Å: the largest force on the optimised degrees of freedom at the end. */
  get finalFmax(): number | null { return this.resultData.max_force_eV_A; }
  /** Å³. */
  get initialVolume(): number | null { return this.resultData.initial_volume_A3 ?? null; }
  /** Å³. */
  get finalVolume(): number | null { return this.resultData.final_volume_A3 ?? null; }
  get volumeChangePercent(): number | null { return this.resultData.volume_change_percent ?? null; }
  /** eV per step. */
  get energyHistory(): (number | null)[] { return this.resultData.energy_history ?? []; }
  /** URL of the relaxed structure (Python: optimized_structure_file). */
  get optimizedStructureFile(): string | null { return this.outputFiles.final_structure ?? Object.values(this.outputFiles).find((u) => u.endsWith('.cif')) ?? null; }
}

export class StabilityResult extends TaskResult<StabilityResultData> {
  get isStable(): boolean { return this.resultData.stable; }
  get instabilityReason(): string | null { return this.resultData.instability_reason; }
  get volumeChangePercent(): number | null { return this.resultData.volume_change_percent; }
  /** Å. */
  get maxDisplacement(): number | null { return this.resultData.max_displacement_A ?? null; }
  /** K: mean temperature of the last MD stage minus its target. */
  get temperatureDrift(): number | null { return this.resultData.temperature_drift_K ?? null; }
  /** eV. */
  get energyDrift(): number | null { return this.resultData.energy_drift_eV ?? null; }
  /** K, the last frame. */
  get finalTemperature(): number | null { return this.resultData.final_temperature_K; }
  /** GPa, the last frame (virial plus kinetic part). */
  get finalPressure(): number | null { return this.resultData.final_pressure_GPa; }
  get trajectoryFile(): string | null { return this.outputFiles.trajectory ?? null; }
}

export class BulkModulusResult extends TaskResult<BulkModulusResultData> {
  /** GPa. */
  get bulkModulus(): number | null { return this.resultData.bulk_modulus_GPa; }
  /** B′, dimensionless. */
  get bulkModulusDerivative(): number | null { return this.resultData.pressure_derivative; }
  /** Å³. */
  get equilibriumVolume(): number | null { return this.resultData.equilibrium_volume_A3; }
  /** eV. */
  get equilibriumEnergy(): number | null { return this.resultData.equilibrium_energy_eV; }
  /** R² of the EOS fit (Python: fitting_r_squared). */
  get fittingRSquared(): number | null { return this.resultData.fit_r_squared ?? null; }
  /** eV. */
  get fittingRmse(): number | null { return this.resultData.fit_rmse_eV ?? null; }
  /** Å³. */
  get volumes(): (number | null)[] { return this.resultData.volumes_A3 ?? []; }
  /** eV. */
  get energies(): (number | null)[] { return this.resultData.energies_eV ?? []; }
}

export class HeatCapacityResult extends TaskResult<HeatCapacityResultData> {
  /** Cv at 300 K, J/(K·mol of primitive cells) (Python: heat_capacity). */
  get heatCapacity(): number | null { return this.resultData.heat_capacity; }
  /** Cv at 300 K, J/(K·g): the benchmark's value. */
  get heatCapacityAt300K(): number | null { return this.resultData.heat_capacity_at_300K ?? null; }
  /** S at 300 K, J/(K·mol of primitive cells). */
  get entropy(): number | null { return this.resultData.entropy; }
  /** Phonon free energy at 300 K, eV per primitive cell. */
  get freeEnergy(): number | null { return this.resultData.free_energy; }
  /** K. */
  get temperatures(): (number | null)[] { return this.resultData.temperatures_K ?? []; }
  /** Cv per temperature, J/(K·g). */
  get heatCapacities(): (number | null)[] { return this.resultData.heat_capacities ?? []; }
}

export class InteractionEnergyResult extends TaskResult<InteractionEnergyResultData> {
  /** eV: E(complex) − E(framework) − E(guest). */
  get interactionEnergy(): number | null { return this.resultData.interaction_energy_eV; }
  /** eV: −interactionEnergy (positive for a bound guest). */
  get bindingEnergy(): number | null { return this.resultData.binding_energy; }
  get adsorbate(): string | null { return this.resultData.adsorbate ?? null; }
}

export class SinglePointResult extends TaskResult<SinglePointResultData> {
  /** eV. */
  get energy(): number | null { return this.resultData.energy_eV; }
  /** eV/Å, one row per atom. */
  get forces(): number[][] | null { return this.resultData.forces_eV_A ?? null; }
  /** eV/Å. */
  get maxForce(): number | null { return this.resultData.max_force_eV_A ?? null; }
  /** GPa, Voigt order (xx, yy, zz, yz, xz, xy). */
  get stress(): number[] | null { return this.resultData.stress_GPa ?? null; }
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
