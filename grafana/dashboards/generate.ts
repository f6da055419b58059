/**
 * `npm run gen:dashboards`: builds every dashboard with the Grafana Foundation SDK and writes its JSON where
 * Grafana's provisioning reads it (grafana/provisioning/dashboards/mofsim/). The JSON is committed; a test checks it
 * matches what this script builds.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../common/config.js';
import { buildDashboards } from './index.js';

const dir = join(repoRoot, 'grafana', 'provisioning', 'dashboards', 'mofsim');
mkdirSync(dir, { recursive: true });
for (const [file, json] of Object.entries(buildDashboards())) {
  writeFileSync(join(dir, file), json);
  console.log(`wrote grafana/provisioning/dashboards/mofsim/${file}`);
}
