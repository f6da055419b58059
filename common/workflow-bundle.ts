/**
 * The workflow code a Temporal worker runs, bundled once per source state and reused. Bundling (webpack over the
 * workflow modules) costs seconds of CPU at every worker start; on a box that restarts workers, and in a test run
 * that starts dozens of them, that is most of their start-up. The cache key is a hash of every TypeScript source of
 * the control plane and the lock file, so any edit (including to a module a workflow imports) gives a new bundle.
 */
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { repoRoot } from './config.js';

/** The folders whose sources a workflow bundle may contain (workflows import only from these). */
const SOURCE_DIRS = ['workflows', 'common', 'store', 'workers', 'metrics', 'engine-host', 'scoring'];

function sourceFiles(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function sourceHash(entry: string): string {
  const h = createHash('sha256').update(relative(repoRoot, entry));
  const files = SOURCE_DIRS.flatMap((d) => sourceFiles(join(repoRoot, d))).sort();
  for (const f of [...files, join(repoRoot, 'package-lock.json')]) {
    h.update(relative(repoRoot, f)).update('\0');
    if (existsSync(f)) h.update(readFileSync(f));
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * `Worker.create` options for the workflows at `entry`: a cached bundle when one matches the sources, else a new one
 * (written atomically, so workers starting together never read half a file). Where the cache folder cannot be
 * written, the worker bundles for itself as before.
 */
export async function workflowCode(entry: string, cacheDir = join(repoRoot, '.mofsim', 'cache', 'workflows')):
  Promise<{ workflowBundle: { codePath: string } } | { workflowsPath: string }> {
  try {
    const codePath = join(cacheDir, `${basename(entry).replace(/\.ts$/, '')}-${sourceHash(entry)}.js`);
    if (!existsSync(codePath)) {
      mkdirSync(cacheDir, { recursive: true });
      const { code } = await bundleWorkflowCode({ workflowsPath: entry, logger: new DefaultLogger('WARN') });
      const tmp = `${codePath}.${process.pid}-${randomUUID()}.tmp`;
      writeFileSync(tmp, code);
      renameSync(tmp, codePath);
    }
    return { workflowBundle: { codePath } };
  } catch {
    return { workflowsPath: entry };
  }
}
