/**
 * The SDK's tslab notebooks (sdk/examples/quickstart.ipynb, campaign.ipynb), every cell run by tslab's own executor (TypeScript 5.0
 * type-checks each cell against the SDK's .d.ts) against the real stack, without Jupyter. tslab@1.0.22 is installed
 * on first use into .mofsim/tslab (npm registry; its zeromq native part is not needed to execute cells); when that
 * is impossible (no registry) the test says so and skips.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../common/config.js';
import { api, startTestStack, type TestStack } from './helpers/stack.js';
import { until } from './helpers/until.js';

const tslabDir = join(repoRoot, '.mofsim', 'tslab');

function ensureTslab(): string | undefined {
  const marker = join(tslabDir, 'node_modules', 'tslab', 'dist', 'executor.js');
  if (existsSync(marker)) return marker;
  try {
    mkdirSync(tslabDir, { recursive: true });
    execFileSync('npm', ['install', '--prefix', tslabDir, '--ignore-scripts', '--no-audit', '--no-fund', 'tslab@1.0.22'], { stdio: 'ignore', timeout: 240_000 });
  } catch { return undefined; }
  return existsSync(marker) ? marker : undefined;
}

const tslab = ensureTslab();
let stack: TestStack;

describe('tslab notebook', { skip: tslab ? false : 'tslab@1.0.22 could not be installed (no npm registry?)' }, () => {
  before(async () => {
    stack = await startTestStack({ workers: 1 });
    // As a user's running server would be: its parse engine up (GET /health says `starting` until then).
    await until('the API healthy', async () => (await api(stack.baseUrl, '/api/v1/health')).body.data?.status === 'healthy', 120_000, 500);
  });
  after(async () => { await stack?.stop(); });

  /** Runs every code cell of a notebook with `env` set; what the cells printed, and what they displayed (tslab.display). */
  async function runNotebook(file: string, env: Record<string, string>) {
    const req = createRequire(tslab!);
    const { createExecutor } = req('./executor.js');
    const { createConverter } = req('./converter.js');
    // tslab.display writes to the Jupyter kernel's channel; without Jupyter, the test takes what it would send.
    const jupyter = req('./jupyter.js') as { lastWriteDisplayData: unknown };
    const displays: { data: Record<string, string> }[] = [];
    jupyter.lastWriteDisplayData = (d: { data: Record<string, string> }) => { displays.push(d); };
    const nb = JSON.parse(readFileSync(join(repoRoot, 'sdk', 'examples', file), 'utf8'));
    const logs: string[] = [];
    const errors: string[] = [];
    const text = (a: unknown[]) => a.map((x) => (typeof x === 'string' ? x : inspect(x))).join(' ');
    const konsole = { log: (...a: unknown[]) => logs.push(text(a)), error: (...a: unknown[]) => errors.push(text(a)) };
    const node = createConverter({ isBrowser: false });
    const browser = createConverter({ isBrowser: true });
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const cwd = process.cwd();
    process.chdir(repoRoot);
    const executor = createExecutor(repoRoot, { node, browser, close: () => { node.close(); browser.close(); } }, konsole);
    // Cells print with console.log, as a notebook user would; capture it.
    const { log, error } = console;
    console.log = konsole.log;
    console.error = konsole.error;
    try {
      for (const cell of nb.cells.filter((c: { cell_type: string }) => c.cell_type === 'code')) {
        const ok = await executor.execute(cell.source.join(''));
        assert.ok(ok, `cell failed:\n${cell.source.join('')}\n${errors.join('\n')}`);
      }
    } finally {
      console.log = log;
      console.error = error;
      executor.close();
      jupyter.lastWriteDisplayData = null;
      process.chdir(cwd);
      for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
    }
    return { out: logs.join('\n'), errors, displays };
  }

  it('runs every cell of sdk/examples/quickstart.ipynb and gets a relaxation and a bulk modulus', async () => {
    const { out, errors } = await runNotebook('quickstart.ipynb', {
      MOFSIM_BASE_URL: stack.baseUrl, MOFSIM_API_KEY: stack.userKey, MOFSIM_MODEL: 'lj_test', MOFSIM_MAX_STEPS: '15',
    });
    assert.match(out, /server healthy: true/);
    assert.match(out, /calf: .*44 atoms/);
    assert.match(out, /finalEnergy_eV: -?\d/);
    assert.match(out, /bulkModulus_GPa: /);
    assert.deepEqual(errors, []);
  });

  it('runs every cell of sdk/examples/campaign.ipynb: a tiny campaign, its scores vs DFT and its parity plot', async () => {
    const { out, errors, displays } = await runNotebook('campaign.ipynb', {
      MOFSIM_BASE_URL: stack.baseUrl, MOFSIM_API_KEY: stack.userKey, MOFSIM_MODELS: 'lj_test', MOFSIM_MAX_STEPS: '5',
    });
    assert.match(out, /campaign [0-9a-f-]{36}: 2 tasks/);
    assert.match(out, /status: COMPLETED/);
    assert.match(out, /lj_test: MAE /);
    assert.match(out, /calf: B = .* GPa, DFT \d/);
    assert.match(out, /parity plot: \d+ characters of SVG/);
    const svg = displays.map((d) => d.data['image/svg+xml']).find(Boolean);
    assert.ok(svg?.includes('<svg'), `the notebook displayed the SVG (${displays.length} display(s))`);
    assert.deepEqual(errors, []);
  });
});
