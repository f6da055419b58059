/**
 * MOFSimBench scores of task results against the DFT references (PROTOCOLS.md §2), as pure functions: a list of
 * task outcomes of one model and one protocol in, one row per structure and the protocol's aggregate out.
 *
 * The benchmark's rules, per protocol:
 * - optimization: V_final / V_DFT − 1; a structure succeeds when |ΔV| ≤ 10 % of the DFT volume; the headline is
 *   the share of attempted structures that succeed (a failed run counts as not within). Non-convergence (the step
 *   budget ran out) is counted separately; its final volume is still scored.
 * - stability: V_end / V_start − 1 after the NpT run; stable when the run completed and |ΔV| ≤ 10 %; a crash is a
 *   failure. The copper variant also reports the mean Cu coordination change (final − initial).
 * - bulk modulus: B vs the DFT B0 by MAE / MAPE (and the page's RMSE) over structures with both values; a fit whose
 *   minimum lies more than 1 % from the optimised volume is excluded; no B where DFT has one is a failure.
 * - heat capacity: Cv(300 K) vs DFT by MAE / MAPE / RMSE; no Cv is a failure.
 * - speed: ms per FIRE + FrechetCellFilter step on MOF-5 (424 atoms) and atoms·steps/s.
 */
import { TASK_TYPES } from '../common/task-types.js';
import { referenceTables, structureKey, type ReferenceTables } from './reference-data.js';

export const PROTOCOLS = [
  'optimization', 'stability', 'stability_copper', 'stability_temperature_ramp', 'bulk_modulus', 'heat_capacity', 'speed',
] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** The benchmark's success tolerance: ±10 % of the DFT volume (optimization) or of the starting volume (MD). */
export const VOLUME_TOLERANCE_PERCENT = 10;

/** One task as the scorer sees it (a row of `tasks`, or a classical baseline's line turned into a result). */
export interface TaskOutcome {
  taskId?: string | null;
  /** The structure's name as the task knows it (file stem; "_primitive" and an extension are ignored). */
  structure: string;
  /** Task status: COMPLETED, FAILED, TIMEOUT, CANCELLED, or a live one (PENDING, QUEUED, RUNNING, PAUSED). */
  status: string;
  result: Record<string, unknown> | null;
  errorType?: string | null;
  errorMessage?: string | null;
  /** When the task ended (null or absent: not ended); of two outcomes of one structure the later-ended one counts. */
  finishedAt?: Date | string | null;
}

/**
 * scored: compared with its reference; failed: a run that produced no usable value (counts against the model);
 * excluded: left out by the benchmark's rule (EOS minimum > 1 % off); no_reference: no DFT value for this structure;
 * not_run: cancelled or not finished yet (left out of every count but n_not_run).
 */
export type StructureOutcome = 'scored' | 'failed' | 'excluded' | 'no_reference' | 'not_run';

/** One structure's score. `value` and `reference` are in `unit`; `error` = value − reference. */
export interface StructureScore {
  protocol: Protocol;
  structure: string;
  task_id: string | null;
  outcome: StructureOutcome;
  value: number | null;
  reference: number | null;
  unit: string;
  error: number | null;
  error_percent: number | null;
  within_tolerance: boolean | null;
  converged: boolean | null;
  reason: string | null;
}

export interface ProtocolCounts {
  n_structures: number;
  n_scored: number;
  n_failed: number;
  n_excluded: number;
  n_no_reference: number;
  n_not_run: number;
  n_not_converged: number;
}

/** One protocol's aggregate: counts and the benchmark's metrics (null where nothing could be computed). */
export interface ProtocolScore {
  protocol: Protocol;
  unit: string;
  counts: ProtocolCounts;
  metrics: Record<string, number | null>;
}

export interface ProtocolReport {
  structures: StructureScore[];
  aggregate: ProtocolScore;
}

const UNITS: Record<Protocol, string> = {
  optimization: 'A3',
  stability: 'percent',
  stability_copper: 'percent',
  stability_temperature_ramp: 'percent',
  bulk_modulus: 'GPa',
  heat_capacity: 'J/(K*g)',
  speed: 'ms/step',
};

const LIVE = new Set(['PENDING', 'QUEUED', 'RUNNING', 'PAUSED']);
const PHYSICS_FAILURES = new Set(['exploded', 'nan', 'fit_failed']);

