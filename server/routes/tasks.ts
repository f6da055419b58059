/** /api/v1/tasks */
import { Router, type Request, type Response } from 'express';
import { isTaskType, type Priority, type TaskType } from '../../common/task-types.js';
import { actorOfResponse } from '../auth.js';
import type { ServerDeps } from '../deps.js';
import { sendDownload } from '../downloads.js';
import { sendData } from '../envelope.js';
import type { TaskEventRow } from '../../store/schema.js';
import { AppError, invalidParameter } from '../errors.js';
import { taskEventToApi, taskResultToApi, taskToApi, webhookDeliveryToApi } from '../mappers.js';
import { pageOf, paginated } from '../pagination.js';
import { checkParameters } from '../parameter-schemas.js';
import { listWebhookDeliveries, resendWebhook } from '../services/webhooks.js';
import { FINAL_EVENT_TYPES } from '../services/live-events.js';
import {
  cancelTask, getFinishedTask, getQueuePosition, getTask, hasFinalEvent, insertBatch, listTaskEvents, listTaskLogs, logHistoryStart, LOG_LEVELS,
  newSubmitMemo, prepareTask, replayTaskEvents, listTasks, pauseTask, requestFingerprint, resumeTask, retryTask, setTaskPriority, startBatchWorkflows, submitTask,
  taskFilePath, taskLogEntry, type LogLevel, type PreparedTask, type TaskCreate,
} from '../services/tasks.js';

