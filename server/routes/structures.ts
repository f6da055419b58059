/** /api/v1/structures */
import { Router } from 'express';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { badRequest } from '../errors.js';
import { structureToApi } from '../mappers.js';
import { getStructure, uploadStructure } from '../services/structures.js';

export function structuresRouter(deps: ServerDeps): Router {
  const r = Router();
  r.post('/', async (req, res) => {
    const files = (req.files ?? []) as Express.Multer.File[];
    const file = files.find((f) => f.fieldname === 'file');
    if (!file) throw badRequest('MISSING_FILE', 'multipart field "file" is required', 'file');
    const name = typeof req.body?.name === 'string' ? req.body.name : undefined;
    const row = await uploadStructure(deps, { buffer: file.buffer, originalName: file.originalname, name });
    sendData(res, structureToApi(row), 200, 'structure uploaded');
  });
  r.get('/:structure_id', async (req, res) => {
    sendData(res, structureToApi(await getStructure(deps, req.params.structure_id)));
  });
  r.get('/:structure_id/download', async (req, res) => {
    const row = await getStructure(deps, req.params.structure_id);
    res.download(row.filePath, row.originalName);
  });
  return r;
}
