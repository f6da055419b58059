/**
 * Alerting in an API process: a Temporal worker on the alerts queue (`<MOFSIM_TASK_QUEUE>.alerts`: the evaluator
 * workflow, its activities, and the alert webhook deliveries), and the evaluator workflow made sure to run. Every
 * API process does both; Temporal runs one evaluator, on whichever of them is alive. It lives with the API rather
 * than the workers so that "no worker online" is still noticed, and notified, when no worker runs.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot } from '../../common/config.js';
import { ALERT_EVALUATOR_WORKFLOW_ID, alertIntervalSignal, type AlertEvaluatorInput } from '../../workflows/alert-workflow.js';
import type { ServerDeps } from '../deps.js';
import { createAlertActivities } from './alert-activities.js';
import { workflowCode } from '../../common/workflow-bundle.js';

const require = createRequire(import.meta.url);

/** The alerts queue of a deployment. */
export function alertsQueue(controlQueue: string): string {
  return `${controlQueue}.alerts`;
}

/** Starts the alert worker and the evaluator; the returned function stops the worker. */
export async function startAlerting(deps: Pick<ServerDeps, 'config' | 'database' | 'temporal' | 'logger' | 'systemLog'>): Promise<() => Promise<void>> {
  const { config } = deps;
  const log = deps.logger.child({ component: 'alerts' });
  try {
    // The API handles its own signals (it stops this worker on SIGTERM); the SDK must not install its own.
    // Its warnings and errors go into our JSON log (the SDK's default prints multi-line records).
    const t = deps.logger.child({ component: 'temporal' });
    Runtime.install({
      shutdownSignals: [],
      logger: new DefaultLogger('WARN', (e) => (e.level === 'ERROR' ? t.error(e.message, { ...(e.meta ?? {}) }) : t.warn(e.message, { ...(e.meta ?? {}) }))),
    });
  } catch {
    // Already installed in this process (a test harness, or workers in the same process).
  }
  const taskQueue = alertsQueue(config.MOFSIM_TASK_QUEUE);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    ...(await workflowCode(require.resolve(join(repoRoot, 'workflows', 'alerting-index.ts')))),
    activities: createAlertActivities({
      db: deps.database.db,
      metrics: { staleSeconds: config.MOFSIM_WORKER_STALE_S, failureWindowSeconds: config.MOFSIM_ALERT_FAILURE_WINDOW_S, dataDir: config.MOFSIM_DATA_DIR },
      ...(config.MOFSIM_ALERT_WEBHOOK_URL
        ? { webhook: { url: config.MOFSIM_ALERT_WEBHOOK_URL, ...(config.MOFSIM_ALERT_WEBHOOK_SECRET ? { secret: config.MOFSIM_ALERT_WEBHOOK_SECRET } : {}) } }
        : {}),
      allowHosts: config.MOFSIM_WEBHOOK_ALLOW_HOSTS,
      webhookTimeoutMs: config.MOFSIM_WEBHOOK_TIMEOUT_S * 1000,
      webhookRetryInitialSeconds: config.MOFSIM_WEBHOOK_RETRY_INITIAL_S,
      systemLog: deps.systemLog,
    }),
    maxConcurrentActivityTaskExecutions: 8,
  });
  const running = worker.run().catch((err) => log.error('alert worker stopped', { error: String(err) }));
  const input: AlertEvaluatorInput = { intervalSeconds: config.MOFSIM_ALERT_INTERVAL_S };
  // Starts the evaluator if none runs, and tells a running one this process's interval.
  await deps.temporal.workflow.signalWithStart('alertEvaluatorWorkflow', {
    workflowId: ALERT_EVALUATOR_WORKFLOW_ID, taskQueue, args: [input], signal: alertIntervalSignal, signalArgs: [input],
  });
  log.info('alert evaluator running', { task_queue: taskQueue, interval_s: input.intervalSeconds });
  return async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection.close();
  };
}
