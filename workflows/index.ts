/** Every workflow the workers register (the bundle entry point). */
export { taskWorkflow } from './task-workflow.js';
export type { TaskWorkflowInput } from './task-workflow.js';
export { webhookWorkflow } from './webhook-workflow.js';
export type { WebhookWorkflowInput } from './webhook-workflow.js';
export { modelResidencyWorkflow } from './model-residency-workflow.js';
export type { ModelResidencyInput, ModelResidencyOutcome } from './model-residency-workflow.js';
export { campaignWorkflow } from './campaign-workflow.js';
export type { CampaignWorkflowInput } from './campaign-workflow.js';