const SUBMIT_ROUTES: TaskType[] = [
  'optimization', 'single-point-energy', 'stability', 'bulk-modulus', 'heat-capacity', 'interaction-energy', 'speed',
];

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export function tasksRouter(deps: ServerDeps): Router {
  const r = Router();
  const submitRoute = (taskType: TaskType) => async (req: Request, res: Response) => {
    const key = req.get('Idempotency-Key') ?? undefined;
    const task = await submitTask(deps, taskType, req.body, key, actorOfResponse(res), undefined, requestFingerprint(req.originalUrl.split('?')[0]!, req.body));
    sendData(res, taskToApi(task), 202, 'task submitted');
  };
  for (const taskType of SUBMIT_ROUTES) r.post(`/${taskType}`, submitRoute(taskType));
  // Alias used by the reference Python SDK (mofsim_client.submit_single_point).
  r.post('/single-point', submitRoute('single-point-energy'));

  r.get('/', async (req, res) => {
    const { page, pageSize } = pageOf(req.query);
    const q = req.query;
    const { items, total } = await listTasks(deps, actorOfResponse(res), {
      status: str(q.status), task_type: str(q.task_type), model: str(q.model), created_after: str(q.created_after), created_before: str(q.created_before),
    }, page, pageSize);
    sendData(res, paginated(items.map(taskToApi), total, page, pageSize));
  });

  // Generic submit: the task type travels in the body.
  r.post('/', async (req, res) => {
    const { task_type: taskType, ...body } = req.body as TaskCreate & { task_type: string };
    if (!isTaskType(taskType)) throw invalidParameter(`unknown task_type ${taskType}`, 'task_type');
    checkParameters(taskType, body.parameters);
    const task = await submitTask(deps, taskType, body, req.get('Idempotency-Key') ?? undefined, actorOfResponse(res), undefined,
      requestFingerprint(req.originalUrl.split('?')[0]!, req.body));
    sendData(res, taskToApi(task), 202, 'task submitted');
  });

  // Batch submit with the Python service's shape {submitted, failed, task_ids, errors}; one bad item never fails the rest.
  r.post('/batch', async (req, res) => {
    const actor = actorOfResponse(res);
    const fallbackType = str(req.query.task_type);
    const items = (req.body as { tasks: (TaskCreate & { task_type?: string })[] }).tasks;
    const errors: { index: number; error: string; code?: number; type?: string; data: unknown }[] = [];
    // Every item is validated (per-item errors as for single submissions), then all valid ones commit together.
    const memo = newSubmitMemo();
    const prepared: PreparedTask[] = [];
    for (const [index, item] of items.entries()) {
      const { task_type: own, ...body } = item;
      const tt = own ?? fallbackType;
      try {
        const canonical = tt === 'single-point' ? 'single-point-energy' : tt;
        if (!canonical || !isTaskType(canonical)) throw invalidParameter(`task_type is required (query or item) and must be a task type (got ${tt ?? 'none'})`, 'task_type');
        checkParameters(canonical, body.parameters);
        prepared.push(await prepareTask(deps, canonical, body, actor, { memo }));
        memo.accepted += 1;
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        errors.push({ index, error: err.message, code: err.code, type: err.type, data: item });
      }
    }
    const rows = await insertBatch(deps, prepared);
    sendData(res, { submitted: rows.length, failed: errors.length, task_ids: rows.map((t) => t.id), tasks: rows.map(taskToApi), errors }, 202,
      `batch submitted: ${rows.length} succeeded, ${errors.length} failed`);
    // After the answer: the committed rows are the outbox, so a crash here loses nothing (a worker's sweep starts them).
    void startBatchWorkflows(deps, rows);
  });

  r.get('/:task_id', async (req, res) => {
    sendData(res, taskToApi(await getTask(deps, req.params.task_id, actorOfResponse(res))));
  });
  r.get('/:task_id/status', async (req, res) => {
    const t = await getTask(deps, req.params.task_id, actorOfResponse(res));
    sendData(res, { task_id: t.id, status: t.status, progress: t.progress, error_message: t.errorMessage, error_type: t.errorType });
  });
  r.get('/:task_id/result', async (req, res) => {
    sendData(res, taskResultToApi(await getFinishedTask(deps, req.params.task_id, actorOfResponse(res))));
  });
  r.get('/:task_id/logs', async (req, res) => {
    const q = req.query;
    sendData(res, await listTaskLogs(deps, req.params.task_id, actorOfResponse(res), {
      level: str(q.level), since: str(q.since), until: str(q.until), limit: Number(q.limit ?? 100), offset: Number(q.offset ?? 0),
    }));
  });
  // The reference service's log stream (what mofsim_client.stream_task_logs reads): `data: <LogEntry>` frames with
  // the event id as `id:`, so a reconnect with Last-Event-ID resumes where it left off; it ends with the task.
  r.get('/:task_id/logs/stream', async (req, res) => {
    const task = await getTask(deps, req.params.task_id, actorOfResponse(res));
    const level = (str(req.query.level) ?? 'DEBUG') as LogLevel;
    const header = req.get('Last-Event-ID');
    let after: number;
    if (header !== undefined) {
      after = Number(header);
      if (!(Number.isSafeInteger(after) && after >= 0)) throw invalidParameter(`Last-Event-ID must be a non-negative integer (got ${header})`, 'Last-Event-ID');
    } else {
      const history = String(req.query.include_history ?? 'true') === 'false' ? 0 : Number(req.query.history_limit ?? 50);
      after = await logHistoryStart(deps, task.id, history, level);
    }
    const min = LOG_LEVELS.indexOf(level);
    await streamTaskEvents(deps, task.id, after, res, (e) => {
      const entry = taskLogEntry(e, task);
      return LOG_LEVELS.indexOf(entry.level) >= min ? `id: ${e.id}\ndata: ${JSON.stringify(entry)}\n\n` : null;
    });
  });
  r.post('/:task_id/retry', async (req, res) => {
    const task = await retryTask(deps, req.params.task_id, actorOfResponse(res));
    sendData(res, { new_task_id: task.id, original_task_id: req.params.task_id, task: taskToApi(task) }, 202, 'task resubmitted');
  });
  r.put('/:task_id/priority', async (req, res) => {
    const priority = (req.body as { priority: Priority }).priority;
    sendData(res, taskToApi(await setTaskPriority(deps, req.params.task_id, priority, actorOfResponse(res))), 200, 'priority changed');
  });
  r.get('/:task_id/events', async (req, res) => {
    const header = req.get('Last-Event-ID');
    if (header !== undefined && !/^\d{1,15}$/.test(header.trim())) throw invalidParameter(`Last-Event-ID must be an event id (got ${JSON.stringify(header.slice(0, 40))})`, 'Last-Event-ID');
    const after = Number(header ?? req.query.after_id ?? 0) || 0;
    const actor = actorOfResponse(res);
    if (req.accepts(['application/json', 'text/event-stream']) === 'text/event-stream') {
      await getTask(deps, req.params.task_id, actor);
      await streamTaskEvents(deps, req.params.task_id, after, res,
        (e) => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(taskEventToApi(e))}\n\n`);
      return;
    }
    const events = await listTaskEvents(deps, req.params.task_id, after, actor);
    sendData(res, { items: events.map(taskEventToApi) });
  });
  r.post('/:task_id/cancel', async (req, res) => {
    const actor = actorOfResponse(res);
    const before = await getTask(deps, req.params.task_id, actor);
    const task = await cancelTask(deps, req.params.task_id, actor);
    // The Python service answers {task_id, status}; its docs add previous/current status: all are here.
    sendData(res, { task_id: task.id, status: task.status, previous_status: before.status, current_status: task.status }, 202, 'cancel requested');
  });
  r.post('/:task_id/pause', async (req, res) => {
    sendData(res, taskToApi(await pauseTask(deps, req.params.task_id, actorOfResponse(res))), 202, 'pause requested');
  });
  r.post('/:task_id/resume', async (req, res) => {
    sendData(res, taskToApi(await resumeTask(deps, req.params.task_id, actorOfResponse(res))), 202, 'resume requested');
  });
  r.get('/:task_id/webhooks', async (req, res) => {
    await getTask(deps, req.params.task_id, actorOfResponse(res));
    const items = (await listWebhookDeliveries(deps, req.params.task_id)).map(webhookDeliveryToApi);
    sendData(res, { items, total: items.length });
  });
  // Sends the finished task's final event to its callback again, under a new delivery id (owner or admin).
  r.post('/:task_id/webhooks/resend', async (req, res) => {
    const resend = await resendWebhook(deps, req.params.task_id, actorOfResponse(res), req.get('Idempotency-Key') ?? undefined);
    sendData(res, resend, 202, 'webhook resend started');
  });
  r.get('/:task_id/queue', async (req, res) => {
    sendData(res, await getQueuePosition(deps, req.params.task_id, actorOfResponse(res)));
  });
  r.get('/:task_id/files/:filename', async (req, res) => {
    const path = await taskFilePath(deps, req.params.task_id, req.params.filename, actorOfResponse(res));
    await sendDownload(res, path, req.params.filename, `${req.params.filename} of task ${req.params.task_id}`);
  });
  return r;
}

/**
 * Server-sent events: stored events after `after` first, then live ones; `frame` writes one (null: skip it). The
 * stream ends after the final event, also when that event came before `after` (the task had already ended).
 */
async function streamTaskEvents(deps: ServerDeps, taskId: string, after: number, res: Response, frame: (e: TaskEventRow) => string | null): Promise<void> {
  res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  res.flushHeaders();
  const seen = new Set<number>();
  let replaying = true;
  const buffered: TaskEventRow[] = [];
  let ended = false;
  const end = () => { if (!ended) { ended = true; off(); clearInterval(ping); res.end(); } };
  const write = (e: TaskEventRow) => {
    if (ended || seen.has(e.id)) return;
    seen.add(e.id);
    const text = frame(e);
    if (text) res.write(text);
    if (FINAL_EVENT_TYPES.includes(e.type)) end();
  };
  const off = await deps.liveEvents.subscribe(taskId, (e) => (replaying ? buffered.push(e) : write(e)));
  // A comment line now and then keeps proxies from closing an idle stream.
  const ping = setInterval(() => res.write(': ping\n\n'), deps.config.MOFSIM_SSE_HEARTBEAT_S * 1000);
  // res, not req: a request's 'close' fires once its (empty) body is read, the response's when the client leaves.
  res.on('close', end);
  for await (const e of replayTaskEvents(deps, taskId, after)) write(e);
  replaying = false;
  for (const e of buffered.sort((a, b) => a.id - b.id)) write(e);
  if (!ended && await hasFinalEvent(deps, taskId)) end();
}
