/**
 * The task lifecycle's vocabulary: statuses, the named sets every rule is written against, the priority rank and
 * the events a transition records. Pure (no I/O) so the workflows can import it; the transitions themselves (the
 * row writes and their events) are in `task-state.ts`.
 *
 *   PENDING → QUEUED → RUNNING → COMPLETED | FAILED | CANCELLED | TIMEOUT
 *                ↑  ↘ PAUSED ↗ (resume → QUEUED)      RUNNING → QUEUED (preempted, requeued, handed back)
 */
export const TASK_STATUS = {
  PENDING: 'PENDING',
  QUEUED: 'QUEUED',
  RUNNING: 'RUNNING',
  PAUSED: 'PAUSED',
  COMPLETED: 'COMPLETED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
  TIMEOUT: 'TIMEOUT',
} as const;
export type TaskStatus = (typeof TASK_STATUS)[keyof typeof TASK_STATUS];

const S = TASK_STATUS;
/** Ended for good: nothing changes a terminal task any more. */
export const TERMINAL_STATUSES = [S.COMPLETED, S.FAILED, S.CANCELLED, S.TIMEOUT] as const;
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];
/** Not ended: the task still holds (or waits for) resources and can be cancelled. */
export const LIVE_STATUSES = [S.PENDING, S.QUEUED, S.RUNNING, S.PAUSED] as const;
/** Has not started running (priority may still change; cancel needs no engine stop). */
export const NOT_STARTED_STATUSES = [S.PENDING, S.QUEUED, S.PAUSED] as const;
/** May be paused (a running job is handed back). */
export const PAUSABLE_STATUSES = [S.PENDING, S.QUEUED, S.RUNNING] as const;
/** Waiting in line for a worker slot. */
export const WAITING_STATUSES = [S.PENDING, S.QUEUED] as const;
/** Has something to show under /result. */
export const FINISHED_STATUSES = TERMINAL_STATUSES;

export function isTerminal(status: string): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}
export function isIn<T extends string>(set: readonly T[], status: string): status is T {
  return (set as readonly string[]).includes(status);
}

/** CRITICAL=1 … LOW=4: the order of the line (lower first) and the Temporal priority key. */
export const PRIORITY_RANK = { CRITICAL: 1, HIGH: 2, NORMAL: 3, LOW: 4 } as const;
export type PriorityName = keyof typeof PRIORITY_RANK;
export const DEFAULT_PRIORITY_RANK = PRIORITY_RANK.NORMAL;
export function priorityRank(priority: string): number {
  return (PRIORITY_RANK as Record<string, number>)[priority] ?? DEFAULT_PRIORITY_RANK;
}

/** The event each transition records (one place, so the stream and live clients see every change). */
export const TRANSITION_EVENT = {
  queued: 'queued',
  paused: 'paused',
  unpaused: 'unpaused',
  preempted: 'preempted',
  requeued: 'requeued',
  priorityChanged: 'priority_changed',
  cancelled: 'cancelled',
} as const;
