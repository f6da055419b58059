/**
 * Loading and unloading models on workers at an admin's request: which workers (a named one, or where the
 * scheduler would put a job), and the Temporal workflow that carries the op out in their engines. The answer comes
 * before the op is done; its outcome per worker lands in the system log, and the loaded list shows the change.
 */
import { randomUUID } from 'node:crypto';
import type { ModelResidencyInput } from '../../workflows/model-residency-workflow.js';
import { placeModel } from '../../store/scheduler.js';
import { modelQueueName, type LoadedModelState } from '../../store/worker-registry.js';
import type { WorkerRow } from '../../store/schema.js';
import type { ServerDeps } from '../deps.js';
import { noWorkerForGpu, unavailable, workerNotFound, workerUnavailable } from '../errors.js';
import type { Actor } from './keys.js';
import { getModel } from './models.js';
import { listWorkers } from './workers.js';

export interface ModelActionRequest {
  action: 'load' | 'unload';
  /** The model's id or one of its aliases. */
  model: string;
  /** Only the worker(s) driving this GPU index. */
  gpuId?: number;
  /** Only this worker. */
  workerId?: string;
  actor: Actor;
  /** The HTTP request's id, for the system log. */
  requestId?: string;
}

/** The API's answer (`ModelActionAccepted` in openapi/mofsim.yaml). */
export interface ModelActionAnswer {
  model: string;
  action: 'load' | 'unload';
  gpu_id: number | null;
  /** The workers the op was sent to, or (nothing to do) those that already hold the model. */
  worker_ids: string[];
  status: 'accepted' | 'already_loaded' | 'not_loaded';
  requested_at: string;
  /** The id of the workflow doing the op; null when nothing was sent. */
  request_id: string | null;
}

const holds = (w: WorkerRow, model: string) =>
  ((w.telemetry as { model_cache?: LoadedModelState[] }).model_cache ?? []).some((m) => m.id === model);

/**
 * Sends a load or unload to the workers it concerns. A load goes to one worker (the targeted one, else where a job
 * would be placed) unless an online worker already holds the model; an unload goes to every targeted online worker
 * that holds it. Nothing to do → `already_loaded` / `not_loaded`, and no workflow.
 */
export async function requestModelAction(deps: ServerDeps, req: ModelActionRequest): Promise<ModelActionAnswer> {
  const m = await getModel(deps, req.model);
  const targeted = req.gpuId !== undefined || req.workerId !== undefined;
  const matching = (await listWorkers(deps))
    .filter((w) => (req.workerId === undefined || w.id === req.workerId) && (req.gpuId === undefined || w.gpuIndex === req.gpuId));
  if (targeted && !matching.length) throw req.workerId !== undefined ? workerNotFound(req.workerId) : noWorkerForGpu(req.gpuId!);
  // A draining worker has stopped taking work (its model queue included) and holds its models only until it exits.
  const online = matching.filter((w) => w.status === 'online');
  if (targeted && !online.length) {
    throw workerUnavailable('WORKER_UNAVAILABLE', `cannot ${req.action} ${m.id}: ${matching.map((w) => `worker ${w.id} is ${w.status}`).join(', ')}`,
      req.workerId !== undefined ? 'worker_id' : 'gpu_id');
  }
  const holders = online.filter((w) => holds(w, m.id)).map((w) => w.id);

  let targets: { workerId: string; taskQueue: string }[];
  if (req.action === 'load') {
    if (holders.length) return answer(deps, req, m.id, 'already_loaded', holders, null);
    if (!online.length) throw workerUnavailable('NO_WORKER_AVAILABLE', `no worker is online to load ${m.id} on`);
    const needMB = m.model_memory_MB ?? 0;
    const pick = await placeModel(deps.database.db, { needMB, among: online.map((w) => w.id) });
    if (!pick) throw workerUnavailable('NO_WORKER_AVAILABLE', `no online worker has room in its engine memory budget for ${m.id} (${needMB} MB)`);
    targets = [pick];
  } else {
    if (!holders.length) return answer(deps, req, m.id, 'not_loaded', [], null);
    targets = online.filter((w) => holders.includes(w.id)).map((w) => ({ workerId: w.id, taskQueue: w.taskQueue }));
  }

  const workflowId = `model-${req.action}-${m.id}-${randomUUID()}`;
  const input: ModelResidencyInput = {
    action: req.action, model: m.id, controlQueue: deps.config.MOFSIM_TASK_QUEUE, requestId: req.requestId,
    targets: targets.map((t) => ({ workerId: t.workerId, taskQueue: modelQueueName(t.taskQueue) })),
    by: { keyId: req.actor.keyId, name: req.actor.name },
  };
  try {
    await deps.temporal.workflow.start('modelResidencyWorkflow', { taskQueue: deps.config.MOFSIM_TASK_QUEUE, workflowId, args: [input] });
  } catch (err) {
    throw unavailable('ORCHESTRATOR_UNAVAILABLE', `could not send the ${req.action} to the workers: ${(err as Error).message}`);
  }
  return answer(deps, req, m.id, 'accepted', targets.map((t) => t.workerId), workflowId);
}

function answer(deps: ServerDeps, req: ModelActionRequest, model: string, status: ModelActionAnswer['status'], workerIds: string[], workflowId: string | null): ModelActionAnswer {
  deps.systemLog.info('admin', `model ${req.action} requested: ${model}`, {
    requestId: req.requestId,
    extra: {
      model, action: req.action, gpu_id: req.gpuId ?? null, worker_id: req.workerId ?? null, outcome: status, worker_ids: workerIds,
      workflow_id: workflowId, by_key_id: req.actor.keyId, by_key_name: req.actor.name,
    },
  });
  return {
    model, action: req.action, gpu_id: req.gpuId ?? null, worker_ids: workerIds, status,
    requested_at: new Date().toISOString(), request_id: workflowId,
  };
}
