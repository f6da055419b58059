/** Postgres tables (drizzle). Postgres is the system of record; Temporal holds execution state only. */
import { sql } from 'drizzle-orm';
import { PRIORITY_RANK, DEFAULT_PRIORITY_RANK } from './task-status.js';
import {
  bigint, bigserial, boolean, check, doublePrecision, index, integer, jsonb, pgTable, primaryKey, real, smallint, text, timestamp, unique,
  uniqueIndex, uuid,
} from 'drizzle-orm/pg-core';

export const structures = pgTable('structures', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  originalName: text('original_name').notNull(),
  format: text('format').notNull(),
  // Full SHA-256: files are stored content-addressed, so an identical upload maps to the same file.
  checksum: text('checksum').notNull(),
  filePath: text('file_path').notNull(),
  fileSize: integer('file_size').notNull(),
  nAtoms: integer('n_atoms').notNull(),
  formula: text('formula').notNull(),
  reducedFormula: text('reduced_formula'),
  elements: jsonb('elements').$type<string[]>().notNull(),
  cell: jsonb('cell').$type<Record<string, unknown>>(),
  volumeA3: doublePrecision('volume_a3'),
  densityGCm3: doublePrecision('density_g_cm3'),
  warnings: jsonb('warnings').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
  isBuiltin: boolean('is_builtin').notNull().default(false),
  // The API key that uploaded it; null for built-in suite structures, which every key may use.
  ownerId: uuid('owner_id'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [
  // One row per (file, name, owner): two users uploading the same file each own their record (nulls not distinct: one built-in row).
  unique('structures_checksum_name_owner_key').on(t.checksum, t.name, t.ownerId).nullsNotDistinct(),
]);

export const tasks = pgTable('tasks', {
  id: uuid('id').primaryKey().defaultRandom(),
  taskType: text('task_type').notNull(),
  status: text('status').notNull().default('PENDING'),
  priority: text('priority').notNull().default('NORMAL'),
  model: text('model').notNull(),
  structureId: uuid('structure_id').references(() => structures.id),
  structureName: text('structure_name'),
  parameters: jsonb('parameters').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  options: jsonb('options').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  progress: real('progress').notNull().default(0),
  result: jsonb('result').$type<Record<string, unknown>>(),
  outputFiles: jsonb('output_files').$type<Record<string, string>>(),
  errorType: text('error_type'),
  errorMessage: text('error_message'),
  workerId: text('worker_id'),
  gpuId: integer('gpu_id'),
  attempts: integer('attempts').notNull().default(0),
  // Last checkpoint the engine reported ({path, step}); survives the worker that wrote it, so a retry anywhere resumes.
  checkpoint: jsonb('checkpoint').$type<{ path: string; step: number }>(),
  idempotencyKey: text('idempotency_key'),
  // The API key that submitted it; a user key sees only its own tasks.
  ownerId: uuid('owner_id'),
  // The task this one retries (POST /tasks/{id}/retry).
  retryOf: uuid('retry_of'),
  // The campaign that owns it (null for a plain task) and its place in the campaign's grid (model|structure|step).
  campaignId: uuid('campaign_id'),
  campaignKey: text('campaign_key'),
  // Chaining: the task whose output file this one starts from; the task waits in PENDING until that one completed.
  inputTaskId: uuid('input_task_id'),
  inputFile: text('input_file'),
  // Result cache: hash of (structure content, model + weights, task type, effective parameters, engine version);
  // see common/result-cache-key.ts. `reusedFrom` names the completed task whose result this one copied.
  cacheKey: text('cache_key'),
  reusedFrom: uuid('reused_from'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  queuedAt: timestamp('queued_at', { withTimezone: true }),
  startedAt: timestamp('started_at', { withTimezone: true }),
  completedAt: timestamp('completed_at', { withTimezone: true }),
  durationSeconds: doublePrecision('duration_seconds'),
  // The order of the line, derived from `priority` (one definition: PRIORITY_RANK).
  priorityRank: integer('priority_rank').notNull().generatedAlwaysAs(sql.raw(`case priority ${Object.entries(PRIORITY_RANK)
    .map(([p, r]) => `when '${p}' then ${r}`).join(' ')} else ${DEFAULT_PRIORITY_RANK} end`)),
  // Whose share of the devices this task draws on (fair share between owners within a priority level).
  fairKey: text('fair_key').notNull().generatedAlwaysAs(sql`coalesce(owner_id::text, 'anonymous')`),
  // Set while the task's workflow waits in line for a slot: the number of its current request (a grant names it, so
  // a late grant for an earlier request is recognised); null when it is not waiting.
  waitSeq: integer('wait_seq'),
  // The worker of the failed attempt: chosen again only when nothing else has room.
  avoidWorkerId: text('avoid_worker_id'),
  // How many smaller tasks have started ahead of this one while it fitted nowhere (the backfill bound).
  bypassed: integer('bypassed').notNull().default(0),
  // Committed but its workflow not started yet (batch submission's outbox; started after the answer or by a sweep).
  workflowPending: boolean('workflow_pending').notNull().default(false),
  // The task's ticket: its age in the line (a sequence, so the tasks of one batch — one created_at — keep their
  // order too), and the key its queue position is counted by (`line_counts`).
  lineNo: bigserial('line_no', { mode: 'number' }).notNull(),
}, (t) => [
  index('tasks_status_idx').on(t.status),
  // The line: waiting tasks by priority then age, and the same per owner (fair share); only waiting rows are indexed.
  index('tasks_line_idx').on(t.priorityRank, t.lineNo).where(sql`wait_seq is not null`),
  index('tasks_fair_line_idx').on(t.priorityRank, t.fairKey, t.lineNo).where(sql`wait_seq is not null`),
  // Tasks not started yet by level and ticket: the last step of a queue position (see line_counts).
  index('tasks_waiting_idx').on(t.priorityRank, t.lineNo).where(sql`status in ('PENDING', 'QUEUED')`),
  index('tasks_workflow_pending_idx').on(t.createdAt).where(sql`workflow_pending`),
  index('tasks_created_at_idx').on(t.createdAt),
  uniqueIndex('tasks_idempotency_key_idx').on(t.idempotencyKey),
  index('tasks_owner_idx').on(t.ownerId, t.createdAt),
  index('tasks_campaign_idx').on(t.campaignId, t.status),
  uniqueIndex('tasks_campaign_key_idx').on(t.campaignId, t.campaignKey),
  index('tasks_input_task_idx').on(t.inputTaskId).where(sql`${t.inputTaskId} is not null`),
  index('tasks_cache_key_idx').on(t.cacheKey, t.completedAt).where(sql`${t.cacheKey} is not null and ${t.status} = 'COMPLETED'`),
  // Recent outcomes (alert metrics: failure rate, consecutive failures) without a scan of the table.
  index('tasks_completed_at_idx').on(t.completedAt),
]);

/**
 * A benchmark campaign: models × structures × task steps, run by one durable workflow (workflowId `campaign-<id>`)
 * that owns its tasks (tasks.campaign_id). `counts` is the last progress snapshot (tasks by status), refreshed by
 * the workflow; `scores` the MOFSimBench scores computed when it finished (or on demand).
 */
export const campaigns = pgTable('campaigns', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  ownerId: uuid('owner_id'),
  models: jsonb('models').$type<string[]>().notNull(),
  /** The resolved structures: `{id, name}` of every structure the campaign runs on. */
  structures: jsonb('structures').$type<{ id: string; name: string }[]>().notNull(),
  /** The structure sets and ids as asked for (for display and re-runs). */
  structureSpec: jsonb('structure_spec').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
  /** The task steps: `[{type, parameters}]`. */
  taskSpec: jsonb('task_spec').$type<{ type: string; parameters?: Record<string, unknown> }[]>().notNull(),
  options: jsonb('options').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  /** PENDING | RUNNING | PAUSED | COMPLETED | CANCELLED | FAILED */
  status: text('status').notNull().default('PENDING'),
  totalTasks: integer('total_tasks').notNull().default(0),
  counts: jsonb('counts').$type<Record<string, number>>().notNull().default(sql`'{}'::jsonb`),
  scores: jsonb('scores').$type<Record<string, unknown>>(),
  errorMessage: text('error_message'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  startedAt: timestamp('started_at', { withTimezone: true }),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
}, (t) => [
  index('campaigns_owner_idx').on(t.ownerId, t.createdAt),
  index('campaigns_status_idx').on(t.status),
]);

export type CampaignRow = typeof campaigns.$inferSelect;

/**
 * A campaign's own events (`progress`, `completed`): the live stream of a watched campaign and the source of its
 * `campaign.progress` / `campaign.completed` webhooks (each attempt a `webhook_deliveries` row).
 */
export const campaignEvents = pgTable('campaign_events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  campaignId: uuid('campaign_id').notNull().references(() => campaigns.id, { onDelete: 'cascade' }),
  /** progress | completed */
  type: text('type').notNull(),
  data: jsonb('data').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  /** Whether the campaign's callback subscribed to the event when it was written. */
  webhook: boolean('webhook').notNull().default(false),
  /** When its delivery workflow was started; each attempt is a `webhook_deliveries` row. */
  dispatchedAt: timestamp('dispatched_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [
  index('campaign_events_campaign_idx').on(t.campaignId, t.id),
  index('campaign_events_undispatched_idx').on(t.campaignId, t.id).where(sql`${t.webhook} and ${t.dispatchedAt} is null`),
]);

export type CampaignEventRow = typeof campaignEvents.$inferSelect;

export const taskEvents = pgTable('task_events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  taskId: uuid('task_id').notNull().references(() => tasks.id, { onDelete: 'cascade' }),
  type: text('type').notNull(),
  data: jsonb('data').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [index('task_events_task_idx').on(t.taskId, t.id)]);

// ---- API keys, alerts ----

/** API keys: only the SHA-256 of a key is stored; `prefix` is the public part shown in listings. */
export const apiKeys = pgTable('api_keys', {
  id: uuid('id').primaryKey().defaultRandom(),
  prefix: text('prefix').notNull(),
  keyHash: text('key_hash').notNull(),
  name: text('name').notNull(),
  role: text('role').notNull().default('user'),
  /** Requests per minute. */
  rateLimitPerMinute: integer('rate_limit_per_minute').notNull().default(600),
  /** Tasks not yet finished at once; null = unlimited. */
  maxConcurrentTasks: integer('max_concurrent_tasks'),
  /** Task run time (seconds) over the last 24 h; null = unlimited. */
  gpuSecondsPerDay: integer('gpu_seconds_per_day'),
  /** Webhook for this key's tasks that name none ({url, events?, secret?}). */
  defaultCallback: jsonb('default_callback').$type<{ url: string; events?: string[]; secret?: string }>(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
}, (t) => [uniqueIndex('api_keys_hash_idx').on(t.keyHash), uniqueIndex('api_keys_prefix_idx').on(t.prefix)]);

/** Alert rules ({metric, operator, threshold}), evaluated by the alert evaluator workflow (server/alerting/). */
export const alertRules = pgTable('alert_rules', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  description: text('description').notNull().default(''),
  alertType: text('alert_type').notNull().default('custom'),
  level: text('level').notNull().default('WARNING'),
  condition: jsonb('condition').$type<{ metric: string; operator: string; threshold: number }>().notNull(),
  enabled: boolean('enabled').notNull().default(true),
  cooldownSeconds: integer('cooldown_seconds').notNull().default(300),
  notificationChannels: jsonb('notification_channels').$type<string[]>().notNull().default(sql`'["log"]'::jsonb`),
  lastTriggered: timestamp('last_triggered', { withTimezone: true }),
  triggerCount: integer('trigger_count').notNull().default(0),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Fired alerts: one row per firing, resolved when the condition no longer holds (or by hand). */
export const alerts = pgTable('alerts', {
  id: uuid('id').primaryKey().defaultRandom(),
  ruleId: text('rule_id').references(() => alertRules.id, { onDelete: 'set null' }),
  level: text('level').notNull(),
  alertType: text('alert_type').notNull(),
  message: text('message').notNull(),
  details: jsonb('details').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  resolved: boolean('resolved').notNull().default(false),
  resolvedAt: timestamp('resolved_at', { withTimezone: true }),
  resolvedBy: text('resolved_by'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [
  index('alerts_resolved_created_idx').on(t.resolved, t.createdAt),
  // Deduplication lives in the store: a rule has at most one unresolved alert, whoever evaluates it.
  uniqueIndex('alerts_one_active_per_rule_idx').on(t.ruleId).where(sql`not ${t.resolved}`),
]);

/**
 * An alert's transitions (firing, resolved): the outbox of its notifications. Written in the same transaction as
 * the transition; the evaluator starts one signed webhook delivery per row whose rule notifies a webhook
 * (`dispatched_at`), and the delivery records its outcome here.
 */
export const alertEvents = pgTable('alert_events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  alertId: uuid('alert_id').notNull().references(() => alerts.id, { onDelete: 'cascade' }),
  ruleId: text('rule_id'),
  /** firing | resolved */
  type: text('type').notNull(),
  /** Whether the rule's channels named `webhook` when the transition happened. */
  webhook: boolean('webhook').notNull().default(false),
  /** When its delivery workflow was started; each attempt is a `webhook_deliveries` row. */
  dispatchedAt: timestamp('dispatched_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [
  index('alert_events_alert_idx').on(t.alertId, t.id),
  index('alert_events_undispatched_idx').on(t.id).where(sql`${t.webhook} and ${t.dispatchedAt} is null`),
]);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type AlertRuleRow = typeof alertRules.$inferSelect;
export type AlertRow = typeof alerts.$inferSelect;
export type AlertEventRow = typeof alertEvents.$inferSelect;
export type StructureRow = typeof structures.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;
export type TaskEventRow = typeof taskEvents.$inferSelect;

// Workers, scheduling, usage, webhooks.

/** One worker process (one per GPU, or a CPU worker): registered at start, heartbeating while alive. */
export const workers = pgTable('workers', {
  id: text('id').primaryKey(),
  hostname: text('hostname').notNull(),
  pid: integer('pid').notNull(),
  device: text('device').notNull(),
  gpuIndex: integer('gpu_index'),
  /** The Temporal task queue of this worker's engine activities. */
  taskQueue: text('task_queue').notNull(),
  /** online | draining | offline */
  status: text('status').notNull().default('online'),
  loadedModels: jsonb('loaded_models').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
  runningTasks: jsonb('running_tasks').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
  maxJobs: integer('max_jobs').notNull(),
  memoryBudgetMB: doublePrecision('memory_budget_mb').notNull(),
  /** memory_per_atom_MB of every model the engine knows (from its `models` op), for admission. */
  modelMemoryPerAtomMB: jsonb('model_memory_per_atom_mb').$type<Record<string, number>>().notNull().default(sql`'{}'::jsonb`),
  telemetry: jsonb('telemetry').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  lastHeartbeat: timestamp('last_heartbeat', { withTimezone: true }).notNull().defaultNow(),
});

/** A task's claim on a worker slot, from the scheduler's pick until the attempt ends (the worker's load). */
export const taskAssignments = pgTable('task_assignments', {
  taskId: uuid('task_id').primaryKey().references(() => tasks.id, { onDelete: 'cascade' }),
  workerId: text('worker_id').notNull(),
  /** Engine memory the job is expected to need (model memory per atom × atoms). */
  memoryMB: doublePrecision('memory_mb').notNull(),
  assignedAt: timestamp('assigned_at', { withTimezone: true }).notNull().defaultNow(),
  /** Set when the scheduler asked this job to make room for a CRITICAL task (cleared with the row). */
  preemptedAt: timestamp('preempted_at', { withTimezone: true }),
  /** The task's request this grant answers (tasks.wait_seq when it was granted). */
  seq: integer('seq').notNull().default(0),
  /** When the task's workflow was told (null: the decider may have died before telling it; a sweep re-sends). */
  signalledAt: timestamp('signalled_at', { withTimezone: true }),
}, (t) => [
  index('task_assignments_worker_idx').on(t.workerId),
  index('task_assignments_unsignalled_idx').on(t.assignedAt).where(sql`signalled_at is null`),
]);

/**
 * How many tasks wait to start (PENDING or QUEUED, the WAITING_STATUSES) per priority level and range of tickets
 * (`tasks.line_no`): level 0 counts 1,024 tickets a row, level 1 counts 1,048,576. Kept by triggers on `tasks`
 * (migration 0013), so a queue position sums a bounded number of rows instead of counting the line (`tasksAhead` in
 * scheduler.ts).
 */
export const lineCounts = pgTable('line_counts', {
  priorityRank: integer('priority_rank').notNull(),
  level: smallint('level').notNull(),
  bucket: bigint('bucket', { mode: 'number' }).notNull(),
  waiting: integer('waiting').notNull().default(0),
}, (t) => [primaryKey({ columns: [t.priorityRank, t.level, t.bucket] })]);

/** One engine attempt of a task on one worker: the basis of usage accounting (device-seconds) and ETAs. */
export const taskRuns = pgTable('task_runs', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  taskId: uuid('task_id').notNull().references(() => tasks.id, { onDelete: 'cascade' }),
  workerId: text('worker_id').notNull(),
  device: text('device').notNull(),
  owner: text('owner'),
  taskType: text('task_type').notNull(),
  model: text('model').notNull(),
  outcome: text('outcome'),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  endedAt: timestamp('ended_at', { withTimezone: true }),
  seconds: doublePrecision('seconds'),
}, (t) => [
  index('task_runs_task_idx').on(t.taskId),
  // Recent usage per owner (fair share): runs that started in the window, and those still running.
  index('task_runs_started_idx').on(t.startedAt),
  index('task_runs_open_idx').on(t.startedAt).where(sql`ended_at is null`),
  // The ETA of a queued task: the latest completed runs of its type and model.
  index('task_runs_completed_idx').on(t.taskType, t.model, t.id).where(sql`outcome = 'completed'`),
]);

export type WorkerRow = typeof workers.$inferSelect;

/** One attempt to deliver one task event to the task's callback URL (the delivery log). */
export const webhookDeliveries = pgTable('webhook_deliveries', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  // One attempt of a task event (task_id, event_id), an alert transition (alert_event_id) or a campaign event (campaign_event_id).
  taskId: uuid('task_id').references(() => tasks.id, { onDelete: 'cascade' }),
  eventId: integer('event_id'),
  alertEventId: bigint('alert_event_id', { mode: 'number' }).references(() => alertEvents.id, { onDelete: 'cascade' }),
  campaignEventId: bigint('campaign_event_id', { mode: 'number' }).references(() => campaignEvents.id, { onDelete: 'cascade' }),
  event: text('event').notNull(),
  url: text('url').notNull(),
  /** Same for every attempt of one event: receivers de-duplicate on it. */
  idempotencyKey: text('idempotency_key').notNull(),
  attempt: integer('attempt').notNull(),
  statusCode: integer('status_code'),
  ok: boolean('ok').notNull(),
  error: text('error'),
  durationMs: integer('duration_ms'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [
  index('webhook_deliveries_task_idx').on(t.taskId, t.id),
  index('webhook_deliveries_alert_event_idx').on(t.alertEventId),
  index('webhook_deliveries_campaign_event_idx').on(t.campaignEventId),
  // Recent deliveries (the webhook backlog alert metric) without a scan of the whole log.
  index('webhook_deliveries_created_at_idx').on(t.createdAt),
  // Exactly one subject: a task event, an alert transition or a campaign event.
  check('webhook_deliveries_one_subject', sql`(${t.taskId} is not null and ${t.eventId} is not null)::int + (${t.alertEventId} is not null)::int + (${t.campaignEventId} is not null)::int = 1`),
]);

export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;

// System logs and shared rate limits.

/**
 * Notable operational events of every process (API, workers, scheduler): what an operator reads to learn why a
 * worker went away, who created a key, which request failed. Not a copy of the JSON process logs (those stay on
 * stderr); see store/system-logs.ts for what is written and why.
 */
export const systemLogs = pgTable('system_logs', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  /** DEBUG | INFO | WARNING | ERROR | CRITICAL */
  level: text('level').notNull(),
  /** The kind of process that wrote it: api | worker | scheduler | webhook. */
  source: text('source').notNull(),
  /** The component within it (the reference's `logger`), e.g. keys, engine, drain. */
  logger: text('logger').notNull(),
  message: text('message').notNull(),
  workerId: text('worker_id'),
  // Text, not a foreign key: a log entry outlives the task it names and must never fail to insert because of it.
  taskId: text('task_id'),
  requestId: text('request_id'),
  extra: jsonb('extra').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
}, (t) => [
  index('system_logs_created_at_idx').on(t.createdAt),
  index('system_logs_task_idx').on(t.taskId).where(sql`${t.taskId} is not null`),
  index('system_logs_worker_idx').on(t.workerId).where(sql`${t.workerId} is not null`),
]);

export type SystemLogRow = typeof systemLogs.$inferSelect;

/**
 * Request-rate and failed-authentication counters shared by every API process: one row per counted subject
 * (`key:<api key id>`, `auth:<address>`), a window that starts at the subject's first hit and lasts the counter's
 * length. Rows whose window ended long ago are pruned by the API.
 */
export const rateLimitWindows = pgTable('rate_limit_windows', {
  key: text('key').primaryKey(),
  windowStart: timestamp('window_start', { withTimezone: true }).notNull(),
  count: integer('count').notNull(),
});

/**
 * MOFSimBench scores, one row per metric of a model × weights × protocol: written when a campaign is scored
 * (`source` campaign, its `campaign_id`) and for the classical baselines shipped with the benchmark (`source`
 * reference, no campaign). The `leaderboard` view (migration 0011) keeps the latest row of each model × weights ×
 * protocol × metric; Grafana reads it through the read-only role `mofsim_grafana`.
 */
export const benchmarkScores = pgTable('benchmark_scores', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  campaignId: uuid('campaign_id'),
  /** campaign | reference */
  source: text('source').notNull(),
  model: text('model').notNull(),
  /** Display name (the baselines'; a model's id otherwise). */
  label: text('label').notNull(),
  /** From the results' provenance; '' for the classical baselines. */
  weightsSha256: text('weights_sha256').notNull().default(''),
  protocol: text('protocol').notNull(),
  metric: text('metric').notNull(),
  value: doublePrecision('value'),
  /** Structures attempted (scored + failed) behind the value. */
  nStructures: integer('n_structures').notNull(),
  computedAt: timestamp('computed_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [
  index('benchmark_scores_key_idx').on(t.model, t.weightsSha256, t.protocol, t.metric, t.computedAt),
  index('benchmark_scores_campaign_idx').on(t.campaignId),
]);

export type BenchmarkScoreRow = typeof benchmarkScores.$inferSelect;
