/** Database rows → API objects (one mapper per resource). */
import type { CampaignEventRow, CampaignRow, StructureRow, TaskEventRow, TaskRow, WebhookDeliveryRow, WorkerRow } from '../store/schema.js';
import type { StructureCheck } from './services/structures.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function structureToApi(s: StructureRow) {
  return {
    id: s.id,
    // The reference docs and Python SDK call the id `file_id`.
    file_id: s.id,
    name: s.name,
    original_name: s.originalName,
    format: s.format,
    file_size: s.fileSize,
    n_atoms: s.nAtoms,
    formula: s.formula,
    reduced_formula: s.reducedFormula ?? undefined,
    elements: s.elements,
    checksum: s.checksum,
    volume_A3: s.volumeA3 ?? undefined,
    density_g_cm3: s.densityGCm3 ?? undefined,
    cell: s.cell ?? undefined,
    warnings: s.warnings,
    is_builtin: s.isBuiltin,
    created_at: s.createdAt.toISOString(),
  };
}

/**
 * `GET /structures/{id}/details` (the reference service's shape, timestamps ISO like the rest of this API):
 * the stored parse result plus a check of the stored file (`check`).
 */
export function structureDetailsToApi(s: StructureRow, check: StructureCheck) {
  const c = (s.cell ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  return {
    id: s.id,
    name: s.name,
    original_name: s.originalName,
    format: s.format,
    n_atoms: s.nAtoms,
    formula: s.formula,
    reduced_formula: s.reducedFormula,
    elements: s.elements,
    volume_A3: s.volumeA3,
    density_g_cm3: s.densityGCm3,
    cell: { a: num(c.a), b: num(c.b), c: num(c.c), alpha: num(c.alpha), beta: num(c.beta), gamma: num(c.gamma) },
    source: s.isBuiltin ? 'builtin' : 'upload',
    uploaded_at: s.createdAt.toISOString(),
    file_size: s.fileSize,
    checksum: s.checksum,
    is_valid: check.problems.length === 0,
    validation_errors: check.problems.map((p) => p.message),
    warnings: check.warnings,
  };
}

/** `GET /structures/{id}/validate`: `{is_valid, errors[]}` as the reference service answers, plus codes and warnings. */
export function structureValidationToApi(structureId: string, check: StructureCheck) {
  return {
    structure_id: structureId,
    is_valid: check.problems.length === 0,
    errors: check.problems.map((p) => p.message),
    error_types: check.problems.map((p) => p.type),
    warnings: check.warnings,
  };
}

export function taskToApi(t: TaskRow) {
  return {
    task_id: t.id,
    task_type: t.taskType,
    status: t.status,
    model: t.model,
    priority: t.priority,
    progress: t.progress,
    structure_id: t.structureId,
    structure_name: t.structureName,
    parameters: t.parameters,
    created_at: t.createdAt.toISOString(),
    started_at: iso(t.startedAt),
    completed_at: iso(t.completedAt),
    worker_id: t.workerId,
    gpu_id: t.gpuId,
    attempts: t.attempts,
    error_message: t.errorMessage,
    error_type: t.errorType,
    campaign_id: t.campaignId,
    reused_from: t.reusedFrom,
    input_task_id: t.inputTaskId,
  };
}

/** A campaign's options without its callback's secret (it signs the webhooks; it is never shown back). */
function withoutSecret(options: Record<string, unknown>): Record<string, unknown> {
  const callback = options.callback as { secret?: string } | undefined;
  if (!callback?.secret) return options;
  const { secret: _secret, ...rest } = callback;
  return { ...options, callback: { ...rest, has_secret: true } };
}

export function campaignToApi(c: CampaignRow) {
  const ended = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].reduce((n, s) => n + (c.counts[s] ?? 0), 0);
  return {
    campaign_id: c.id,
    name: c.name,
    status: c.status,
    models: c.models,
    structures: c.structures,
    structure_spec: c.structureSpec,
    tasks: c.taskSpec,
    options: withoutSecret(c.options),
    total_tasks: c.totalTasks,
    counts: c.counts,
    progress: c.totalTasks ? Math.round((1000 * ended) / c.totalTasks) / 10 : 100,
    scores: c.scores ?? null,
    error_message: c.errorMessage,
    created_at: c.createdAt.toISOString(),
    started_at: iso(c.startedAt),
    finished_at: iso(c.finishedAt),
  };
}

/** A result without the server paths older engines put in it (`…_path`: output files are served by name). */
function withoutServerPaths(result: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(result).filter(([k]) => !k.endsWith('_path')));
}

