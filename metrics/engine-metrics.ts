/**
 * Engine metrics of a worker, from the engine's `status` answer (read at every worker heartbeat) and from the
 * supervisor (restarts) and the job activity (jobs that failed out of memory; the engine counts the model calls that
 * ran out of memory itself, including those it recovered from by splitting a batch). The engine's batching statistics count since
 * its model loaded; they become Prometheus counters and histograms here by adding each increase (a reload starts
 * them again at 0).
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from './registry.js';

const MB = 1024 * 1024;
const wm = ['worker_id', 'model'] as const;

const up = new Gauge({ name: 'mofsim_engine_up', help: '1 while the worker\'s engine process answers', labelNames: ['worker_id'] as const, registers: [registry] });
const restarts = new Counter({ name: 'mofsim_engine_restarts_total', help: 'Engine processes restarted after a crash', labelNames: ['worker_id'] as const, registers: [registry] });
const ooms = new Counter({ name: 'mofsim_engine_oom_total', help: 'Jobs that failed out of device memory (they are retried)', labelNames: wm, registers: [registry] });
const modelOoms = new Counter({
  name: 'mofsim_engine_model_oom_total',
  help: 'Model calls that ran out of device memory, counted by the engine where it happened (a batch split after an OOM too)',
  labelNames: wm, registers: [registry],
});
const evaluations = new Counter({ name: 'mofsim_engine_model_evaluations_total', help: 'Structures evaluated by the model', labelNames: wm, registers: [registry] });
// Powers of two: the engine reports atoms per batch in power-of-two bins (workers/engine/PROTOCOL.md), so each of
// its bins falls inside exactly one bucket here and the histogram is exact.
const batchSize = new Histogram({
  name: 'mofsim_engine_batch_size', help: 'Structures per batched forward pass', labelNames: wm,
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [registry],
});
const batchAtoms = new Histogram({
  name: 'mofsim_engine_batch_atoms', help: 'Atoms per batched forward pass', labelNames: wm,
  buckets: [16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576], registers: [registry],
});
const loadSeconds = new Gauge({ name: 'mofsim_engine_model_load_seconds', help: 'Seconds the resident copy of the model took to load', labelNames: wm, registers: [registry] });
const resident = new Gauge({ name: 'mofsim_engine_resident_models', help: 'Models loaded in the engine', labelNames: ['worker_id'] as const, registers: [registry] });
const memory = new Gauge({ name: 'mofsim_engine_model_memory_bytes', help: 'Device memory of each resident model', labelNames: wm, registers: [registry] });

/** A resident model as the engine's `status` reports it (see workers/engine/PROTOCOL.md). */
export interface EngineModelStatus {
  id: string;
  memory_MB?: number;
  load_seconds?: number;
  batching?: {
    batches?: number; requests?: number;
    /** Model calls (batched or single) that raised an out-of-memory error. */
    out_of_memory?: number;
    /** Batches by their size: `{"<size>": batches}`. */
    batch_size_histogram?: Record<string, number>;
    /** Batches by atoms in power-of-two bins: `{"<bin upper bound>": [batches, atoms]}`. */
    batch_atoms_histogram?: Record<string, [number, number]>;
  };
}

/** A histogram as cumulative counts since the model loaded: bin → batches and the sum of their values. */
type Bins = Map<string, { n: number; sum: number }>;

interface Reading { requests: number; batches: number; ooms: number; sizes: Bins; atoms: Bins }

const EMPTY: Reading = { requests: 0, batches: 0, ooms: 0, sizes: new Map(), atoms: new Map() };

// Adds the batches that arrived since `prev` to `h`: each bin's new batches are observed at their mean value, which
// lies in that bin, so buckets, count and sum come out as if every batch had been observed.
function observeIncrease(h: Histogram<'worker_id' | 'model'>, labels: { worker_id: string; model: string }, now: Bins, prev: Bins): void {
  for (const [bin, { n, sum }] of now) {
    const before = prev.get(bin) ?? { n: 0, sum: 0 };
    const d = n - before.n;
    if (d <= 0) continue;
    const mean = (sum - before.sum) / d;
    for (let i = 0; i < d; i++) h.observe(labels, mean);
  }
}

/** The metrics of one worker's engine. */
export class EngineMetrics {
  /** Per model: the engine's cumulative counts at the last reading (to add only the increase). */
  private last = new Map<string, Reading>();
  private models = new Set<string>();

  constructor(private readonly workerId: string) {
    up.set({ worker_id: workerId }, 0);
    resident.set({ worker_id: workerId }, 0);
    restarts.inc({ worker_id: workerId }, 0);
  }

  /** The engine process crashed and is restarted. */
  restarted(): void {
    restarts.inc({ worker_id: this.workerId });
  }

  /** A job failed OUT_OF_MEMORY. */
  outOfMemory(model: string): void {
    ooms.inc({ worker_id: this.workerId, model });
  }

  /** One `status` answer, or `undefined` when the engine is down (or did not answer in time). */
  update(status: { loaded_models: EngineModelStatus[] } | undefined, alive: boolean): void {
    const w = this.workerId;
    up.set({ worker_id: w }, alive ? 1 : 0);
    if (!status) {
      if (!alive) this.forgetModels(new Set());
      return;
    }
    resident.set({ worker_id: w }, status.loaded_models.length);
    const seen = new Set<string>();
    for (const m of status.loaded_models) {
      seen.add(m.id);
      const labels = { worker_id: w, model: m.id };
      if (!this.models.has(m.id)) { ooms.inc(labels, 0); modelOoms.inc(labels, 0); }
      this.models.add(m.id);
      memory.set(labels, (m.memory_MB ?? 0) * MB);
      if (m.load_seconds !== undefined) loadSeconds.set(labels, m.load_seconds);
      const b = m.batching ?? {};
      const now: Reading = {
        requests: b.requests ?? 0,
        batches: b.batches ?? 0,
        ooms: b.out_of_memory ?? 0,
        sizes: new Map(Object.entries(b.batch_size_histogram ?? {}).map(([size, n]) => [size, { n, sum: n * Number(size) }])),
        atoms: new Map(Object.entries(b.batch_atoms_histogram ?? {}).map(([bin, [n, sum]]) => [bin, { n, sum }])),
      };
      const prev = this.last.get(m.id) ?? EMPTY;
      // A count below the last reading: the model was unloaded and loaded again, counting from 0.
      const base = now.requests < prev.requests || now.batches < prev.batches || now.ooms < prev.ooms ? EMPTY : prev;
      evaluations.inc(labels, now.requests - base.requests);
      modelOoms.inc(labels, now.ooms - base.ooms);
      observeIncrease(batchSize, labels, now.sizes, base.sizes);
      observeIncrease(batchAtoms, labels, now.atoms, base.atoms);
      this.last.set(m.id, now);
    }
    this.forgetModels(seen);
  }

  // Gauges of models no longer resident go away (their counters stay, as counters must).
  private forgetModels(keep: Set<string>): void {
    for (const id of [...this.models]) {
      if (keep.has(id)) continue;
      const labels = { worker_id: this.workerId, model: id };
      memory.remove(labels);
      loadSeconds.remove(labels);
      this.last.delete(id);
      this.models.delete(id);
    }
    if (!keep.size) resident.set({ worker_id: this.workerId }, 0);
  }
}
