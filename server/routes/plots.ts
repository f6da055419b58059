/** /api/v1/tasks/{id}/plots/{plot}.svg and /api/v1/campaigns/{id}/plots/{plot}.svg */
import { Router } from 'express';
import { actorOfResponse } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { campaignPlotSvg, taskPlotSvg } from '../services/plots.js';

export function plotsRouter(deps: ServerDeps): Router {
  const r = Router();
  r.get('/tasks/:task_id/plots/:plot', async (req, res) => {
    const svg = await taskPlotSvg(deps, String(req.params.task_id), String(req.params.plot), actorOfResponse(res));
    res.type('image/svg+xml').send(svg);
  });
  r.get('/campaigns/:campaign_id/plots/:plot', async (req, res) => {
    const svg = await campaignPlotSvg(deps, String(req.params.campaign_id), String(req.params.plot), actorOfResponse(res));
    res.type('image/svg+xml').send(svg);
  });
  return r;
}
