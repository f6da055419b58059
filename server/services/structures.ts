/** Structure uploads: content-addressed storage, validation by the engine, one row per (file, name). */
import { and, count, desc, eq, isNull, or, type SQL } from 'drizzle-orm';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { repoRoot } from '../../common/config.js';
import { EngineError } from '../../engine-host/engine-client.js';
import { structures, tasks, type StructureRow } from '../../store/schema.js';
import type { ServerDeps } from '../deps.js';
import { AppError, conflict, invalidStructure, structureNotFound, unavailable } from '../errors.js';
import type { Actor } from './keys.js';

interface ParsedStructure {
  format: string;
  n_atoms: number;
  formula: string;
  reduced_formula?: string;
  elements: string[];
  cell: Record<string, unknown>;
  volume_A3: number;
  density_g_cm3: number;
  warnings: string[];
}

/**
 * Parses a file with the engine (ASE: CIF with symmetry, POSCAR, XYZ/extxyz, …), the check every upload gets.
 * A file the parser refuses is a 400 with the engine's code (PARSE_ERROR, OVERLAPPING_ATOMS, …); an engine that
 * does not answer is a 503.
 */
async function parseWithEngine(deps: ServerDeps, path: string, fileName: string): Promise<ParsedStructure> {
  try {
    const engine = await deps.engine.get();
    // The limit travels with the request so the engine refuses an oversized file from its header, before expanding it.
    return await engine.request<ParsedStructure>('parse', { path, filename: fileName, max_atoms: deps.config.MOFSIM_MAX_ATOMS });
  } catch (err) {
    if (err instanceof EngineError && !err.retryable) throw invalidStructure(err.code, err.message, err.field ?? 'file', err.details);
    throw unavailable('ENGINE_UNAVAILABLE', `structure parser unavailable: ${(err as Error).message}`);
  }
}

/** Directory of the MOFSimBench structure sets shipped with the repo (MIT, see data/mofsimbench/PROVENANCE.md). */
export const builtinDir = join(repoRoot, 'data', 'mofsimbench', 'structures');

// Keeps a user's file name usable as a path component and keeps its extension (the engine reads the format from it).
function safeName(name: string): string {
  const base = basename(name).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return base.slice(-120) || 'structure';
}

/** Stores and validates an uploaded file; returns the existing row when the same file was uploaded under the same name. */
export async function uploadStructure(
  deps: ServerDeps,
  input: { buffer: Buffer; originalName: string; name?: string; isBuiltin?: boolean; ownerId?: string | null },
): Promise<StructureRow> {
  const ownerId = input.isBuiltin ? null : input.ownerId ?? null;
  const sameRecord = (checksum: string, name: string) =>
    and(eq(structures.checksum, checksum), eq(structures.name, name), ownerId ? eq(structures.ownerId, ownerId) : isNull(structures.ownerId));
  const { db } = deps.database;
  if (input.buffer.length === 0) throw invalidStructure('EMPTY_FILE', 'the uploaded file is empty');
  const checksum = createHash('sha256').update(input.buffer).digest('hex');
  const fileName = safeName(input.originalName);
  const name = input.name?.trim() || basename(fileName, extname(fileName)) || fileName;

  const existing = await db.select().from(structures).where(sameRecord(checksum, name));
  if (existing[0]) return existing[0];

  const dir = join(deps.config.MOFSIM_DATA_DIR, 'structures', checksum);
  const finalPath = join(dir, fileName);
  await mkdir(dir, { recursive: true });
  // Write under a unique name first so a concurrent identical upload never sees a half-written file.
  const tmpPath = join(dir, `.${randomUUID()}-${fileName}`);
  await writeFile(tmpPath, input.buffer);

  let parsed: ParsedStructure;
  try {
    parsed = await parseWithEngine(deps, tmpPath, fileName);
  } catch (err) {
    await rm(tmpPath, { force: true });
    throw err;
  }
  if (parsed.n_atoms > deps.config.MOFSIM_MAX_ATOMS) {
    await rm(tmpPath, { force: true });
    throw invalidStructure('TOO_MANY_ATOMS', `structure has ${parsed.n_atoms} atoms; the limit is ${deps.config.MOFSIM_MAX_ATOMS}`);
  }
  await rename(tmpPath, finalPath);

  const rows = await db.insert(structures).values({
    name,
    originalName: basename(input.originalName),
    format: parsed.format,
    checksum,
    filePath: finalPath,
    fileSize: input.buffer.length,
    nAtoms: parsed.n_atoms,
    formula: parsed.formula,
    reducedFormula: parsed.reduced_formula ?? null,
    elements: parsed.elements,
    cell: parsed.cell,
    volumeA3: parsed.volume_A3,
    densityGCm3: parsed.density_g_cm3,
    warnings: parsed.warnings ?? [],
    isBuiltin: input.isBuiltin ?? false,
    ownerId,
  }).onConflictDoNothing().returning();
  if (rows[0]) return rows[0];
  // Lost a race with an identical upload: return the winner's row.
  const again = await db.select().from(structures).where(sameRecord(checksum, name));
  return again[0]!;
}

