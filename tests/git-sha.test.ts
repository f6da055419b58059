/** The API's start log names the checkout's commit, read from .git without a git binary. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { repoRoot } from '../common/config.js';
import { gitSha } from '../common/git-sha.js';

it('reads the checkout commit as git does, and null outside a checkout', { timeout: 30_000 }, () => {
  assert.equal(gitSha(), execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim());
  const empty = mkdtempSync(join(tmpdir(), 'no-git-'));
  try { assert.equal(gitSha(empty), null); } finally { rmSync(empty, { recursive: true, force: true }); }
});
