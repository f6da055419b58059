/** /api/v1/tasks */
import { Router, type Request, type Response } from 'express';
import type { TaskType } from '../../common/task-types.js';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import type { TaskEventRow } from '../db/schema.js';
import { taskEventToApi, taskResultToApi, taskToApi, webhookDeliveryToApi } from '../mappers.js';
import { listWebhookDeliveries } from '../services/webhooks.js';
import { FINAL_EVENT_TYPES } from '../services/live-events.js';
import {
  cancelTask, getFinishedTask, getQueuePosition, getTask, listTaskEvents, pauseTask, resumeTask, submitTask, taskFilePath,
} from '../services/tasks.js';

const SUBMIT_ROUTES: TaskType[] = [
  'optimization', 'single-point-energy', 'stability', 'bulk-modulus', 'heat-capacity', 'interaction-energy',
];

export function tasksRouter(deps: ServerDeps): Router {
  const r = Router();
  for (const taskType of SUBMIT_ROUTES) {
    r.post(`/${taskType}`, async (req, res) => {
      const key = req.get('Idempotency-Key') ?? undefined;
      const task = await submitTask(deps, taskType, req.body, key);
      sendData(res, taskToApi(task), 202, 'task submitted');
    });
  }
  r.get('/:task_id', async (req, res) => {
    sendData(res, taskToApi(await getTask(deps, req.params.task_id)));
  });
  r.get('/:task_id/result', async (req, res) => {
    sendData(res, taskResultToApi(await getFinishedTask(deps, req.params.task_id)));
  });
  r.get('/:task_id/events', async (req, res) => {
    const after = Number(req.get('Last-Event-ID') ?? req.query.after_id ?? 0) || 0;
    if (req.accepts(['application/json', 'text/event-stream']) === 'text/event-stream') {
      await streamTaskEvents(deps, req.params.task_id, after, req, res);
      return;
    }
    const events = await listTaskEvents(deps, req.params.task_id, after);
    sendData(res, { items: events.map(taskEventToApi) });
  });
  r.post('/:task_id/cancel', async (req, res) => {
    sendData(res, taskToApi(await cancelTask(deps, req.params.task_id)), 202, 'cancel requested');
  });
  r.post('/:task_id/pause', async (req, res) => {
    sendData(res, taskToApi(await pauseTask(deps, req.params.task_id)), 202, 'pause requested');
  });
  r.post('/:task_id/resume', async (req, res) => {
    sendData(res, taskToApi(await resumeTask(deps, req.params.task_id)), 202, 'resume requested');
  });
  r.get('/:task_id/webhooks', async (req, res) => {
    const items = (await listWebhookDeliveries(deps, req.params.task_id)).map(webhookDeliveryToApi);
    sendData(res, { items, total: items.length });
  });
  r.get('/:task_id/queue', async (req, res) => {
    sendData(res, await getQueuePosition(deps, req.params.task_id));
  });
  r.get('/:task_id/files/:filename', async (req, res) => {
    res.download(await taskFilePath(deps, req.params.task_id, req.params.filename));
  });
  return r;
}

// Server-sent events: stored events after `after` first, then live ones; the stream ends after the final event.
async function streamTaskEvents(deps: ServerDeps, taskId: string, after: number, _req: Request, res: Response): Promise<void> {
  await getTask(deps, taskId);
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
    res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(taskEventToApi(e))}\n\n`);
    if (FINAL_EVENT_TYPES.includes(e.type)) end();
  };
  const off = await deps.liveEvents.subscribe(taskId, (e) => (replaying ? buffered.push(e) : write(e)));
  // A comment line now and then keeps proxies from closing an idle stream.
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  // res, not req: a request's 'close' fires once its (empty) body is read, the response's when the client leaves.
  res.on('close', end);
  for (const e of await listTaskEvents(deps, taskId, after)) write(e);
  replaying = false;
  for (const e of buffered.sort((a, b) => a.id - b.id)) write(e);
}
