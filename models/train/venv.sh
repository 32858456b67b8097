#!/usr/bin/env bash
# venv.sh creates (once) the Python venv that models/train scripts run in, installs the
# pinned requirements into it, and prints the path of its python. Idempotent: a venv whose
# installed requirements match requirements.txt is reused as it is.
#
#   PY=$(models/train/venv.sh) && "$PY" models/train/fixture.py
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv="${WEIR_CACHE:-$HOME/.cache/weir}/venv/lightgbm"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

if [[ ! -x "$venv/bin/python" ]]; then
	python3 -m venv "$venv" >&2
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
	echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
