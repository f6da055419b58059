/**
 * Engine metrics of a worker, from the engine's `status` answer (read at every worker heartbeat) and from the
 * supervisor (restarts) and the job activity (out-of-memory failures). The engine's batching counters count since
 * its model loaded; they become Prometheus counters here by adding each increase (a reload starts them again at 0).
 */
import { Counter, Gauge } from 'prom-client';
import { registry } from './registry.js';

const MB = 1024 * 1024;
const wm = ['worker_id', 'model'] as const;

const up = new Gauge({ name: 'mofsim_engine_up', help: '1 while the worker\'s engine process answers', labelNames: ['worker_id'] as const, registers: [registry] });
const restarts = new Counter({ name: 'mofsim_engine_restarts_total', help: 'Engine processes restarted after a crash', labelNames: ['worker_id'] as const, registers: [registry] });
const ooms = new Counter({ name: 'mofsim_engine_oom_total', help: 'Jobs that ran out of device memory', labelNames: wm, registers: [registry] });
const evaluations = new Counter({ name: 'mofsim_engine_model_evaluations_total', help: 'Structures evaluated by the model', labelNames: wm, registers: [registry] });
const batches = new Counter({ name: 'mofsim_engine_batches_total', help: 'Batched forward passes', labelNames: wm, registers: [registry] });
const batchAtoms = new Counter({ name: 'mofsim_engine_batch_atoms_total', help: 'Atoms in the batched forward passes', labelNames: wm, registers: [registry] });
const batchMax = new Gauge({ name: 'mofsim_engine_batch_size_max', help: 'Largest batch since the model loaded', labelNames: wm, registers: [registry] });
const loadSeconds = new Gauge({ name: 'mofsim_engine_model_load_seconds', help: 'Seconds the resident copy of the model took to load', labelNames: wm, registers: [registry] });
const resident = new Gauge({ name: 'mofsim_engine_resident_models', help: 'Models loaded in the engine', labelNames: ['worker_id'] as const, registers: [registry] });
const memory = new Gauge({ name: 'mofsim_engine_model_memory_bytes', help: 'Device memory of each resident model', labelNames: wm, registers: [registry] });

/** A resident model as the engine's `status` reports it (see workers/engine/PROTOCOL.md). */
export interface EngineModelStatus {
  id: string;
  memory_MB?: number;
  load_seconds?: number;
  batching?: { batches?: number; requests?: number; mean_batch_atoms?: number; max_batch_size?: number };
}

/** The metrics of one worker's engine. */
export class EngineMetrics {
  /** Per model: the engine's cumulative counts at the last reading (to add only the increase). */
  private last = new Map<string, { requests: number; batches: number; atoms: number }>();
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
      if (!this.models.has(m.id)) ooms.inc(labels, 0);
      this.models.add(m.id);
      memory.set(labels, (m.memory_MB ?? 0) * MB);
      if (m.load_seconds !== undefined) loadSeconds.set(labels, m.load_seconds);
      const b = m.batching ?? {};
      const now = { requests: b.requests ?? 0, batches: b.batches ?? 0, atoms: (b.mean_batch_atoms ?? 0) * (b.batches ?? 0) };
      const prev = this.last.get(m.id) ?? { requests: 0, batches: 0, atoms: 0 };
      // A count below the last reading: the model was unloaded and loaded again, counting from 0.
      const reset = now.requests < prev.requests || now.batches < prev.batches;
      const base = reset ? { requests: 0, batches: 0, atoms: 0 } : prev;
      evaluations.inc(labels, now.requests - base.requests);
      batches.inc(labels, now.batches - base.batches);
      batchAtoms.inc(labels, Math.max(0, now.atoms - base.atoms));
      batchMax.set(labels, b.max_batch_size ?? 0);
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
      batchMax.remove(labels);
      this.last.delete(id);
      this.models.delete(id);
    }
    if (!keep.size) resident.set({ worker_id: this.workerId }, 0);
  }
}
