#!/usr/bin/env bash
# `npm test`: the engine's pytest suite, the type check, then the TypeScript tests against a real stack
# (PostgreSQL on 127.0.0.1:5432 or embedded-postgres, a Temporal dev server, the Python engine).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  echo "missing .venv: run npm install (it prepares the Python side)" >&2
  exit 1
fi
echo "== engine tests (pytest)"
(cd workers/engine && ../../.venv/bin/python -m pytest -q -p no:cacheprovider)
echo "== SDK build (CommonJS + .d.ts) and type check"
npm run build -w @mofsim/sdk --silent
npx tsc --noEmit
echo "== control-plane tests (node --test)"
# Every test has a deadline (a stuck task fails its test instead of hanging the suite).
node --import tsx --test --test-concurrency=1 --test-timeout=900000 tests/*.test.ts
