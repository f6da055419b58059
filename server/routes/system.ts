/** /api/v1/system: readiness, queue statistics, configuration, stats. (GPUs and workers: the scheduling work.) */
import { Router } from 'express';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { unavailable } from '../errors.js';
import { queueStats, systemConfig, systemStats } from '../services/system.js';

async function answers(fn: () => Promise<unknown>, ms = 2000): Promise<boolean> {
  try {
    await Promise.race([fn(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms).unref())]);
    return true;
  } catch { return false; }
}

export function systemRouter(deps: ServerDeps): Router {
  const r = Router();
  // Ready = can accept a submission: the database and Temporal answer (the parser engine starts lazily).
  r.get('/readiness', async (_req, res) => {
    const checks = {
      database: await answers(() => deps.database.sql`select 1`),
      temporal: await answers(() => deps.temporal.workflowService.getSystemInfo({})),
    };
    const failing = Object.entries(checks).filter(([, ok]) => !ok).map(([k]) => k);
    if (failing.length) throw unavailable('NOT_READY', `not ready: ${failing.join(', ')} not answering`);
    sendData(res, { status: 'ready', checks });
  });
  r.get('/queue', async (_req, res) => sendData(res, await queueStats(deps)));
  r.get('/stats', async (_req, res) => sendData(res, await systemStats(deps)));
  r.get('/config', async (_req, res) => sendData(res, await systemConfig(deps)));
  return r;
}
