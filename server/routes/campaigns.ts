/** /api/v1/campaigns */
import { Router } from 'express';
import { stringify } from 'csv-stringify/sync';
import { STRUCTURE_ROW_COLUMNS, structureRows } from '../../scoring/campaign-scores.js';
import { actorOfResponse } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { campaignEventToApi, campaignToApi, taskToApi } from '../mappers.js';
import { pageOf, paginated } from '../pagination.js';
import {
  campaignResults, cancelCampaign, createCampaign, getCampaign, listCampaignEvents, listCampaignTasks, listCampaigns, pauseCampaign, resumeCampaign,
  retryCampaign, type CampaignCreate,
} from '../services/campaigns.js';

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export function campaignsRouter(deps: ServerDeps): Router {
  const r = Router();
  r.post('/', async (req, res) => {
    const c = await createCampaign(deps, req.body as CampaignCreate, actorOfResponse(res));
    sendData(res, campaignToApi(c), 202, 'campaign accepted');
  });
  r.get('/', async (req, res) => {
    const { page, pageSize } = pageOf(req.query);
    const { items, total } = await listCampaigns(deps, actorOfResponse(res), { status: str(req.query.status) }, page, pageSize);
    sendData(res, paginated(items.map(campaignToApi), total, page, pageSize));
  });
  r.get('/:id', async (req, res) => {
    sendData(res, campaignToApi(await getCampaign(deps, req.params.id, actorOfResponse(res))));
  });
  r.get('/:id/tasks', async (req, res) => {
    const { page, pageSize } = pageOf(req.query);
    const { items, total } = await listCampaignTasks(deps, req.params.id, actorOfResponse(res), { status: str(req.query.status) }, page, pageSize);
    sendData(res, paginated(items.map(taskToApi), total, page, pageSize));
  });
  r.get('/:id/events', async (req, res) => {
    const after = Number(req.query.after ?? 0);
    const limit = Number(req.query.limit ?? 1000);
    const items = await listCampaignEvents(deps, req.params.id, actorOfResponse(res), after, limit);
    sendData(res, { items: items.map((x) => campaignEventToApi(x.event, x.delivery)) });
  });
  r.get('/:id/results', async (req, res) => {
    const out = await campaignResults(deps, req.params.id, actorOfResponse(res));
    if (req.query.format === 'csv') {
      let csv: string;
      if (req.query.table === 'tasks') {
        // One column per metric any task reported, after the fixed ones.
        const metricKeys = [...new Set(out.rows.flatMap((row) => Object.keys(row.metrics)))].sort();
        const fixed = ['task_id', 'model', 'structure', 'task_type', 'step', 'status', 'reused_from', 'error_type', 'duration_seconds'] as const;
        csv = stringify(out.rows.map((row) => [...fixed.map((k) => row[k]), ...metricKeys.map((k) => row.metrics[k])]), {
          header: true, columns: [...fixed, ...metricKeys], cast: { boolean: (b) => String(b) },
        });
      } else {
        // The per-structure scores (model × protocol × structure vs DFT), flat.
        const rows = structureRows(out.scores.scores);
        csv = stringify(rows.map((r) => STRUCTURE_ROW_COLUMNS.map((k) => r[k])), {
          header: true, columns: [...STRUCTURE_ROW_COLUMNS], cast: { boolean: (b) => String(b) },
        });
      }
      res.type('text/csv').attachment(`campaign-${out.campaign.id}${req.query.table === 'tasks' ? '-tasks' : ''}.csv`).send(csv);
      return;
    }
    sendData(res, { campaign: campaignToApi(out.campaign), rows: out.rows, scores: out.scores });
  });
  r.post('/:id/cancel', async (req, res) => sendData(res, campaignToApi(await cancelCampaign(deps, req.params.id, actorOfResponse(res))), 202));
  r.post('/:id/pause', async (req, res) => sendData(res, campaignToApi(await pauseCampaign(deps, req.params.id, actorOfResponse(res))), 202));
  r.post('/:id/resume', async (req, res) => sendData(res, campaignToApi(await resumeCampaign(deps, req.params.id, actorOfResponse(res))), 202));
  r.post('/:id/retry', async (req, res) => sendData(res, campaignToApi(await retryCampaign(deps, req.params.id, actorOfResponse(res))), 202));
  return r;
}
