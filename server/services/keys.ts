/** API keys: created with a random secret shown once, stored as SHA-256 only, looked up by that hash. */
import { and, desc, eq, isNull } from 'drizzle-orm';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { repoRoot } from '../../common/config.js';
import type { Db } from '../../store/client.js';
import { apiKeys, type ApiKeyRow } from '../../store/schema.js';
import { keyNotFound } from '../errors.js';

export type Role = 'admin' | 'user';

/** Where `npm start` keeps the local development admin key when no key is configured (see scripts/stack.ts). */
export const devAdminKeyFile = join(repoRoot, '.mofsim', 'dev-admin-key');

/** Who is calling: the key's id (the owner id of what it creates) and its role. */
export interface Actor {
  keyId: string;
  role: Role;
  name: string;
  rateLimitPerMinute: number;
  maxConcurrentTasks: number | null;
  gpuSecondsPerDay: number | null;
  defaultCallback: { url: string; events?: string[]; secret?: string } | null;
}

export const hashKey = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

export function actorOf(row: ApiKeyRow): Actor {
  return {
    keyId: row.id, role: row.role === 'admin' ? 'admin' : 'user', name: row.name,
    rateLimitPerMinute: row.rateLimitPerMinute, maxConcurrentTasks: row.maxConcurrentTasks, gpuSecondsPerDay: row.gpuSecondsPerDay,
    defaultCallback: row.defaultCallback ?? null,
  };
}

export interface KeyCreate {
  name: string;
  role?: Role;
  rate_limit_per_minute?: number;
  max_concurrent_tasks?: number | null;
  gpu_seconds_per_day?: number | null;
  default_callback?: { url: string; events?: string[]; secret?: string } | null;
}

/** Creates a key; the returned `key` is the only time the secret exists outside the client. */
export async function createKey(db: Db, input: KeyCreate, defaultRateLimit = 600): Promise<{ row: ApiKeyRow; key: string }> {
  // `msk_<8 hex>` is the public prefix (listed, logged); the rest is 32 random bytes.
  const prefix = `msk_${randomBytes(4).toString('hex')}`;
  const key = `${prefix}_${randomBytes(32).toString('base64url')}`;
  const [row] = await db.insert(apiKeys).values({
    prefix, keyHash: hashKey(key), name: input.name, role: input.role ?? 'user',
    rateLimitPerMinute: input.rate_limit_per_minute ?? defaultRateLimit,
    maxConcurrentTasks: input.max_concurrent_tasks ?? null,
    gpuSecondsPerDay: input.gpu_seconds_per_day ?? null,
    defaultCallback: input.default_callback ?? null,
  }).returning();
  return { row: row!, key };
}

/** Makes sure an admin key with exactly `key` exists (the MOFSIM_BOOTSTRAP_ADMIN_KEY development convenience). */
export async function ensureAdminKey(db: Db, key: string, name = 'bootstrap-admin'): Promise<ApiKeyRow> {
  const keyHash = hashKey(key);
  const [existing] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash));
  if (existing) {
    if (existing.revokedAt || existing.role !== 'admin') {
      const [row] = await db.update(apiKeys).set({ revokedAt: null, role: 'admin' }).where(eq(apiKeys.id, existing.id)).returning();
      return row!;
    }
    return existing;
  }
  // The prefix of a chosen key is derived from its hash, never from the key itself.
  const [row] = await db.insert(apiKeys).values({ prefix: `boot_${keyHash.slice(0, 8)}`, keyHash, name, role: 'admin' })
    .onConflictDoNothing().returning();
  return row ?? (await db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash)))[0]!;
}

/** The live key row for a presented key, or undefined. */
export async function findKey(db: Db, key: string): Promise<ApiKeyRow | undefined> {
  const h = hashKey(key);
  const [row] = await db.select().from(apiKeys).where(and(eq(apiKeys.keyHash, h), isNull(apiKeys.revokedAt)));
  // The index lookup already matched; the constant-time compare guards against any collation surprise.
  if (!row || !timingSafeEqual(Buffer.from(row.keyHash), Buffer.from(h))) return undefined;
  return row;
}

export async function listKeys(db: Db): Promise<ApiKeyRow[]> {
  return db.select().from(apiKeys).orderBy(desc(apiKeys.createdAt));
}

/** Revokes a key (idempotent); its tasks and structures stay. */
export async function revokeKey(db: Db, id: string): Promise<ApiKeyRow> {
  const [row] = await db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, id)).returning();
  if (!row) throw keyNotFound(id);
  return row;
}

export async function touchKey(db: Db, id: string): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, id));
}

export function keyToApi(k: ApiKeyRow) {
  return {
    id: k.id, prefix: k.prefix, name: k.name, role: k.role,
    rate_limit_per_minute: k.rateLimitPerMinute, max_concurrent_tasks: k.maxConcurrentTasks, gpu_seconds_per_day: k.gpuSecondsPerDay,
    default_callback: k.defaultCallback
      ? { url: k.defaultCallback.url, events: k.defaultCallback.events, has_secret: !!k.defaultCallback.secret } : null,
    created_at: k.createdAt.toISOString(), last_used_at: k.lastUsedAt?.toISOString() ?? null, revoked_at: k.revokedAt?.toISOString() ?? null,
  };
}
