/** Wire types (snake_case fields, as the server sends them), generated from openapi/mofsim.yaml. */
import type { components } from './generated/api';

type S = components['schemas'];
export type TaskInfo = S['Task'];
export type TaskResultData = S['TaskResult'];
export type StructureInfo = S['Structure'] & { file_id?: string };
export type BuiltinStructure = S['BuiltinStructure'];
export type BuiltinCatalogue = S['BuiltinCatalogue'];
export type ModelInfo = S['Model'] & { status?: string; framework?: string; citation?: string | null };
export type ModelsSummary = S['ModelsSummary'];
export type TaskStatus = S['TaskStatus'];
export type TaskType = S['TaskType'];
export type Priority = S['Priority'];
export type LogEntry = S['LogEntry'];
export type TaskLogs = S['TaskLogs'];
export type TaskEvent = S['TaskEvent'];
export type BatchResult = S['BatchResult'];
export type QueueInfo = S['QueueStats'];
export type SystemStats = S['SystemStats'];
export type SystemConfig = S['SystemConfig'];
export type Health = S['Health'];
export type SystemLogEntry = S['SystemLogEntry'];
export type SystemLogList = S['SystemLogList'];
export type SystemLogStats = S['SystemLogStats'];
export type SystemLogArchiveResult = S['SystemLogArchiveResult'];
export type SystemLogArchives = S['SystemLogArchives'];
export type AlertRule = S['AlertRule'];
export type AlertRuleCreate = S['AlertRuleCreate'];
export type AlertRuleUpdate = S['AlertRuleUpdate'];
export type Alert = S['Alert'];
export type ApiKey = S['ApiKey'];
export type ApiKeyCreated = S['ApiKeyCreated'];
export type ApiKeyCreate = S['ApiKeyCreate'];
export type ApiKeyIdentity = S['ApiKeyIdentity'];
export type CancelResult = S['CancelResult'];
export type WebhookDelivery = S['WebhookDelivery'];
export type WebhookResend = S['WebhookResend'];
export type StructureValidation = S['StructureValidation'];
export type StructureDetails = S['StructureDetails'];
export type LoadedModel = S['LoadedModel'];
export type LoadedModels = S['LoadedModels'];
/** The answer to a model load or unload. */
export type ModelAction = S['ModelActionAccepted'];
export type AlertStats = S['AlertStats'];
export type OptimizationParameters = Partial<S['OptimizationParameters']>;
export type SinglePointParameters = Partial<S['SinglePointParameters']>;
export type StabilityParameters = Partial<S['StabilityParameters']>;
export type BulkModulusParameters = Partial<S['BulkModulusParameters']>;
export type HeatCapacityParameters = Partial<S['HeatCapacityParameters']>;
export type InteractionEnergyParameters = Partial<S['InteractionEnergyParameters']>;

/** Where a task stands in the line (`GET /tasks/{id}/queue`). */
export type QueuePosition = S['QueuePosition'];
/** A worker process (`GET /system/workers`). */
export type WorkerInfo = S['Worker'];
/** Device-seconds per owner or task (`GET /usage`). */
export type Usage = S['Usage'];
/** The physics output of each task type (`result` of `GET /tasks/{id}/result`). */
export type OptimizationResultData = S['OptimizationResult'];
export type SinglePointResultData = S['SinglePointResult'];
export type StabilityResultData = S['StabilityResult'];
export type BulkModulusResultData = S['BulkModulusResult'];
export type HeatCapacityResultData = S['HeatCapacityResult'];
export type InteractionEnergyResultData = S['InteractionEnergyResult'];

/** A GPU driven by a worker, with its last telemetry (`GET /api/v1/system/gpus`): `index` is its device index. */
export type GPUInfo = S['Gpu'];

export const TERMINAL_STATUSES: readonly TaskStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'];
export type CampaignInfo = S['Campaign'];
export type CampaignCreate = S['CampaignCreate'];
export type CampaignStep = S['CampaignStep'];
export type CampaignStatus = S['CampaignStatus'];
export type CampaignResults = S['CampaignResults'];
export type CampaignResultRow = S['CampaignResultRow'];
/** One of a campaign's own events (progress, completed, retried), as the events list and the WebSocket give it. */
export type CampaignEvent = S['CampaignEvent'];
/** The body of a `campaign.progress` / `campaign.completed` webhook. */
export type CampaignWebhookPayload = S['CampaignWebhookPayload'];
/** The SVG plots of a campaign's scores. */
export type CampaignPlot = 'parity-bulk-modulus' | 'parity-heat-capacity' | 'volume-change';
export type LeaderboardEntry = S['LeaderboardEntry'];
