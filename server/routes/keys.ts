/** /api/v1/keys: API key management (admin). */
import { Router } from 'express';
import { actorOfResponse, requireAdmin } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { createKey, keyToApi, listKeys, revokeKey, type KeyCreate } from '../services/keys.js';
import { checkCallback } from '../services/webhooks.js';

export function keysRouter(deps: ServerDeps): Router {
  const r = Router();
  const { db } = deps.database;
  // Any key may ask who it is (no secrets in the answer).
  r.get('/me', (_req, res) => {
    const a = actorOfResponse(res);
    sendData(res, { id: a.keyId, name: a.name, role: a.role, rate_limit_per_minute: a.rateLimitPerMinute, max_concurrent_tasks: a.maxConcurrentTasks, gpu_seconds_per_day: a.gpuSecondsPerDay });
  });
  r.use(requireAdmin);
  r.post('/', async (req, res) => {
    const body = req.body as KeyCreate;
    if (body.default_callback) await checkCallback(deps, body.default_callback, 'default_callback');
    const { row, key } = await createKey(db, body, deps.config.MOFSIM_DEFAULT_RATE_LIMIT);
    deps.logger.info('api key created', { request_id: res.locals.requestId, key_id: row.id, prefix: row.prefix, role: row.role });
    sendData(res, { ...keyToApi(row), key }, 201, 'API key created; store it now, it is not shown again');
  });
  r.get('/', async (_req, res) => {
    const keys = (await listKeys(db)).map(keyToApi);
    sendData(res, { keys, total: keys.length });
  });
  r.delete('/:key_id', async (req, res) => {
    sendData(res, keyToApi(await revokeKey(db, req.params.key_id)), 200, 'API key revoked');
  });
  return r;
}
