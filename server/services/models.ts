/** Model catalogue, as the engine's registry reports it (cached: the registry is static for a process). */
import type { LoadedModelState } from '../../store/worker-registry.js';
import type { ServerDeps } from '../deps.js';
import { modelNotFound, unavailable } from '../errors.js';
import { listWorkers } from './workers.js';

export interface EngineModel {
  id: string;
  name: string;
  family: string;
  kind: 'mlip' | 'classical';
  description: string;
  elements: string[];
  with_d3: boolean;
  d3: Record<string, unknown> | null;
  available: boolean;
  unavailable_reason?: string | null;
  citation?: string;
  aliases?: string[];
  /** Estimated resident size of the loaded weights (the engine's cache budget; placement of explicit loads). */
  model_memory_MB?: number;
}

let cache: Promise<EngineModel[]> | undefined;

async function engineModels(deps: ServerDeps): Promise<EngineModel[]> {
  if (!cache) {
    cache = deps.engine.get()
      .then((e) => e.request<{ models: EngineModel[] }>('models'))
      .then((r) => r.models)
      .catch((err) => {
        cache = undefined;
        throw unavailable('ENGINE_UNAVAILABLE', `model registry unavailable: ${(err as Error).message}`);
      });
  }
  return cache;
}

/** Where a model is resident: one entry per worker whose engine holds it (`GET /models/loaded/list`). */
export interface LoadedModelEntry {
  /** The GPU index of the worker; null for a CPU worker. */
  gpu_id: number | null;
  worker_id: string;
  device: string;
  loaded_at: string;
  last_used: string;
  use_count: number;
  in_use: number;
  memory_MB: number;
}

/**
 * Models resident in the engines of live workers (online or draining), by model id, as each worker's last
 * heartbeat reported its engine's cache. A worker that stopped heartbeating is offline and holds nothing.
 */
export async function listLoadedModels(deps: ServerDeps): Promise<Record<string, LoadedModelEntry[]>> {
  const out: Record<string, LoadedModelEntry[]> = {};
  for (const w of await listWorkers(deps)) {
    if (w.status === 'offline') continue;
    const cache = (w.telemetry as { model_cache?: LoadedModelState[] }).model_cache;
    for (const m of Array.isArray(cache) ? cache : []) {
      (out[m.id] ??= []).push({
        gpu_id: w.gpuIndex, worker_id: w.id, device: w.device, loaded_at: m.loaded_at, last_used: m.last_used,
        use_count: m.use_count, in_use: m.in_use, memory_MB: m.memory_MB,
      });
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** The API's model object; `loaded` (from listLoadedModels) sets is_loaded and the `loaded` status. */
export function modelToApi(m: EngineModel, loaded: Record<string, LoadedModelEntry[]> = {}) {
  const isLoaded = (loaded[m.id]?.length ?? 0) > 0;
  return {
    name: m.id,
    display_name: m.name,
    family: m.family,
    kind: m.kind,
    description: m.description,
    supported_elements: m.elements,
    with_d3: m.with_d3,
    d3: m.d3,
    available: m.available,
    unavailable_reason: m.unavailable_reason ?? null,
    is_loaded: isLoaded,
    // The Python service's vocabulary: available | loading | loaded | unloading | error | disabled.
    status: isLoaded ? 'loaded' : m.available ? 'available' : 'disabled',
    framework: m.family,
    citation: m.citation ?? null,
  };
}

/** All models, optionally of one family. */
export async function listModels(deps: ServerDeps, family?: string): Promise<EngineModel[]> {
  const models = await engineModels(deps);
  return family ? models.filter((m) => m.family === family) : models;
}

/** One model by its id (the MOFSimBench calculator key); 404 when unknown. */
export async function getModel(deps: ServerDeps, id: string): Promise<EngineModel> {
  // Friendly aliases (e.g. `7net-0`, `mace-mpa-0`) resolve like the engine does: case-insensitive, `-` ≡ `_`.
  const norm = (s: string) => s.toLowerCase().replace(/-/g, '_');
  const models = await engineModels(deps);
  const m = models.find((x) => x.id === id) ?? models.find((x) => (x.aliases ?? []).some((a) => norm(a) === norm(id)));
  if (!m) throw modelNotFound(id);
  return m;
}
