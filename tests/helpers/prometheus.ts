/**
 * A real Prometheus for the integration tests: Debian's package, installed by scripts/install-prometheus.sh (or the
 * folder in MOFSIM_PROMETHEUS_BIN), run on a free loopback port with its own storage, scraping the given targets.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../../scripts/services.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../common/config.js';
import { until } from './until.js';

/** The folder holding `prometheus` and `promtool` (installing them on first use). */
export function prometheusBin(): string {
  const given = process.env.MOFSIM_PROMETHEUS_BIN;
  if (given) return given;
  return execFileSync('bash', [join(repoRoot, 'scripts', 'install-prometheus.sh')], { encoding: 'utf8' }).trim();
}

export interface PromSample { metric: Record<string, string>; value: [number, string] }

export interface TestPrometheus {
  url: string;
  /** An instant query; throws on a query error (a PromQL syntax error is a failure, not "no series"). */
  query(promql: string): Promise<PromSample[]>;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping `targets` (job name → host:port list) every second. */
export async function startPrometheus(targets: Record<string, string[]>): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'mofsim-prom-'));
  const scrapeConfigs = Object.entries(targets).map(([job, hosts]) =>
    `  - job_name: ${job}\n    static_configs:\n      - targets: [${hosts.map((h) => `'${h}'`).join(', ')}]\n`).join('');
  writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${scrapeConfigs}`);
  const port = await freePort();
  const child = spawn(join(prometheusBin(), 'prometheus'), [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', process.env.MOFSIM_TEST_PROMETHEUS_LOGS ? 'inherit' : 'ignore'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  await until('prometheus ready', async () => {
    if (child.exitCode !== null) throw new Error('prometheus exited during start-up');
    return fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
  }, 60_000);
  return {
    url,
    async query(promql: string) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = await res.json() as { status: string; error?: string; data?: { resultType: string; result: PromSample[] } };
      if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
      return body.data!.resultType === 'vector' ? body.data!.result : [];
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
