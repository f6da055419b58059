/** The cached workflow bundle: built once per source state, reused by the next worker, never half-written. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from '../common/config.js';
import { workflowCode } from '../common/workflow-bundle.js';

const require = createRequire(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'mofsim-bundle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('workflow bundle cache', () => {
  it('bundles once, then hands out the same file; concurrent starts agree on one complete bundle', async () => {
    const entry = require.resolve(join(repoRoot, 'workflows', 'index.ts'));
    const [a, b] = await Promise.all([workflowCode(entry, dir), workflowCode(entry, dir)]);
    assert.ok('workflowBundle' in a && 'workflowBundle' in b, 'a bundle, not a fallback to bundling in the worker');
    assert.equal(a.workflowBundle.codePath, b.workflowBundle.codePath);
    const code = readFileSync(a.workflowBundle.codePath, 'utf8');
    assert.match(code, /taskWorkflow/);
    assert.match(code, /campaignWorkflow/);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left behind');
    const mtime = statSync(a.workflowBundle.codePath).mtimeMs;
    const c = await workflowCode(entry, dir);
    assert.ok('workflowBundle' in c);
    assert.equal(c.workflowBundle.codePath, a.workflowBundle.codePath);
    assert.equal(statSync(c.workflowBundle.codePath).mtimeMs, mtime, 'the cached bundle was reused, not rebuilt');
    // Another entry point is another bundle.
    const d = await workflowCode(require.resolve(join(repoRoot, 'workflows', 'alerting-index.ts')), dir);
    assert.ok('workflowBundle' in d);
    assert.notEqual(d.workflowBundle.codePath, a.workflowBundle.codePath);
  });

  it('falls back to bundling in the worker where the cache cannot be written', async () => {
    const entry = require.resolve(join(repoRoot, 'workflows', 'alerting-index.ts'));
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const r = await workflowCode(entry, join(file, 'cache')); // a folder inside a file cannot be made

    assert.deepEqual(r, { workflowsPath: entry });
  });
});
