/** Structure uploads: content-addressed storage, validation by the engine, one row per (file, name). */
import { and, eq } from 'drizzle-orm';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { repoRoot } from '../../common/config.js';
import { EngineError } from '../../workers/engine-client.js';
import { structures, type StructureRow } from '../db/schema.js';
import type { ServerDeps } from '../deps.js';
import { invalidStructure, structureNotFound, unavailable } from '../errors.js';

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
  input: { buffer: Buffer; originalName: string; name?: string; isBuiltin?: boolean },
): Promise<StructureRow> {
  const { db } = deps.database;
  if (input.buffer.length === 0) throw invalidStructure('EMPTY_FILE', 'the uploaded file is empty');
  const checksum = createHash('sha256').update(input.buffer).digest('hex');
  const fileName = safeName(input.originalName);
  const name = input.name?.trim() || basename(fileName, extname(fileName)) || fileName;

  const existing = await db.select().from(structures).where(and(eq(structures.checksum, checksum), eq(structures.name, name)));
  if (existing[0]) return existing[0];

  const dir = join(deps.config.MOFSIM_DATA_DIR, 'structures', checksum);
  const finalPath = join(dir, fileName);
  await mkdir(dir, { recursive: true });
  // Write under a unique name first so a concurrent identical upload never sees a half-written file.
  const tmpPath = join(dir, `.${randomUUID()}-${fileName}`);
  await writeFile(tmpPath, input.buffer);

  let parsed: ParsedStructure;
  try {
    const engine = await deps.engine.get();
    parsed = await engine.request<ParsedStructure>('parse', { path: tmpPath, filename: fileName });
  } catch (err) {
    await rm(tmpPath, { force: true });
    if (err instanceof EngineError && !err.retryable) throw invalidStructure(err.code, err.message, err.field ?? 'file');
    throw unavailable('ENGINE_UNAVAILABLE', `structure parser unavailable: ${(err as Error).message}`);
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
  }).onConflictDoNothing().returning();
  if (rows[0]) return rows[0];
  // Lost a race with an identical upload: return the winner's row.
  const again = await db.select().from(structures).where(and(eq(structures.checksum, checksum), eq(structures.name, name)));
  return again[0]!;
}

/** One structure by id. */
export async function getStructure(deps: ServerDeps, id: string, field = 'structure_id'): Promise<StructureRow> {
  const rows = await deps.database.db.select().from(structures).where(eq(structures.id, id));
  if (!rows[0]) throw structureNotFound(id, field);
  return rows[0];
}

/** Finds a built-in suite structure by name (e.g. `calf`, `main_set/calf`) and registers it like an upload. */
export async function resolveBuiltin(deps: ServerDeps, name: string): Promise<StructureRow> {
  const [set, stem] = name.includes('/') ? name.split('/', 2) : [undefined, name];
  const sets = set ? [set] : ['main_set', 'copper', 'hcmof'];
  for (const s of sets) {
    const dir = join(builtinDir, s);
    if (!existsSync(dir)) continue;
    const file = (await readdir(dir)).find((f) => basename(f, extname(f)) === stem);
    if (file) {
      const buffer = await readFile(join(dir, file));
      return uploadStructure(deps, { buffer, originalName: file, name: stem, isBuiltin: true });
    }
  }
  throw structureNotFound(name, 'structure.name');
}