/** What `actor` may see: its own uploads and the built-in suite (admin: everything). */
export function visibleStructures(actor: Actor | undefined): SQL | undefined {
  if (!actor || actor.role === 'admin') return undefined;
  return or(eq(structures.ownerId, actor.keyId), isNull(structures.ownerId));
}

/** One structure by id; another user's structure is "not found" (404, never 403). */
export async function getStructure(deps: ServerDeps, id: string, field = 'structure_id', actor?: Actor): Promise<StructureRow> {
  const rows = await deps.database.db.select().from(structures).where(and(eq(structures.id, id), visibleStructures(actor)));
  if (!rows[0]) throw structureNotFound(id, field);
  return rows[0];
}

/** A page of the structures `actor` may see, newest first. */
export async function listStructures(deps: ServerDeps, actor: Actor, page: number, pageSize: number, builtin?: boolean) {
  const { db } = deps.database;
  const where = and(visibleStructures(actor), builtin === undefined ? undefined : eq(structures.isBuiltin, builtin));
  const [{ n }] = (await db.select({ n: count() }).from(structures).where(where)) as [{ n: number }];
  const items = await db.select().from(structures).where(where).orderBy(desc(structures.createdAt))
    .limit(pageSize).offset((page - 1) * pageSize);
  return { items, total: Number(n) };
}

/** Deletes an uploaded structure's record (409 while a task references it; built-ins cannot be deleted by users). */
export async function deleteStructure(deps: ServerDeps, id: string, actor: Actor): Promise<void> {
  const { db } = deps.database;
  const row = await getStructure(deps, id, 'structure_id', actor);
  if (row.isBuiltin && actor.role !== 'admin') throw structureNotFound(id);
  const [{ n }] = (await db.select({ n: count() }).from(tasks).where(eq(tasks.structureId, id))) as [{ n: number }];
  if (Number(n) > 0) throw conflict(40905, 'STRUCTURE_IN_USE', `structure ${id} is used by ${n} task(s)`, 'structure_id');
  await db.delete(structures).where(eq(structures.id, id));
  // The file is content-addressed and may back other records; remove it only when no record points to it.
  const [{ m }] = (await db.select({ m: count() }).from(structures).where(eq(structures.filePath, row.filePath))) as [{ m: number }];
  if (Number(m) === 0) await rm(row.filePath, { force: true });
}

