/** Task counters and histograms, counted where each transition happens (submission in the API, the rest in workers). */
import { Counter, Histogram } from 'prom-client';
import { LONG_BUCKETS, NONE, registry } from './registry.js';

const submitted = new Counter({
  name: 'mofsim_tasks_submitted_total',
  help: 'Tasks accepted by POST /tasks/*',
  labelNames: ['task_type', 'model', 'priority'] as const,
  registers: [registry],
});

const finished = new Counter({
  name: 'mofsim_tasks_finished_total',
  help: 'Tasks that reached a terminal status',
  labelNames: ['task_type', 'model', 'status', 'error_type'] as const,
  registers: [registry],
});

const queueWait = new Histogram({
  name: 'mofsim_queue_wait_seconds',
  help: 'Seconds from submission (or queueing) to the first start of a task',
  labelNames: ['priority', 'task_type'] as const,
  buckets: [0.1, 0.5, ...LONG_BUCKETS],
  registers: [registry],
});

const runTime = new Histogram({
  name: 'mofsim_task_run_seconds',
  help: 'Engine time of one task attempt',
  labelNames: ['task_type', 'model', 'outcome'] as const,
  buckets: [0.1, 0.5, ...LONG_BUCKETS],
  registers: [registry],
});

/** A task was accepted. */
export function countSubmitted(t: { taskType: string; model: string; priority: string }): void {
  submitted.inc({ task_type: t.taskType, model: t.model, priority: t.priority });
}

/** A task reached a terminal status (called once per task, by whoever won the transition). */
export function countFinished(t: { taskType: string; model: string }, status: string, errorType?: string | null): void {
  finished.inc({ task_type: t.taskType, model: t.model, status, error_type: errorType ?? NONE });
}

/** A task's first attempt started: how long it waited. */
export function observeQueueWait(t: { priority: string; taskType: string }, seconds: number): void {
  queueWait.observe({ priority: t.priority, task_type: t.taskType }, Math.max(0, seconds));
}

/** One attempt ended. */
export function observeRun(t: { taskType: string; model: string }, outcome: string, seconds: number): void {
  runTime.observe({ task_type: t.taskType, model: t.model, outcome }, Math.max(0, seconds));
}
