/**
 * The quantities alert rules compare against (store/alert-metrics.ts), measured on a real Postgres: the queue,
 * active workers and their GPU telemetry (a stale worker's hot GPU does not count), recent failures, the webhook
 * backlog, the data directory's free space.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { testAdminUrl } from '../scripts/services.js';
import { collectAlertMetrics } from '../store/alert-metrics.js';
import { ensureDatabaseExists, migrateDatabase, openDatabase, type Database } from '../store/client.js';
import { alertEvents, alerts, tasks, webhookDeliveries, workers } from '../store/schema.js';

const adminUrl = testAdminUrl();
const dbName = `mofsim_test_${randomBytes(4).toString('hex')}`;
let database: Database;

before(async () => {
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  await ensureDatabaseExists(u.toString());
  await migrateDatabase(u.toString());
  database = openDatabase(u.toString(), 2);
});
after(async () => {
  await database?.close();
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${dbName}" with (force)`).catch(() => {});
  await admin.end();
});

const ago = (s: number) => new Date(Date.now() - s * 1000);
const gpuWorker = (id: string, gpuIndex: number | null, telemetry: Record<string, unknown>, status = 'online', heartbeat = new Date()) => ({
  id, hostname: 'box', pid: 1, device: gpuIndex === null ? 'cpu' : 'cuda', gpuIndex, taskQueue: `q.${id}`, status,
  maxJobs: 4, memoryBudgetMB: 1000, telemetry, lastHeartbeat: heartbeat,
});
const task = (status: string, extra: Partial<typeof tasks.$inferInsert> = {}) => ({ taskType: 'optimization', model: 'lj_test', status, ...extra });

describe('alert metrics', () => {
  it('is unmeasured or zero on an empty system', async () => {
    const m = await collectAlertMetrics(database.db, { staleSeconds: 15, failureWindowSeconds: 900, dataDir: tmpdir() });
    assert.equal(m.queue_length, 0);
    assert.equal(m.oldest_queued_age_s, 0);
    assert.equal(m.active_workers, 0);
    assert.equal(m.available_gpus, null, 'no GPU worker ever registered');
    assert.equal(m.max_gpu_temp, null);
    assert.equal(m.failure_rate_percent, null);
    assert.equal(m.consecutive_failures, 0);
    assert.equal(m.webhook_backlog, 0);
  });

  it('measures the queue, the active workers and their GPUs, recent failures, the webhook backlog and the disk', async () => {
    const db = database.db;
    await db.insert(workers).values([
      gpuWorker('gpu0', 0, { memory_total_MB: 81920, memory_used_MB: 79872, temperature_C: 88 }),
      gpuWorker('gpu1', 1, { memory_total_MB: 81920, memory_used_MB: 1024, temperature_C: 60 }, 'draining'),
      // Silent for a minute: neither active nor counted in the GPU figures, however hot its last report.
      gpuWorker('gpu2', 2, { memory_total_MB: 81920, memory_used_MB: 81000, temperature_C: 99 }, 'online', ago(60)),
      gpuWorker('gpu3', 3, { memory_total_MB: 81920, memory_used_MB: 81000, temperature_C: 99 }, 'offline'),
      gpuWorker('cpu0', null, {}),
    ]);
    const [t] = await db.insert(tasks).values([
      task('QUEUED', { queuedAt: ago(120), createdAt: ago(130) }),
      task('QUEUED', { queuedAt: ago(10) }),
      task('PENDING'),
      task('RUNNING'),
      task('COMPLETED', { completedAt: ago(100) }),
      task('FAILED', { completedAt: ago(50) }),
      task('TIMEOUT', { completedAt: ago(20) }),
      // Cancelled: neither a failure nor a success.
      task('CANCELLED', { completedAt: ago(5) }),
      // Outside the failure window, but part of the run of outcomes before the success.
      task('FAILED', { completedAt: ago(7200) }),
    ]).returning();
    await db.insert(webhookDeliveries).values([
      // Event 1 failed, then got through; event 2 is still failing; event 3 failed long ago (out of the window).
      { taskId: t!.id, eventId: 1, event: 'task.completed', url: 'http://x', idempotencyKey: 'k1', attempt: 1, ok: false },
      { taskId: t!.id, eventId: 1, event: 'task.completed', url: 'http://x', idempotencyKey: 'k1', attempt: 2, ok: true },
      { taskId: t!.id, eventId: 2, event: 'task.failed', url: 'http://x', idempotencyKey: 'k2', attempt: 1, ok: false },
      { taskId: t!.id, eventId: 2, event: 'task.failed', url: 'http://x', idempotencyKey: 'k2', attempt: 2, ok: false },
      { taskId: t!.id, eventId: 3, event: 'task.failed', url: 'http://x', idempotencyKey: 'k3', attempt: 1, ok: false, createdAt: ago(2 * 86400) },
      // A refused URL is not retried: not pending.
      { taskId: t!.id, eventId: 4, event: 'task.failed', url: 'http://x', idempotencyKey: 'k4', attempt: 1, ok: false, error: 'callback host resolves to a private address' },
    ]);
    // An alert transition's delivery still failing counts in the same backlog; one delivered does not.
    const [a] = await db.insert(alerts).values({ level: 'WARNING', alertType: 'system', message: 'm' }).returning();
    const [firing, resolved] = await db.insert(alertEvents).values([{ alertId: a!.id, type: 'firing', webhook: true }, { alertId: a!.id, type: 'resolved', webhook: true }]).returning();
    await db.insert(webhookDeliveries).values([
      { alertEventId: firing!.id, event: 'alert.firing', url: 'http://x', idempotencyKey: `alert:${a!.id}:firing`, attempt: 1, ok: false, statusCode: 503 },
      { alertEventId: resolved!.id, event: 'alert.resolved', url: 'http://x', idempotencyKey: `alert:${a!.id}:resolved`, attempt: 1, ok: true, statusCode: 200 },
    ]);
    const dataDir = join(tmpdir(), 'not-created-yet', 'data');
    const m = await collectAlertMetrics(db, { staleSeconds: 15, failureWindowSeconds: 900, dataDir });
    assert.equal(m.queue_length, 3);
    assert.ok(m.oldest_queued_age_s! >= 119 && m.oldest_queued_age_s! < 200, `oldest ${m.oldest_queued_age_s}`);
    assert.equal(m.active_workers, 3, 'online and draining workers with a fresh heartbeat');
    assert.equal(m.available_gpus, 2);
    assert.equal(m.min_gpu_free_memory_gb, 2);
    assert.equal(m.max_gpu_memory_used_percent, 97.5);
    assert.equal(m.max_gpu_temp, 88);
    assert.ok(Math.abs(m.failure_rate_percent! - 200 / 3) < 1e-9, `failure rate ${m.failure_rate_percent}`);
    assert.equal(m.consecutive_failures, 2);
    assert.equal(m.webhook_backlog, 2, 'the failing task event and the failing alert transition');
    const fs = statfsSync(tmpdir());
    assert.ok(Math.abs(m.disk_free_gb! - (fs.bavail * fs.bsize) / 2 ** 30) < 1, 'the nearest existing ancestor is measured');
    assert.ok(m.disk_free_percent! > 0 && m.disk_free_percent! <= 100);
  });
});
