/** /api/v1/leaderboard: MOFSimBench scores across campaigns, with the classical reference rows. */
import { Router } from 'express';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { ensureReferenceScores, leaderboard } from '../../scoring/leaderboard.js';
import { REFERENCE_ATTRIBUTION } from '../../scoring/reference-data.js';

export function leaderboardRouter(deps: ServerDeps): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const db = deps.database.db;
    await ensureReferenceScores(db);
    // Query values are validated against the spec (protocol enum, include_reference boolean) before this runs.
    const protocol = typeof req.query.protocol === 'string' ? req.query.protocol : undefined;
    const includeReference = String(req.query.include_reference ?? 'true') !== 'false';
    sendData(res, { items: await leaderboard(db, { protocol, includeReference }), reference: REFERENCE_ATTRIBUTION });
  });
  return r;
}
