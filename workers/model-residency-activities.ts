/**
 * Loading and unloading a model in this worker's engine on an admin's request, outside any job. The engine's own
 * cache does the work (`load` / `unload` ops); this side times it, turns engine errors into retryable or final
 * failures, and refreshes the worker's heartbeat so the API and the scheduler see the change at once.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { isRetryableType } from '../common/retry-policy.js';
import { EngineError } from '../engine-host/engine-client.js';
import type { EngineSupervisor } from '../engine-host/engine-supervisor.js';

export interface ModelResidencyDeps {
  engine: EngineSupervisor;
  /** Writes a heartbeat now (with the engine's model cache), so readers need not wait for the next one. */
  refreshHeartbeat(): Promise<void>;
}

/** What a load or an unload did on one worker. */
export interface ModelResidencyChange {
  /** `in_use`: an unload refused because running jobs hold the model (it stays loaded). */
  status: 'loaded' | 'already_loaded' | 'unloaded' | 'not_loaded' | 'in_use';
  /** Wall time of the engine op, seconds. */
  seconds: number;
  /** Jobs holding the model when an unload was refused. */
  inUse?: number;
}

/** Builds the model residency activities around their dependencies. */
export function createModelResidencyActivities(deps: ModelResidencyDeps) {
  return {
    /** Loads or unloads `model` in this worker's engine; throws typed ApplicationFailures (MODEL_UNAVAILABLE …). */
    async changeModelResidency(input: { action: 'load' | 'unload'; model: string }): Promise<ModelResidencyChange> {
      const ctx = Context.current();
      const engine = await deps.engine.get().catch((err) => {
        throw ApplicationFailure.retryable(`engine unavailable: ${(err as Error).message}`, 'ENGINE_UNAVAILABLE');
      });
      // A large model can take minutes to load; heartbeats tell Temporal the worker is still alive meanwhile.
      const beat = setInterval(() => ctx.heartbeat(), 1000);
      const t0 = performance.now();
      let change: ModelResidencyChange;
      try {
        const r = await engine.request<{ loaded: boolean; already_loaded?: boolean; was_loaded?: boolean; in_use?: number }>(
          input.action, { model: input.model });
        const seconds = (performance.now() - t0) / 1000;
        if (input.action === 'load') change = { status: r.already_loaded ? 'already_loaded' : 'loaded', seconds };
        else if (r.loaded) change = { status: 'in_use', seconds, inUse: r.in_use ?? 0 };
        else change = { status: r.was_loaded ? 'unloaded' : 'not_loaded', seconds };
      } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        throw err.retryable && isRetryableType(err.code)
          ? ApplicationFailure.retryable(err.message, err.code)
          : ApplicationFailure.nonRetryable(err.message, err.code);
      } finally {
        clearInterval(beat);
      }
      // The change is done either way; a failed write only delays its visibility until the next heartbeat.
      await deps.refreshHeartbeat().catch(() => {});
      return change;
    },
  };
}

export type ModelResidencyActivities = ReturnType<typeof createModelResidencyActivities>;
