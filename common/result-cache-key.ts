/**
 * The result cache's key: two tasks with the same key compute the same thing, so a completed one's result may stand
 * for the other. It covers everything a result depends on — the structure file's content, the model and its weights,
 * the task type, the effective parameters (after the engine's defaults: `{}` and the spelled-out defaults are the same
 * request) and the engine version. Nothing else (owner, priority, callback, timeout) enters it.
 */
import { createHash } from 'node:crypto';

export interface ResultCacheInputs {
  /** SHA-256 of the structure file (structures.checksum). */
  structureSha256: string;
  /** Canonical model id. */
  model: string;
  /** SHA-256 of the weights file; null for a model without one (classical potentials). */
  weightsSha256: string | null;
  /** Wire task type, e.g. bulk-modulus. */
  taskType: string;
  /** Effective parameters, as the engine's provenance records them. */
  parameters: Record<string, unknown>;
  engineVersion: string;
}

/** JSON with object keys sorted at every depth, so key order never changes the hash. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function resultCacheKey(i: ResultCacheInputs): string {
  return createHash('sha256').update(canonical({
    v: 1, structure: i.structureSha256, model: i.model, weights: i.weightsSha256, task: i.taskType, params: i.parameters, engine: i.engineVersion,
  })).digest('hex');
}

/** The key of a completed task, from its structure checksum and the provenance its result carries; null without one. */
export function resultCacheKeyOf(taskType: string, structureSha256: string, result: Record<string, unknown> | null | undefined): string | null {
  const p = result?.provenance as Record<string, unknown> | undefined;
  if (!p || typeof p.model !== 'string' || typeof p.engine_version !== 'string' || !p.parameters || typeof p.parameters !== 'object') return null;
  return resultCacheKey({
    structureSha256, model: p.model, weightsSha256: typeof p.weights_sha256 === 'string' ? p.weights_sha256 : null,
    taskType, parameters: p.parameters as Record<string, unknown>, engineVersion: p.engine_version,
  });
}
