/** Light activities on the control queue (database bookkeeping). */
import type { TERMINAL_STATUSES } from '../common/task-types.js';
import type { Db } from '../server/db/client.js';
import { finish } from './task-store.js';

export interface ControlDeps {
  db: Db;
}

/** Builds the control activities around their dependencies. */
export function createControlActivities(deps: ControlDeps) {
  return {
    /** Records a terminal state decided by the workflow (failure, timeout, cancellation). */
    async finishTask(input: { taskId: string; status: (typeof TERMINAL_STATUSES)[number]; errorType?: string; errorMessage?: string }): Promise<void> {
      await finish(deps.db, input.taskId, input);
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
