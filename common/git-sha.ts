/**
 * The commit a checkout is at, read from its `.git` (no git binary needed): HEAD, its ref loose or in packed-refs,
 * and a worktree's `.git` file pointing at its git dir. Null when the code does not come from a git checkout.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from './config.js';

/** The 40-hex commit of the checkout at `root`, or null. */
export function gitSha(root: string = repoRoot): string | null {
  try {
    let dir = join(root, '.git');
    if (statSync(dir).isFile()) {
      const target = /^gitdir:\s*(.+)$/m.exec(readFileSync(dir, 'utf8'))?.[1]?.trim();
      if (!target) return null;
      dir = resolve(root, target);
    }
    const head = readFileSync(join(dir, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = /^ref:\s*(.+)$/.exec(head)?.[1]?.trim();
    if (!ref) return null;
    // A linked worktree keeps HEAD in its own dir and refs in the common one.
    const common = existsSync(join(dir, 'commondir')) ? resolve(dir, readFileSync(join(dir, 'commondir'), 'utf8').trim()) : dir;
    for (const d of [dir, common]) {
      const loose = join(d, ref);
      if (existsSync(loose)) return readFileSync(loose, 'utf8').trim();
    }
    const packed = join(common, 'packed-refs');
    if (existsSync(packed)) {
      const line = readFileSync(packed, 'utf8').split('\n').find((l) => l.endsWith(` ${ref}`));
      if (line) return line.slice(0, 40);
    }
    return null;
  } catch {
    return null;
  }
}