/** The protocol a task counts towards, or null for task types the benchmark does not score here. */
export function protocolOf(taskType: string, parameters?: Record<string, unknown> | null,
  result?: Record<string, unknown> | null): Protocol | null {
  const engineType = (TASK_TYPES as Record<string, string>)[taskType] ?? taskType;
  switch (engineType) {
    case 'optimization': return 'optimization';
    case 'bulk_modulus': return 'bulk_modulus';
    case 'heat_capacity': return 'heat_capacity';
    case 'speed': return 'speed';
    case 'stability': {
      const variant = String(result?.variant ?? parameters?.variant ?? 'ambient');
      if (variant === 'copper') return 'stability_copper';
      if (variant === 'temperature_ramp') return 'stability_temperature_ramp';
      return 'stability';
    }
    default: return null;
  }
}

function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function rms(xs: number[]): number | null {
  const m = mean(xs.map((x) => x * x));
  return m === null ? null : Math.sqrt(m);
}

function ratio(n: number, d: number): number | null {
  return d > 0 ? n / d : null;
}

const endedAt = (o: TaskOutcome): number => (o.finishedAt ? new Date(o.finishedAt).getTime() : Number.NEGATIVE_INFINITY);

/**
 * Orders outcomes by when they ended, then by task id: the order in which "latest" is decided, whatever order the
 * rows came in (a campaign's tasks share one creation time, so a database order by it is no order at all). An
 * outcome that has not ended sorts first: an ended run of the structure says more than one still to come.
 */
