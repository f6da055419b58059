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

/**
 * The parse engine: `starting` while its process starts (at boot, or after a crash) — uploads wait for it, nothing
 * is wrong yet, and a lab's monitoring should not page for it —, `unhealthy` when its last start failed or a
 * running one does not answer a ping.
 */
async function probeEngine(engine: ServerDeps['engine']): Promise<{ status: string; error?: string }> {
  const ready = engine.get();
  const s = engine.state;
  if (s.state === 'up') return probe(async () => (await ready).request('ping'));
  ready.catch(() => {}); // the outcome is read from `state` by the next probe
  if (s.state === 'failing') return { status: 'unhealthy', error: `engine failed to start: ${s.error}` };
  return { status: 'starting' };
}

/** `degraded` when a component is unhealthy, else `starting` while one starts, else `healthy`. */
export function overallHealth(components: Record<string, { status: string }>): 'healthy' | 'starting' | 'degraded' {
  const states = Object.values(components).map((c) => c.status);
  if (states.some((x) => x !== 'healthy' && x !== 'starting')) return 'degraded';
  return states.includes('starting') ? 'starting' : 'healthy';
}

export function healthRouter(deps: ServerDeps): Router {
  const r = Router();
  const handler = async (_req: Request, res: Response) => {
    const [database, temporal, engine] = await Promise.all([
      probe(() => deps.database.sql`select 1`),
      probe(() => deps.temporal.workflowService.getSystemInfo({})),
      probeEngine(deps.engine),
    ]);
    const components = { database, temporal, engine };
    const status = overallHealth(components);
    // `status` at the top too: the reference client's is_healthy() reads `resp["status"]`, not `data.status`.
    sendData(res, { status, version: VERSION, uptime_seconds: (Date.now() - deps.startedAt.getTime()) / 1000, components }, 200, 'ok', { status });
  };
  r.get('/health', handler);
  r.get('/api/v1/health', handler);
  return r;
}