/** Finds a built-in suite structure by name (e.g. `calf`, `main_set/calf`) and registers it like an upload. */
export async function resolveBuiltin(deps: ServerDeps, name: string, field = 'structure.name'): Promise<StructureRow> {
  const [set, stem] = name.includes('/') ? name.split('/', 2) : [undefined, name];
  const known = ['main_set', 'copper', 'hcmof'];
  // Only the shipped set directories: a set named `..` must not reach the files beside them.
  const sets = set ? known.filter((k) => k === set) : known;
  for (const s of sets) {
    const dir = join(builtinDir, s);
    if (!existsSync(dir)) continue;
    const file = (await readdir(dir)).find((f) => basename(f, extname(f)) === stem);
    if (file) {
      const buffer = await readFile(join(dir, file));
      return uploadStructure(deps, { buffer, originalName: file, name: stem, isBuiltin: true });
    }
  }
  throw structureNotFound(name, field);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A structure by id (one `actor` may see; others' are 404) or by built-in suite name (`calf`), which registers the
 * built-in like a task naming it would: the catalogue's entries have no id until then.
 */
export async function findStructure(deps: ServerDeps, idOrName: string, actor: Actor): Promise<StructureRow> {
  if (UUID.test(idOrName)) return getStructure(deps, idOrName, 'structure_id', actor);
  return resolveBuiltin(deps, idOrName, 'structure_id');
}

/** One problem with a stored structure: `type` is the parser's code (OVERLAPPING_ATOMS, …) or an integrity code. */
export interface StructureProblem { type: string; message: string }

/** What a check of a stored structure found. */
export interface StructureCheck { problems: StructureProblem[]; warnings: string[] }

/**
 * Checks a stored structure: its file is still there and unchanged (SHA-256 against the upload's), its atom count
 * is within today's MOFSIM_MAX_ATOMS, and, with `parse`, the engine still accepts it (the very parse an upload
 * gets, so the messages are the parser's: overlapping atoms, unknown element, no cell, …). An engine that does not
 * answer is a 503, never a verdict on the file.
 */
export async function checkStoredStructure(deps: ServerDeps, row: StructureRow, opts: { parse: boolean }): Promise<StructureCheck> {
  const problems: StructureProblem[] = [];
  const add = (p: StructureProblem) => { if (!problems.some((q) => q.type === p.type)) problems.push(p); };
  let warnings = row.warnings ?? [];
  let nAtoms = row.nAtoms;
  let content: Buffer | undefined;
  try {
    content = await readFile(row.filePath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    add({ type: 'FILE_MISSING', message: 'the stored file is missing' });
  }
  if (content) {
    if (createHash('sha256').update(content).digest('hex') !== row.checksum) {
      add({ type: 'CHECKSUM_MISMATCH', message: 'the stored file changed since it was uploaded (its SHA-256 differs)' });
    }
    if (opts.parse) {
      try {
        const parsed = await parseWithEngine(deps, row.filePath, basename(row.filePath));
        warnings = parsed.warnings ?? [];
        nAtoms = parsed.n_atoms;
      } catch (err) {
        if (!(err instanceof AppError) || err.status !== 400) throw err;
        add({ type: err.type, message: err.message });
      }
    }
  }
  if (nAtoms > deps.config.MOFSIM_MAX_ATOMS) {
    add({ type: 'TOO_MANY_ATOMS', message: `structure has ${nAtoms} atoms; the limit is ${deps.config.MOFSIM_MAX_ATOMS}` });
  }
  return { problems, warnings };
}

/**
 * Re-validates a stored structure with the parser (`GET /structures/{id}/validate`). An unknown id, and another
 * user's, answer `Structure not found` as an invalid result, the way the reference service answers unknown ids:
 * the two cases look the same, so the answer tells nothing about other users' structures.
 */
export async function validateStructure(deps: ServerDeps, idOrName: string, actor: Actor): Promise<{ id: string; check: StructureCheck }> {
  let row: StructureRow;
  try {
    row = await findStructure(deps, idOrName, actor);
  } catch (err) {
    if (err instanceof AppError && err.type === 'STRUCTURE_NOT_FOUND') {
      return { id: idOrName, check: { problems: [{ type: 'STRUCTURE_NOT_FOUND', message: 'Structure not found' }], warnings: [] } };
    }
    throw err;
  }
  return { id: row.id, check: await checkStoredStructure(deps, row, { parse: true }) };
}