export function taskResultToApi(t: TaskRow) {
  const list = Object.entries(t.outputFiles ?? {})
    .map(([label, name]) => ({ label, name, url: `/api/v1/tasks/${t.id}/files/${encodeURIComponent(name)}` }));
  const files = Object.fromEntries(list.map((f) => [f.label, f.url]));
  return {
    task_id: t.id,
    task_type: t.taskType,
    status: t.status,
    model: t.model,
    structure_name: t.structureName ?? 'unknown',
    created_at: t.createdAt.toISOString(),
    started_at: iso(t.startedAt),
    completed_at: iso(t.completedAt),
    result: withoutServerPaths(t.result ?? {}),
    output_files: files,
    files: list,
    metrics: { duration_seconds: t.durationSeconds },
    error: t.errorType ? { type: t.errorType, detail: t.errorMessage ?? '' } : null,
  };
}

export function taskEventToApi(e: TaskEventRow) {
  return { id: e.id, type: e.type, data: e.data, created_at: e.createdAt.toISOString() };
}

/** A campaign event's webhook delivery so far (from its `webhook_deliveries` rows). */
export interface CampaignEventDelivery { attempts: number; deliveredAt: Date | null; lastStatusCode: number | null; lastError: string | null }

/**
 * A campaign event as the API shows it (ws, `/campaigns/{id}/events`); with `delivery` given (the events list) also
 * its webhook delivery: null when the callback does not subscribe to it.
 */
export function campaignEventToApi(e: CampaignEventRow, delivery?: CampaignEventDelivery | null) {
  const out: Record<string, unknown> = { id: e.id, campaign_id: e.campaignId, type: e.type, data: e.data, created_at: e.createdAt.toISOString() };
  if (delivery !== undefined) {
    out.webhook = e.webhook ? {
      attempts: delivery?.attempts ?? 0, delivered_at: delivery?.deliveredAt?.toISOString() ?? null,
      last_status_code: delivery?.lastStatusCode ?? null, last_error: delivery?.lastError ?? null,
    } : null;
  }
  return out;
}

// Workers as the API shows them (registry rows, heartbeat telemetry).
export function workerToApi(w: WorkerRow) {
  return {
    id: w.id,
    hostname: w.hostname,
    pid: w.pid,
    device: w.device,
    gpu_index: w.gpuIndex,
    task_queue: w.taskQueue,
    status: w.status,
    running_tasks: w.runningTasks,
    loaded_models: w.loadedModels,
    max_jobs: w.maxJobs,
    memory_budget_MB: w.memoryBudgetMB,
    telemetry: w.telemetry,
    started_at: w.startedAt.toISOString(),
    last_heartbeat: w.lastHeartbeat.toISOString(),
  };
}

const numOrNull = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * One GPU (its worker's last telemetry). Beside our names, the reference service's (`gpu_id`, `memory_free_MB`,
 * `current_task_id`) and the reference Python client's `GPUInfo` keys (`memory_total`/`memory_used`/`memory_free`
 * in GB as its docs state, `utilization`, `temperature`, `is_available`, `current_task`).
 */
export function gpuToApi(w: WorkerRow) {
  const t = w.telemetry as Record<string, unknown>;
  const total = numOrNull(t.memory_total_MB);
  const used = numOrNull(t.memory_used_MB);
  const free = total !== null && used !== null ? Math.max(0, total - used) : null;
  const gb = (mb: number | null) => (mb === null ? null : Math.round((mb / 1024) * 1000) / 1000);
  const running = w.runningTasks ?? [];
  return {
    worker_id: w.id,
    hostname: w.hostname,
    index: w.gpuIndex,
    gpu_id: w.gpuIndex,
    status: w.status,
    name: t.gpu_name ?? null,
    uuid: t.gpu_uuid ?? null,
    memory_total_MB: total,
    memory_used_MB: used,
    memory_free_MB: free,
    utilization_percent: numOrNull(t.utilization_percent),
    temperature_C: numOrNull(t.temperature_C),
    power_W: numOrNull(t.power_W),
    loaded_models: w.loadedModels,
    running_tasks: running,
    current_task_id: running[0] ?? null,
    memory_total: gb(total),
    memory_used: gb(used),
    memory_free: gb(free),
    utilization: numOrNull(t.utilization_percent),
    temperature: numOrNull(t.temperature_C),
    is_available: w.status === 'online' && running.length === 0,
    current_task: running[0] ?? null,
    last_heartbeat: w.lastHeartbeat.toISOString(),
  };
}

export function webhookDeliveryToApi(d: WebhookDeliveryRow) {
  return {
    id: d.id,
    event: d.event,
    event_id: d.eventId,
    url: d.url,
    idempotency_key: d.idempotencyKey,
    attempt: d.attempt,
    status_code: d.statusCode,
    ok: d.ok,
    error: d.error,
    duration_ms: d.durationMs,
    created_at: d.createdAt.toISOString(),
  };
}
