#!/usr/bin/env bash
# Installs Debian's `prometheus` package (prometheus + promtool) into a local folder, without a service manager or
# root: `apt-get download` fetches the .deb, `dpkg -x` unpacks it. Idempotent; prints the folder holding the two
# binaries. Tests and `.ci/run` call it; MOFSIM_PROMETHEUS_DIR overrides the folder (default .mofsim/prometheus).
# A machine with the binaries already on PATH (e.g. the package installed by apt) is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${MOFSIM_PROMETHEUS_DIR:-$PWD/.mofsim/prometheus}"
bin="$dest/usr/bin"
if [ -x "$bin/prometheus" ] && [ -x "$bin/promtool" ]; then echo "$bin"; exit 0; fi
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  dirname "$(command -v prometheus)"; exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-prometheus: no apt-get here; install Prometheus 2.x and put prometheus + promtool on PATH" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 777 "$work"   # apt's _apt user writes the download when run as root
# A fresh CI machine may never have fetched the package lists.
if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null; fi
  (cd "$work" && apt-get download prometheus >/dev/null)
fi
mkdir -p "$dest"
dpkg -x "$work"/prometheus_*.deb "$dest"
"$bin/prometheus" --version >/dev/null
echo "$bin"
