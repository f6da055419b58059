/** /api/v1/keys: API key management (admin). */
import { Router, type Response } from 'express';
import { actorOfResponse, requireAdmin } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { createKey, keyToApi, listKeys, revokeKey, type KeyCreate } from '../services/keys.js';
import { checkCallback } from '../services/webhooks.js';

// Who did it (an admin key's id and name).
const by = (res: Response) => ({ by_key_id: actorOfResponse(res).keyId, by_key_name: actorOfResponse(res).name });

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
    // The key's id and public prefix, never the key.
    deps.systemLog.info('keys', `API key created: ${row.prefix} (${row.role})`, {
      requestId: res.locals.requestId, extra: { key_id: row.id, prefix: row.prefix, role: row.role, name: row.name, ...by(res) },
    });
    sendData(res, { ...keyToApi(row), key }, 201, 'API key created; store it now, it is not shown again');
  });
  r.get('/', async (_req, res) => {
    const keys = (await listKeys(db)).map(keyToApi);
    sendData(res, { keys, total: keys.length });
  });
  r.delete('/:key_id', async (req, res) => {
    const row = await revokeKey(db, req.params.key_id);
    deps.systemLog.info('keys', `API key revoked: ${row.prefix}`, {
      requestId: res.locals.requestId, extra: { key_id: row.id, prefix: row.prefix, role: row.role, name: row.name, ...by(res) },
    });
    sendData(res, keyToApi(row), 200, 'API key revoked');
  });
  return r;
}
