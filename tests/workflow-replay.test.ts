/**
 * Replays saved task-workflow histories (tests/histories/*.json: `fetchHistory()` of real runs, JSON.stringify'd) against today's workflow
 * code: a change that would make running workflows nondeterministic (a reordered or removed command without a
 * `patched()` guard) fails here before it reaches a server with workflows in flight.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { repoRoot } from '../common/config.js';

const require = createRequire(import.meta.url);
const dir = join(repoRoot, 'tests', 'histories');

describe('task workflow replay', () => {
  it('replays every saved history without nondeterminism', async () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 2, 'saved histories present');
    const histories = files.map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: proto.temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(join(dir, f), 'utf8'))) }));
    const results: { workflowId: string; error?: unknown }[] = [];
    for await (const r of Worker.runReplayHistories({ workflowsPath: require.resolve(join(repoRoot, 'workflows', 'index.ts')) }, histories)) {
      results.push({ workflowId: r.workflowId, error: r.error });
    }
    assert.equal(results.length, files.length);
    for (const r of results) assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
  });
});
