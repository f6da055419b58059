/** The committed dashboards and provisioning, read back for the dashboard tests. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../../common/config.js';

export const dashboardsDir = join(repoRoot, 'grafana', 'provisioning', 'dashboards', 'mofsim');

export interface PanelTarget { expr?: string; rawSql?: string; refId?: string; datasource?: { type?: string; uid?: string } }
export interface Panel {
  id?: number; type: string; title?: string; gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string }; targets?: PanelTarget[]; panels?: Panel[];
}
export interface Dashboard { uid: string; title: string; panels: Panel[] }

/** File name → parsed dashboard JSON, as committed. */
export function committedDashboards(): Record<string, Dashboard> {
  return Object.fromEntries(readdirSync(dashboardsDir).filter((f) => f.endsWith('.json'))
    .map((f) => [f, JSON.parse(readFileSync(join(dashboardsDir, f), 'utf8')) as Dashboard]));
}

/** Every panel of a dashboard, rows' nested panels included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** uid → type of every provisioned datasource. */
export function provisionedDatasources(): Map<string, string> {
  const y = parse(readFileSync(join(repoRoot, 'grafana', 'provisioning', 'datasources', 'mofsim.yml'), 'utf8')) as { datasources: { uid: string; type: string }[] };
  return new Map(y.datasources.map((d) => [d.uid, d.type]));
}

/**
 * A panel's PromQL as Grafana would send it for a short range: `$__rate_interval` becomes a window that holds a few
 * samples at the tests' 1 s scrape interval.
 */
export function expandPromql(expr: string): string {
  return expr.replaceAll('$__rate_interval', '10s').replaceAll('$__interval', '2s').replaceAll('$__range', '1h');
}
