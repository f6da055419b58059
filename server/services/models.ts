/** Model catalogue, as the engine's registry reports it (cached: the registry is static for a process). */
import type { ServerDeps } from '../deps.js';
import { modelNotFound, unavailable } from '../errors.js';

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

export function modelToApi(m: EngineModel) {
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
    is_loaded: false,
    // The Python service's vocabulary: available | loading | loaded | unloading | error | disabled.
    status: m.available ? 'available' : 'disabled',
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
