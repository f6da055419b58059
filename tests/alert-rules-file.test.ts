/**
 * grafana/alerts.rules.yml, the Prometheus alerting rules for sites with Alertmanager: valid for a real promtool,
 * every alert fires in promtool's rule unit tests (grafana/alerts.rules.test.yml) on series that meet its
 * condition and not on healthy ones, and every metric the rules read is one the processes export (grafana/METRICS.md).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { repoRoot } from '../common/config.js';

const rulesFile = join(repoRoot, 'grafana', 'alerts.rules.yml');
const testsFile = join(repoRoot, 'grafana', 'alerts.rules.test.yml');

// The shared installer (Debian's prometheus package, unpacked under .mofsim/prometheus) unless CI already ran it.
function promtool(): string {
  const bin = process.env.MOFSIM_PROMETHEUS_BIN
    ?? execFileSync('bash', [join(repoRoot, 'scripts', 'install-prometheus.sh')], { encoding: 'utf8' }).trim();
  return join(bin, 'promtool');
}

interface Rule { alert?: string; expr: string }
const groups = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups;
const alerts = groups.flatMap((g) => g.rules).filter((r) => r.alert);

describe('Prometheus alerting rules (grafana/alerts.rules.yml)', () => {
  it('passes promtool check rules', () => {
    const r = spawnSync(promtool(), ['check', 'rules', rulesFile], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  it('fires every alert in its promtool unit tests, and stays quiet where the tests expect none', () => {
    const r = spawnSync(promtool(), ['test', 'rules', testsFile], { encoding: 'utf8', cwd: join(repoRoot, 'grafana') });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const tests = (parse(readFileSync(testsFile, 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests;
    const fired = new Set(tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname));
    const untested = alerts.map((a) => a.alert!).filter((a) => !fired.has(a));
    assert.deepEqual(untested, [], 'every alert needs a unit test in which it fires');
  });

  it('reads only metrics the API and workers export (grafana/METRICS.md)', () => {
    const documented = new Set([...readFileSync(join(repoRoot, 'grafana', 'METRICS.md'), 'utf8').matchAll(/^\| `([A-Za-z_:][A-Za-z0-9_:]*)`/gm)].map((m) => m[1]!));
    const used = new Set(alerts.flatMap((a) => [...a.expr.matchAll(/\b(mofsim_[a-z0-9_]+|DCGM_FI_[A-Z0-9_]+)\b/g)].map((m) => m[1]!)));
    assert.ok(used.size >= 10, `the rules read ${used.size} metrics`);
    // Histograms are documented by their family name; the rules read its _bucket/_count series.
    const missing = [...used].filter((n) => !documented.has(n) && !documented.has(n.replace(/_(bucket|count|sum)$/, '')));
    assert.deepEqual(missing, []);
  });
});
