/** /api/v1/structures */
import { Router, type Request, type Response } from 'express';
import { actorOfResponse } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { sendDownload } from '../downloads.js';
import { sendData } from '../envelope.js';
import { badRequest } from '../errors.js';
import { structureDetailsToApi, structureToApi, structureValidationToApi } from '../mappers.js';
import { pageOf, paginated } from '../pagination.js';
import { ATTRIBUTION, listBuiltinStructures } from '../services/builtin-structures.js';
import {
  checkStoredStructure, deleteStructure, findStructure, getStructure, listStructures, uploadStructure, validateStructure,
} from '../services/structures.js';

export function structuresRouter(deps: ServerDeps): Router {
  const r = Router();
  const upload = async (req: Request, res: Response) => {
    const files = (req.files ?? []) as Express.Multer.File[];
    const file = files.find((f) => f.fieldname === 'file');
    if (!file) throw badRequest('MISSING_FILE', 'multipart field "file" is required', 'file');
    const name = typeof req.body?.name === 'string' ? req.body.name : undefined;
    const row = await uploadStructure(deps, { buffer: file.buffer, originalName: file.originalname, name, ownerId: actorOfResponse(res).keyId });
    sendData(res, structureToApi(row), 200, 'structure uploaded');
  };
  r.post('/', upload);
  // The path the reference Python SDK and docs use.
  r.post('/upload', upload);
  r.get('/', async (req, res) => {
    const { page, pageSize } = pageOf(req.query);
    const builtin = req.query.is_builtin === undefined ? undefined : String(req.query.is_builtin) === 'true';
    const { items, total } = await listStructures(deps, actorOfResponse(res), page, pageSize, builtin);
    sendData(res, paginated(items.map(structureToApi), total, page, pageSize));
  });
  r.get('/builtin', (req, res) => {
    const set = typeof req.query.set === 'string' ? req.query.set : undefined;
    const { items, sets } = listBuiltinStructures(set);
    sendData(res, { items, total: items.length, sets, attribution: ATTRIBUTION });
  });
  r.get('/:structure_id', async (req, res) => {
    sendData(res, structureToApi(await getStructure(deps, req.params.structure_id, 'structure_id', actorOfResponse(res))));
  });
  r.delete('/:structure_id', async (req, res) => {
    await deleteStructure(deps, req.params.structure_id, actorOfResponse(res));
    sendData(res, null, 200, 'structure deleted');
  });
  // Re-parses the stored file; unknown and other users' ids answer is_valid:false "Structure not found" (200).
  r.get('/:structure_id/validate', async (req, res) => {
    const { id, check } = await validateStructure(deps, req.params.structure_id, actorOfResponse(res));
    sendData(res, structureValidationToApi(id, check));
  });
  // The stored parse result and a cheap check of the stored file (present, unchanged, within the atom limit).
  r.get('/:structure_id/details', async (req, res) => {
    const row = await findStructure(deps, req.params.structure_id, actorOfResponse(res));
    sendData(res, structureDetailsToApi(row, await checkStoredStructure(deps, row, { parse: false })));
  });
  r.get('/:structure_id/download', async (req, res) => {
    const row = await getStructure(deps, req.params.structure_id, 'structure_id', actorOfResponse(res));
    await sendDownload(res, row.filePath, row.originalName, `file of structure ${row.id}`);
  });
  return r;
}
