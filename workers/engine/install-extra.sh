#!/usr/bin/env bash
# Install one optional model-family extra into the engine venv: bash workers/engine/install-extra.sh FAMILY
# FAMILY: mace | orb | mattersim | fairchem | grace | chgnet. Reads requirements-FAMILY.txt; packages named on a
# "# no-deps: pkg==ver ..." line are installed afterwards with --no-deps (see the file for why).
# PYTHON overrides the interpreter (default: the repo's .venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fam="${1:?usage: install-extra.sh mace|orb|mattersim|fairchem|grace|chgnet}"
req="$here/requirements-$fam.txt"
[ -f "$req" ] || { echo "no $req" >&2; exit 2; }
py="${PYTHON:-$here/../../.venv/bin/python}"
torch_before="$("$py" -c 'import torch; print(torch.__version__)')"
"$py" -m pip install -r "$req"
nodeps="$(sed -n 's/^# no-deps: *//p' "$req")"
if [ -n "$nodeps" ]; then
  # shellcheck disable=SC2086
  "$py" -m pip install --no-deps $nodeps
fi
torch_after="$("$py" -c 'import torch; print(torch.__version__)')"
if [ "$torch_before" != "$torch_after" ]; then
  echo "ERROR: installing $fam changed torch $torch_before -> $torch_after" >&2
  exit 1
fi
echo "installed extra $fam (torch $torch_after)"
