/**
 * The result cache: a completed task records its key (common/result-cache-key.ts); a later task with the same key
 * may take that task's result instead of running (options.reuse). The copy keeps the source's output files (hard
 * links, so no bytes are duplicated) and says in its provenance which task it came from.
 */
import { and, desc, eq, sql } from 'drizzle-orm';
import { copyFile, link, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { resultCacheKey, resultCacheKeyOf } from '../common/result-cache-key.js';
import type { Db } from './client.js';
import { structures, tasks, type TaskRow } from './schema.js';
import { appendTaskEvent } from './task-events.js';
import { countFinished } from '../metrics/task-metrics.js';

/** What the engine's `resolve` op answers: the provenance a run would record. */
export interface ResolvedRun { model: string; weights_sha256: string | null; parameters: Record<string, unknown>; engine_version: string }
export type ResolveRun = (taskType: string, model: string, parameters: Record<string, unknown>) => Promise<ResolvedRun>;

/** Stores the cache key of a task that just completed (from its result's provenance); no key without provenance. */
export async function recordCacheKey(db: Db, taskId: string): Promise<void> {
  const [row] = await db.select({ taskType: tasks.taskType, result: tasks.result, checksum: structures.checksum })
    .from(tasks).innerJoin(structures, eq(structures.id, tasks.structureId)).where(eq(tasks.id, taskId));
  if (!row) return;
  const key = resultCacheKeyOf(row.taskType, row.checksum, row.result);
  if (key) await db.update(tasks).set({ cacheKey: key }).where(eq(tasks.id, taskId));
}

/** The cache key `task` would get if it ran now; null when it has no structure yet (a chained task still waiting). */
export async function cacheKeyFor(db: Db, resolve: ResolveRun, task: TaskRow): Promise<string | null> {
  if (!task.structureId) return null;
  const [s] = await db.select({ checksum: structures.checksum }).from(structures).where(eq(structures.id, task.structureId));
  if (!s) return null;
  const r = await resolve(task.taskType, task.model, task.parameters);
  return resultCacheKey({
    structureSha256: s.checksum, model: r.model, weightsSha256: r.weights_sha256, taskType: task.taskType,
    parameters: r.parameters, engineVersion: r.engine_version,
  });
}

/** The newest completed task with `key`, other than `exceptId`. */
export async function findCached(db: Db, key: string, exceptId?: string): Promise<TaskRow | undefined> {
  const [row] = await db.select().from(tasks)
    .where(and(eq(tasks.cacheKey, key), eq(tasks.status, 'COMPLETED'), exceptId ? sql`${tasks.id} <> ${exceptId}` : undefined))
    .orderBy(desc(tasks.completedAt)).limit(1);
  return row;
}

/**
 * Completes the not-started task `taskId` with `source`'s result. Returns false when the task had started or ended
 * meanwhile (then it runs, or ran, by itself).
 */
export async function reuseResult(db: Db, dataDir: string, taskId: string, source: TaskRow, key: string): Promise<boolean> {
  // The source of a reused result is the task that computed it, however many copies lie between.
  const origin = source.reusedFrom ?? source.id;
  const result = { ...(source.result ?? {}) } as Record<string, unknown>;
  result.provenance = { ...(result.provenance as Record<string, unknown> | undefined), reused: true, reused_from: origin };
  await linkOutputs(join(dataDir, 'tasks', source.id), join(dataDir, 'tasks', taskId));
  const rows = await db.update(tasks).set({
    status: 'COMPLETED', result, outputFiles: source.outputFiles, cacheKey: key, reusedFrom: origin, progress: 100, workflowPending: false, waitSeq: null,
    completedAt: sql`now()`, durationSeconds: 0,
  }).where(and(eq(tasks.id, taskId), sql`${tasks.status} in ('PENDING','QUEUED')`)).returning({ id: tasks.id });
  if (!rows.length) return false;
  countFinished(source, 'COMPLETED');
  await appendTaskEvent(db, taskId, 'completed', { reused_from: origin });
  return true;
}

async function linkOutputs(from: string, to: string): Promise<void> {
  let names: string[];
  try { names = await readdir(from); } catch { return; }
  await mkdir(to, { recursive: true });
  for (const n of names) {
    await link(join(from, n), join(to, n)).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return;
      if (err.code === 'EISDIR' || err.code === 'EPERM') return; // sub-directories (checkpoints) are not results
      await copyFile(join(from, n), join(to, n));
    });
  }
}
