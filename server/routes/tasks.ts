/** /api/v1/tasks */
import { Router } from 'express';
import type { TaskType } from '../../common/task-types.js';
import type { ServerDeps } from '../deps.js';
import { sendData } from '../envelope.js';
import { taskEventToApi, taskResultToApi, taskToApi } from '../mappers.js';
import { getFinishedTask, getTask, listTaskEvents, submitTask, taskFilePath } from '../services/tasks.js';

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
  r.get('/:task_id/files/:filename', async (req, res) => {
    res.download(await taskFilePath(deps, req.params.task_id, req.params.filename));
  });
  return r;
}
