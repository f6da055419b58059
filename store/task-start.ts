/** How a task's workflow is started (workflowId = task id): one place for the API's submit and a campaign's starts. */
import type { TaskWorkflowInput } from '../workflows/task-workflow.js';
import { PRIORITY_KEYS } from './scheduler.js';
import type { TaskRow } from './schema.js';

/** Owner used as the fairness key for tasks without one. */
export const ANONYMOUS_OWNER = 'anonymous';

export interface TaskStartConfig {
  controlQueue: string;
  defaultTimeoutSeconds: number;
  heartbeatTimeoutSeconds: number;
  schedulerPollSeconds: number;
}

/** The arguments of `client.workflow.start('taskWorkflow', …)` for `task`. */
export function taskWorkflowStart(task: TaskRow, cfg: TaskStartConfig) {
  const priority = { priorityKey: PRIORITY_KEYS[task.priority] ?? 3, fairnessKey: task.ownerId ?? ANONYMOUS_OWNER };
  const timeout = (task.options as { timeout?: number }).timeout;
  const input: TaskWorkflowInput = {
    taskId: task.id,
    timeoutSeconds: timeout ?? cfg.defaultTimeoutSeconds,
    controlQueue: cfg.controlQueue,
    ...priority,
    heartbeatTimeoutSeconds: cfg.heartbeatTimeoutSeconds,
    schedulerPollSeconds: cfg.schedulerPollSeconds,
    ...(task.campaignId ? { campaignId: task.campaignId } : {}),
  };
  return { taskQueue: cfg.controlQueue, workflowId: task.id, args: [input] as [TaskWorkflowInput], priority };
}