export function compareOutcomes(a: TaskOutcome, b: TaskOutcome): number {
  const t = endedAt(a) - endedAt(b);
  if (t !== 0 && !Number.isNaN(t)) return t;
  const x = a.taskId ?? '';
  const y = b.taskId ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * One outcome per structure: the latest-ended (then greatest task id) replaces the others (a retry, or a re-run in
 * a later campaign). The rows come out in structure-name order, so nothing depends on the order the caller passed.
 */
export function latestPerStructure(outcomes: TaskOutcome[]): TaskOutcome[] {
  const byKey = new Map<string, TaskOutcome>();
  for (const o of [...outcomes].sort(compareOutcomes)) byKey.set(structureKey(o.structure), o);
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
}

function base(protocol: Protocol, o: TaskOutcome): StructureScore {
  return {
    protocol, structure: structureKey(o.structure), task_id: o.taskId ?? null, outcome: 'scored', value: null,
    reference: null, unit: UNITS[protocol], error: null, error_percent: null, within_tolerance: null, converged: null,
    reason: null,
  };
}

/** Cancelled, unfinished or failed tasks, and results whose status is a physics failure; null when the run is usable. */
function unusable(row: StructureScore, o: TaskOutcome): StructureScore | null {
  if (o.status === 'CANCELLED' || LIVE.has(o.status)) {
    return { ...row, outcome: 'not_run', reason: o.status.toLowerCase() };
  }
  if (o.status !== 'COMPLETED' || !o.result) {
    return { ...row, outcome: 'failed', reason: [o.errorType, o.errorMessage].filter(Boolean).join(': ') || o.status.toLowerCase() };
  }
  const status = typeof o.result.status === 'string' ? o.result.status : 'ok';
  if (PHYSICS_FAILURES.has(status)) {
    return { ...row, outcome: 'failed', reason: String(o.result.failure_reason ?? o.result.instability_reason ?? status) };
  }
  return null;
}

function compare(row: StructureScore, value: number | null, reference: number | null, missing: string): StructureScore {
  if (reference === null) return { ...row, outcome: 'no_reference', value };
  if (value === null) return { ...row, outcome: 'failed', reference, reason: row.reason ?? missing };
  const error = value - reference;
  return { ...row, value, reference, error, error_percent: reference !== 0 ? (error / reference) * 100 : null };
}

function counts(rows: StructureScore[]): ProtocolCounts {
  const n = (k: StructureOutcome) => rows.filter((r) => r.outcome === k).length;
  return {
    n_structures: rows.length, n_scored: n('scored'), n_failed: n('failed'), n_excluded: n('excluded'),
    n_no_reference: n('no_reference'), n_not_run: n('not_run'),
    n_not_converged: rows.filter((r) => r.converged === false && r.outcome !== 'not_run').length,
  };
}

function errorMetrics(rows: StructureScore[], unitSuffix: string): Record<string, number | null> {
  const scored = rows.filter((r) => r.outcome === 'scored');
  const errs = scored.map((r) => r.error as number);
  const pct = scored.filter((r) => r.error_percent !== null).map((r) => Math.abs(r.error_percent as number));
  return {
    [`mae_${unitSuffix}`]: mean(errs.map(Math.abs)),
    mape_percent: mean(pct),
    [`rmse_${unitSuffix}`]: rms(errs),
    [`mean_error_${unitSuffix}`]: mean(errs),
  };
}

/** Optimization: final volume vs the DFT volume, success within ±10 %. */
export function scoreOptimization(outcomes: TaskOutcome[], refs: ReferenceTables = referenceTables()): ProtocolReport {
  const rows = latestPerStructure(outcomes).map((o) => {
    let row = base('optimization', o);
    const reference = refs.structures.get(row.structure)?.volumeA3 ?? null;
    const bad = unusable(row, o);
    if (bad) return bad.outcome === 'failed' && reference === null ? { ...bad, outcome: 'no_reference' as const } : { ...bad, reference };
    const r = o.result as Record<string, unknown>;
    row = { ...row, converged: typeof r.converged === 'boolean' ? r.converged : null };
    row = compare(row, finite(r.final_volume_A3), reference, 'no final volume');
    if (row.outcome === 'scored') row.within_tolerance = Math.abs(row.error_percent as number) <= VOLUME_TOLERANCE_PERCENT;
    return row;
  });
  const c = counts(rows);
  const attempted = c.n_scored + c.n_failed;
  const within = rows.filter((r) => r.within_tolerance === true).length;
  const scored = rows.filter((r) => r.outcome === 'scored');
  const absPct = scored.map((r) => Math.abs(r.error_percent as number));
  return {
    structures: rows,
    aggregate: {
      protocol: 'optimization', unit: UNITS.optimization, counts: c,
      metrics: {
        n_within_10_percent: within,
        fraction_within_10_percent: ratio(within, attempted),
        mae_volume_percent: mean(absPct),
        median_abs_volume_percent: median(absPct),
        rmse_volume_A3: rms(scored.map((r) => r.error as number)),
        fraction_not_converged: ratio(rows.filter((r) => r.converged === false && r.outcome !== 'not_run').length, attempted),
      },
    },
  };
}

/** MD stability: relative volume change of the run, stable within ±10 % and without a crash. */
export function scoreStability(outcomes: TaskOutcome[], protocol: Protocol = 'stability'): ProtocolReport {
  const rows = latestPerStructure(outcomes).map((o) => {
    let row = base(protocol, o);
    const bad = unusable(row, o);
    if (bad) return bad;
    const r = o.result as Record<string, unknown>;
    const dv = finite(r.volume_change_percent);
    if (dv === null) return { ...row, outcome: 'failed' as const, reason: 'no final volume' };
    row = { ...row, value: dv, reference: 0, error: dv, error_percent: dv };
    row.within_tolerance = Math.abs(dv) <= VOLUME_TOLERANCE_PERCENT && r.stable !== false;
    if (!row.within_tolerance) row.reason = String(r.instability_reason ?? `volume change ${dv.toFixed(2)}% exceeds ±10%`);
    return row;
  });
  const c = counts(rows);
  const attempted = c.n_scored + c.n_failed;
  const stable = rows.filter((r) => r.within_tolerance === true).length;
  const scored = rows.filter((r) => r.outcome === 'scored');
  const metrics: Record<string, number | null> = {
    n_stable: stable,
    fraction_stable: ratio(stable, attempted),
    mean_abs_volume_change_percent: mean(scored.map((r) => Math.abs(r.value as number))),
  };
  if (protocol === 'stability_copper') {
    const changes = latestPerStructure(outcomes)
      .filter((o) => o.status === 'COMPLETED' && o.result)
      .map((o) => finite((o.result as Record<string, unknown>).cu_cn_change))
      .filter((x): x is number => x !== null);
    metrics.mean_cu_cn_change = mean(changes);
    metrics.mean_abs_cu_cn_change = mean(changes.map(Math.abs));
  }
  return { structures: rows, aggregate: { protocol, unit: UNITS[protocol], counts: c, metrics } };
}

/** Bulk modulus: B vs DFT B0; fits with the EOS minimum more than 1 % from the optimised volume are excluded. */
export function scoreBulkModulus(outcomes: TaskOutcome[], refs: ReferenceTables = referenceTables()): ProtocolReport {
  const rows = latestPerStructure(outcomes).map((o) => {
    let row = base('bulk_modulus', o);
    const reference = refs.structures.get(row.structure)?.bulkModulusGPa ?? null;
    const bad = unusable(row, o);
    if (bad) return reference === null && bad.outcome === 'failed' ? { ...bad, outcome: 'no_reference' as const } : { ...bad, reference };
    const r = o.result as Record<string, unknown>;
    row = { ...row, converged: typeof r.opt_converged === 'boolean' ? r.opt_converged : null };
    row = compare(row, finite(r.bulk_modulus_GPa), reference, String(r.failure_reason ?? 'no bulk modulus'));
    if (row.outcome === 'scored' && r.minimum_outside_1_percent === true) {
      row = { ...row, outcome: 'excluded', reason: 'EOS minimum more than 1% from the optimised volume' };
    }
    return row;
  });
  return {
    structures: rows,
    aggregate: { protocol: 'bulk_modulus', unit: UNITS.bulk_modulus, counts: counts(rows), metrics: errorMetrics(rows, 'GPa') },
  };
}

/** Heat capacity: Cv(300 K) in J/(K·g) vs the DFT phonon value. */
export function scoreHeatCapacity(outcomes: TaskOutcome[], refs: ReferenceTables = referenceTables()): ProtocolReport {
  const rows = latestPerStructure(outcomes).map((o) => {
    let row = base('heat_capacity', o);
    const reference = refs.heatCapacity.get(row.structure)?.cv300JPerKg ?? null;
    const bad = unusable(row, o);
    if (bad) return reference === null && bad.outcome === 'failed' ? { ...bad, outcome: 'no_reference' as const } : { ...bad, reference };
    const r = o.result as Record<string, unknown>;
    row = { ...row, converged: typeof r.opt_converged === 'boolean' ? r.opt_converged : null };
    return compare(row, finite(r.heat_capacity_at_300K), reference, String(r.failure_reason ?? 'no Cv(300 K)'));
  });
  return {
    structures: rows,
    aggregate: { protocol: 'heat_capacity', unit: UNITS.heat_capacity, counts: counts(rows), metrics: errorMetrics(rows, 'J_per_K_g') },
  };
}

/** Speed: the median over runs of ms per step, and atoms·steps/s = atoms / (s per step). */
export function scoreSpeed(outcomes: TaskOutcome[]): ProtocolReport {
  // Every run is kept (not only the latest per structure): repeated timings of one structure are the sample.
  const atomsPerS: number[] = [];
  const rows = [...outcomes].sort(compareOutcomes).map((o) => {
    const row = base('speed', o);
    const bad = unusable(row, o);
    if (bad) return bad;
    const r = o.result as Record<string, unknown>;
    const s = finite(r.time_per_step_s);
    if (s === null || s <= 0) return { ...row, outcome: 'failed' as const, reason: 'no timing' };
    const n = finite(r.n_atoms);
    if (n !== null) atomsPerS.push(n / s);
    return { ...row, value: s * 1000 };
  });
  const scored = rows.filter((r) => r.outcome === 'scored');
  return {
    structures: rows,
    aggregate: {
      protocol: 'speed', unit: UNITS.speed, counts: counts(rows),
      metrics: { time_per_step_ms: median(scored.map((r) => r.value as number)), atoms_steps_per_s: median(atomsPerS) },
    },
  };
}

/** Scores one model's outcomes of one protocol. */
export function scoreProtocol(protocol: Protocol, outcomes: TaskOutcome[], refs: ReferenceTables = referenceTables()): ProtocolReport {
  switch (protocol) {
    case 'optimization': return scoreOptimization(outcomes, refs);
    case 'bulk_modulus': return scoreBulkModulus(outcomes, refs);
    case 'heat_capacity': return scoreHeatCapacity(outcomes, refs);
    case 'speed': return scoreSpeed(outcomes);
    default: return scoreStability(outcomes, protocol);
  }
}
