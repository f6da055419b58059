/** Task types: wire names (the Python service's URL/DB values) and the engine's task names. */
export const TASK_TYPES = {
  optimization: 'optimization',
  'single-point-energy': 'single_point',
  stability: 'stability',
  'bulk-modulus': 'bulk_modulus',
  'heat-capacity': 'heat_capacity',
  'interaction-energy': 'interaction_energy',
  speed: 'speed',
} as const;

export type TaskType = keyof typeof TASK_TYPES;
export type EngineTaskType = (typeof TASK_TYPES)[TaskType];

export const PRIORITIES = ['CRITICAL', 'HIGH', 'NORMAL', 'LOW'] as const;
export type Priority = (typeof PRIORITIES)[number];

// Statuses and their sets live with the state machine (store/task-status.ts); re-exported for existing imports.
export { TERMINAL_STATUSES, type TaskStatus } from '../store/task-status.js';

export function isTaskType(v: string): v is TaskType {
  return Object.prototype.hasOwnProperty.call(TASK_TYPES, v);
}
