/** Every dashboard, by the file name its JSON is provisioned under. */
import { apiWebhooksDashboard } from './api-webhooks.js';
import { benchmarkResultsDashboard } from './benchmark-results.js';
import { gpuFleetDashboard } from './gpu-fleet.js';
import { operationsDashboard } from './operations.js';

/** File name → the dashboard's JSON text (stable: the same code gives the same bytes). */
export function buildDashboards(): Record<string, string> {
  const all = {
    'operations.json': operationsDashboard(),
    'gpu-fleet.json': gpuFleetDashboard(),
    'api-webhooks.json': apiWebhooksDashboard(),
    'benchmark-results.json': benchmarkResultsDashboard(),
  };
  return Object.fromEntries(Object.entries(all).map(([file, b]) => {
    const dashboard = b.build();
    // Ids by position (rows included): unique and stable, so panel links survive a regeneration.
    dashboard.panels?.forEach((p, i) => { p.id = i + 1; });
    return [file, `${JSON.stringify(dashboard, null, 2)}\n`];
  }));
}
