/**
 * The SDK's tslab notebook (sdk/examples/quickstart.ipynb), every cell run by tslab's own executor (TypeScript 5.0
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
import { startTestStack, type TestStack } from './helpers/stack.js';

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
  before(async () => { stack = await startTestStack({ workers: 1 }); });
  after(async () => { await stack?.stop(); });

  it('runs every cell of sdk/examples/quickstart.ipynb and gets a relaxation and a bulk modulus', async () => {
    const req = createRequire(tslab!);
    const { createExecutor } = req('./executor.js');
    const { createConverter } = req('./converter.js');
    const nb = JSON.parse(readFileSync(join(repoRoot, 'sdk', 'examples', 'quickstart.ipynb'), 'utf8'));
    const logs: string[] = [];
    const errors: string[] = [];
    const text = (a: unknown[]) => a.map((x) => (typeof x === 'string' ? x : inspect(x))).join(' ');
    const konsole = { log: (...a: unknown[]) => logs.push(text(a)), error: (...a: unknown[]) => errors.push(text(a)) };
    const node = createConverter({ isBrowser: false });
    const browser = createConverter({ isBrowser: true });
    const env = { MOFSIM_BASE_URL: stack.baseUrl, MOFSIM_API_KEY: stack.userKey, MOFSIM_MODEL: 'lj_test', MOFSIM_MAX_STEPS: '15' };
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
      process.chdir(cwd);
      for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
    }
    const out = logs.join('\n');
    assert.match(out, /server healthy: true/);
    assert.match(out, /calf: .*44 atoms/);
    assert.match(out, /finalEnergy_eV: -?\d/);
    assert.match(out, /bulkModulus_GPa: /);
    assert.deepEqual(errors, []);
  });
});
