/** /api/v1/tasks */
import { Router } from 'express';
import type { TaskType } from '../../common/task-types.js';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { taskEventToApi, taskResultToApi, taskToApi } from '../mappers.js';
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
    const after = Number(req.query.after_id ?? 0);
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
  r.get('/:task_id/queue', async (req, res) => {
    sendData(res, await getQueuePosition(deps, req.params.task_id));
  });
  r.get('/:task_id/files/:filename', async (req, res) => {
    res.download(await taskFilePath(deps, req.params.task_id, req.params.filename));
  });
  return r;
}
