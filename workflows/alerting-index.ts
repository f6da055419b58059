/** The workflows of the alerts queue (the bundle entry point of the API processes' alert worker). */
export { alertEvaluatorWorkflow } from './alert-workflow.js';
export { webhookWorkflow } from './webhook-workflow.js';
