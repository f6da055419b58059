/** /api/v1/system/workers, /system/gpus and remote drain (admin); /api/v1/usage. */
import { Router } from 'express';
import type { ServerDeps } from '../deps.js';
import { actorOfResponse, requireAdmin } from '../auth.js';
import { sendData } from '../envelope.js';
import { gpuToApi, workerToApi } from '../mappers.js';
import { drainWorker, getUsage, listGpuWorkers, listWorkers } from '../services/workers.js';

export function workersRouter(deps: ServerDeps): Router {
  const r = Router();
  r.get('/workers', async (_req, res) => {
    const items = (await listWorkers(deps)).map(workerToApi);
    sendData(res, { items, total: items.length });
  });
  r.post('/workers/:worker_id/drain', requireAdmin, async (req, res) => {
    const by = { actor: actorOfResponse(res), requestId: res.locals.requestId as string };
    sendData(res, workerToApi(await drainWorker(deps, String(req.params.worker_id), by)), 202, 'worker draining');
  });
  r.get('/gpus', async (_req, res) => {
    const items = (await listGpuWorkers(deps)).map(gpuToApi);
    // `gpus`, `total_gpus`, `available_gpus`: the reference service's shape, which its Python client reads.
    sendData(res, { items, total: items.length, gpus: items, total_gpus: items.length, available_gpus: items.filter((g) => g.is_available).length });
  });
  return r;
}

/** /api/v1/usage: device- and GPU-seconds per owner or task (a user key sees its own). */
export function usageRouter(deps: ServerDeps): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    sendData(res, await getUsage(deps, {
      actor: actorOfResponse(res),
      groupBy: typeof req.query.group_by === 'string' ? req.query.group_by : undefined,
      taskId: typeof req.query.task_id === 'string' ? req.query.task_id : undefined,
    }));
  });
  return r;
}
