/**
 * The dashboards as committed: the same JSON `npm run gen:dashboards` builds, and each valid for Grafana's
 * provisioning (unique panel ids, datasources that are provisioned, no overlapping panels). Their queries run
 * against a real Prometheus and Postgres in tests/metrics.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { repoRoot } from '../common/config.js';
import { buildDashboards } from '../grafana/dashboards/index.js';
import { allPanels, committedDashboards, dashboardsDir, provisionedDatasources, type Panel } from './helpers/dashboards.js';

const overlap = (a: NonNullable<Panel['gridPos']>, b: NonNullable<Panel['gridPos']>) =>
  a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

describe('dashboards', () => {
  const committed = committedDashboards();

  it('are the committed output of npm run gen:dashboards (no hand edits, nothing stale)', () => {
    const built = buildDashboards();
    assert.deepEqual(Object.keys(committed).sort(), Object.keys(built).sort());
    for (const [file, json] of Object.entries(built)) {
      assert.equal(readFileSync(join(dashboardsDir, file), 'utf8'), json, `${file} differs: run npm run gen:dashboards`);
    }
  });

  it('cover operations, the GPU fleet, the API and webhooks, and benchmark results, each with a unique uid', () => {
    const uids = Object.values(committed).map((d) => d.uid);
    assert.deepEqual([...uids].sort(), ['mofsim-api-webhooks', 'mofsim-benchmark-results', 'mofsim-gpu-fleet', 'mofsim-operations']);
  });

  it('have unique panel ids, provisioned datasources on every panel and target, and no overlapping panels', () => {
    const sources = provisionedDatasources();
    for (const [file, d] of Object.entries(committed)) {
      const panels = allPanels(d);
      const ids = panels.map((p) => p.id);
      assert.ok(ids.every((id) => Number.isInteger(id) && id! > 0), `${file}: a panel without an id`);
      assert.equal(new Set(ids).size, ids.length, `${file}: duplicate panel ids`);
      for (const p of panels) {
        const pos = p.gridPos;
        assert.ok(pos && pos.w > 0 && pos.h > 0 && pos.x >= 0 && pos.x + pos.w <= 24, `${file}: panel ${p.title} has a bad gridPos`);
        if (p.type === 'row') continue;
        assert.ok(p.targets?.length, `${file}: panel ${p.title} has no query`);
        for (const ds of [p.datasource, ...p.targets.map((t) => t.datasource)]) {
          assert.ok(ds?.uid && sources.has(ds.uid), `${file}: panel ${p.title} uses datasource ${ds?.uid}, which is not provisioned`);
          assert.equal(ds.type, sources.get(ds.uid), `${file}: panel ${p.title}: datasource ${ds.uid} has type ${sources.get(ds.uid)}, not ${ds.type}`);
        }
        for (const t of p.targets) assert.ok(t.expr || t.rawSql, `${file}: panel ${p.title} has an empty query`);
        assert.equal(new Set(p.targets.map((t) => t.refId)).size, p.targets.length, `${file}: panel ${p.title}: duplicate refIds`);
      }
      for (let i = 0; i < panels.length; i++) {
        for (let j = i + 1; j < panels.length; j++) {
          assert.ok(!overlap(panels[i]!.gridPos!, panels[j]!.gridPos!), `${file}: panels ${panels[i]!.title} and ${panels[j]!.title} overlap`);
        }
      }
    }
  });

  it('are found by the dashboards provider, which reads the folder they are written to', () => {
    const y = parse(readFileSync(join(repoRoot, 'grafana', 'provisioning', 'dashboards', 'mofsim.yml'), 'utf8')) as { providers: { options: { path: string } }[] };
    // docker-compose mounts grafana/provisioning at /etc/grafana/provisioning.
    assert.equal(y.providers[0]!.options.path, '/etc/grafana/provisioning/dashboards/mofsim');
  });
});
