/** /health and /api/v1/health: each dependency is probed, none may hang the answer. */
import { Router, type Request, type Response } from 'express';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';

const VERSION = '0.1.0';

async function probe(fn: () => Promise<unknown>, ms = 2000): Promise<{ status: string; error?: string }> {
  try {
    await Promise.race([fn(), new Promise((_, rej) => setTimeout(() => rej(new Error(`no answer in ${ms} ms`)), ms).unref())]);
    return { status: 'healthy' };
  } catch (err) {
    return { status: 'unhealthy', error: (err as Error).message };
  }
}

export function healthRouter(deps: ServerDeps): Router {
  const r = Router();
  const handler = async (_req: Request, res: Response) => {
    const components = {
      database: await probe(() => deps.database.sql`select 1`),
      temporal: await probe(() => deps.temporal.workflowService.getSystemInfo({})),
      engine: await probe(async () => (await deps.engine.get()).request('ping')),
    };
    const healthy = Object.values(components).every((c) => c.status === 'healthy');
    const status = healthy ? 'healthy' : 'degraded';
    // `status` at the top too: the reference client's is_healthy() reads `resp["status"]`, not `data.status`.
    sendData(res, { status, version: VERSION, uptime_seconds: (Date.now() - deps.startedAt.getTime()) / 1000, components }, 200, 'ok', { status });
  };
  r.get('/health', handler);
  r.get('/api/v1/health', handler);
  return r;
}
