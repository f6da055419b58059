/** /api/v1/models */
import { Router } from 'express';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { getModel, listModels, modelToApi } from '../services/models.js';

export function modelsRouter(deps: ServerDeps): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const family = typeof req.query.family === 'string' ? req.query.family : undefined;
    const models = (await listModels(deps, family)).map(modelToApi);
    sendData(res, { models, total: models.length });
  });
  r.get('/:model_name', async (req, res) => {
    sendData(res, modelToApi(await getModel(deps, req.params.model_name)));
  });
  return r;
}
