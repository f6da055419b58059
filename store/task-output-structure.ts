/**
 * Chaining: a task's output file (an optimization's final structure) registered as a structure another task can
 * start from. The file is stored content-addressed like an upload. Atoms, elements and formula are those of the
 * source task's structure (an optimization moves atoms, it never adds or removes them); the cell and volume are the
 * relaxed ones the source's result reports.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from './client.js';
import { structures, type StructureRow, type TaskRow } from './schema.js';

/** The path of `file` among `task`'s outputs (by output name or file name); null when it has no such output. */
export function taskOutputPath(dataDir: string, task: TaskRow, file: string): string | null {
  const outputs = task.outputFiles ?? {};
  const name = outputs[file] ?? (Object.values(outputs).includes(file) ? file : undefined);
  return name ? join(dataDir, 'tasks', task.id, name) : null;
}

export async function structureFromTaskOutput(
  db: Db, dataDir: string, source: TaskRow, path: string, ownerId: string | null,
): Promise<StructureRow> {
  const [origin] = source.structureId ? await db.select().from(structures).where(eq(structures.id, source.structureId)) : [];
  if (!origin) throw new Error(`task ${source.id} has no structure to derive from`);
  const buffer = await readFile(path);
  const checksum = createHash('sha256').update(buffer).digest('hex');
  const fileName = basename(path);
  const name = `${origin.name}@${source.taskType}-${source.id.slice(0, 8)}`;
  const same = and(eq(structures.checksum, checksum), eq(structures.name, name), ownerId ? eq(structures.ownerId, ownerId) : isNull(structures.ownerId));
  const [existing] = await db.select().from(structures).where(same);
  if (existing) return existing;
  const dir = join(dataDir, 'structures', checksum);
  await mkdir(dir, { recursive: true });
  const filePath = join(dir, fileName);
  await copyFile(path, filePath);
  const result = (source.result ?? {}) as Record<string, unknown>;
  const volume = typeof result.final_volume_A3 === 'number' ? result.final_volume_A3 : null;
  const massDensity = origin.densityGCm3 !== null && origin.volumeA3 && volume ? origin.densityGCm3 * origin.volumeA3 / volume : null;
  const [row] = await db.insert(structures).values({
    name, originalName: fileName, format: extname(fileName).slice(1) || origin.format, checksum, filePath,
    fileSize: buffer.length, nAtoms: origin.nAtoms, formula: origin.formula, reducedFormula: origin.reducedFormula,
    elements: origin.elements, cell: (result.cell as Record<string, unknown> | undefined) ?? null, volumeA3: volume,
    densityGCm3: massDensity, warnings: [`the ${source.taskType} output ${fileName} of task ${source.id}`], ownerId,
  }).onConflictDoNothing().returning();
  if (row) return row;
  const [raced] = await db.select().from(structures).where(same);
  return raced!;
}
