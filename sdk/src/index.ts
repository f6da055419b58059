/** @mofsim/sdk — TypeScript SDK for the MOFSim server, mirroring the Python `mofsim_client`. */
export { MOFSimClient, AsyncMOFSimClient } from './client';
export type { ClientOptions, LiveEventsMode, RequestOptions } from './core/http';
export { Page, type PaginationInfo } from './core/pagination';
export * from './core/errors';
export { Task, type EventsOptions, type WaitOptions } from './lib/task-handle';
export {
  TaskResult, OptimizationResult, StabilityResult, BulkModulusResult, HeatCapacityResult, InteractionEnergyResult, SinglePointResult,
  resultFor, type AnyTaskResult, type ResultOf,
} from './lib/results';
export type { StructureInput, SubmitCommon, ListTasksOptions } from './resources/tasks';
export type { StructureSource } from './resources/structures';
export { Campaign, CampaignTimeoutError, type CampaignWaitOptions } from './resources/campaigns';
export type { ModelActionTarget } from './resources/models';
export type { SystemLogQuery } from './resources/system';
export * from './types';
export const VERSION = '0.1.0';
