#!/usr/bin/env bash
# `npm test`: the engine's pytest suite, the type check, then the TypeScript tests against a real stack
# (PostgreSQL at MOFSIM_TEST_DATABASE_URL / DATABASE_URL / 127.0.0.1:5432, or one embedded-postgres for the run,
# a Temporal dev server per test file, the Python engine).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  echo "missing .venv: run npm install (it prepares the Python side)" >&2
  exit 1
fi
# One PostgreSQL for the whole run: the configured one when it answers, else embedded-postgres (also as root).
PG_URL_FILE="$(mktemp)"
node --import tsx scripts/test-postgres.ts > "$PG_URL_FILE" &
PG_PID=$!
trap 'kill "$PG_PID" 2>/dev/null || true; wait "$PG_PID" 2>/dev/null || true; rm -f "$PG_URL_FILE"' EXIT
for _ in $(seq 1 600); do
  [ -s "$PG_URL_FILE" ] && break
  kill -0 "$PG_PID" 2>/dev/null || { echo "could not start a PostgreSQL for the tests" >&2; exit 1; }
  sleep 0.2
done
[ -s "$PG_URL_FILE" ] || { echo "timed out starting a PostgreSQL for the tests" >&2; exit 1; }
MOFSIM_TEST_DATABASE_URL="$(head -n1 "$PG_URL_FILE")"
export MOFSIM_TEST_DATABASE_URL
# MOFSIM_TEST_FILES="tests/a.test.ts …" runs only those control-plane test files (and skips pytest and lint).
if [ -z "${MOFSIM_TEST_FILES:-}" ]; then
  echo "== engine tests (pytest)"
  (cd workers/engine && ../../.venv/bin/python -m pytest -q -p no:cacheprovider)
fi
echo "== SDK build (CommonJS + .d.ts) and type check"
npm run build -w @mofsim/sdk --silent
npx tsc --noEmit
if [ -z "${MOFSIM_TEST_FILES:-}" ]; then
  echo "== lint (ESLint, ruff)"
  npm run lint --silent
fi
echo "== control-plane tests (node --test)"
# Every test has a deadline (a stuck task fails its test instead of hanging the suite).
# shellcheck disable=SC2086 # a list of paths
node --import tsx --test --test-concurrency=1 --test-timeout=900000 ${MOFSIM_TEST_FILES:-tests/*.test.ts}
