/** /api/v1/models */
import { Router } from 'express';
import { actorOfResponse, requireAdmin } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { requestModelAction } from '../services/model-residency.js';
import { getModel, listLoadedModels, listModels, modelToApi } from '../services/models.js';

export function modelsRouter(deps: ServerDeps): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const family = typeof req.query.family === 'string' ? req.query.family : undefined;
    const status = typeof req.query.status === 'string' ? req.query.status : undefined;
    const loaded = await listLoadedModels(deps);
    let models = (await listModels(deps, family)).map((m) => modelToApi(m, loaded));
    if (status) models = models.filter((m) => m.status === status);
    sendData(res, { models, total: models.length });
  });
  // Where each model is resident now ({<model>: [{gpu_id, worker_id, loaded_at, last_used, use_count, …}]}).
  r.get('/loaded/list', async (_req, res) => sendData(res, await listLoadedModels(deps)));
  r.get('/summary', async (_req, res) => {
    const loaded = await listLoadedModels(deps);
    const models = (await listModels(deps)).map((m) => modelToApi(m, loaded));
    const tally = (key: (m: (typeof models)[number]) => string) =>
      models.reduce<Record<string, number>>((acc, m) => { acc[key(m)] = (acc[key(m)] ?? 0) + 1; return acc; }, {});
    sendData(res, {
      total_models: models.length, by_family: tally((m) => m.family), by_status: tally((m) => m.status),
      loaded_models: models.filter((m) => m.is_loaded).map((m) => m.name),
    });
  });
  r.get('/families', async (_req, res) => {
    sendData(res, { families: [...new Set((await listModels(deps)).map((m) => m.family))].sort() });
  });
  r.get('/:model_name', async (req, res) => {
    sendData(res, modelToApi(await getModel(deps, String(req.params.model_name)), await listLoadedModels(deps)));
  });
  // Load/unload: 202 once the op is on its way to the workers (its outcome goes to the system log), 200 when there
  // is nothing to do.
  for (const action of ['load', 'unload'] as const) {
    r.post(`/:model_name/${action}`, requireAdmin, async (req, res) => {
      const a = await requestModelAction(deps, {
        action, model: String(req.params.model_name), actor: actorOfResponse(res), requestId: res.locals.requestId,
        gpuId: req.query.gpu_id === undefined ? undefined : Number(req.query.gpu_id),
        workerId: typeof req.query.worker_id === 'string' ? req.query.worker_id : undefined,
      });
      const message = a.status === 'accepted' ? `model ${action} requested` : `model ${a.status.replace('_', ' ')}`;
      sendData(res, a, a.status === 'accepted' ? 202 : 200, message);
    });
  }
  return r;
}
