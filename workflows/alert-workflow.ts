/**
 * The alert evaluator: one long-lived workflow (workflowId `mofsim-alert-evaluator`) on the alerts queue that
 * every API process serves. It evaluates every rule, sleeps one interval, and again; it continues as new before
 * its history grows long. Durable: whichever API process is alive runs the next evaluation, and a restart of all
 * of them resumes the loop where it was.
 */
import { condition, continueAsNew, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { AlertActivities } from '../server/alerting/alert-activities.js';

export interface AlertEvaluatorInput {
  /** Seconds between evaluations. */
  intervalSeconds: number;
}

/** A new interval (an API process started with another MOFSIM_ALERT_INTERVAL_S); takes effect after the current wait. */
export const alertIntervalSignal = defineSignal<[AlertEvaluatorInput]>('alertInterval');

export const ALERT_EVALUATOR_WORKFLOW_ID = 'mofsim-alert-evaluator';

// Each evaluation adds about a dozen history events; well below Temporal's limits, and a short replay on failover.
const EVALUATIONS_PER_RUN = 200;

/** Evaluates the alert rules every `intervalSeconds`, forever. */
export async function alertEvaluatorWorkflow(input: AlertEvaluatorInput): Promise<void> {
  let interval = input.intervalSeconds;
  let changed = false;
  setHandler(alertIntervalSignal, (s) => {
    if (s.intervalSeconds > 0 && s.intervalSeconds !== interval) { interval = s.intervalSeconds; changed = true; }
  });
  const { evaluateAlerts } = proxyActivities<AlertActivities>({
    startToCloseTimeout: '2 minutes',
    // A database outage: keep trying (every API process would), never end the loop.
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  for (let i = 0; i < EVALUATIONS_PER_RUN && !workflowInfo().continueAsNewSuggested; i++) {
    await evaluateAlerts();
    changed = false;
    // Wakes early only for a new interval, so the next evaluation follows the new period.
    await condition(() => changed, interval * 1000);
  }
  await continueAsNew<typeof alertEvaluatorWorkflow>({ intervalSeconds: interval });
}
