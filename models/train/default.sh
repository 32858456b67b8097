#!/usr/bin/env bash
# default.sh rebuilds the model the platform ships, models/default/{model.txt,model.json,
# reference.jsonl}: until risk.scores exports of logged features exist, it is trained on the
# synthetic data set of synthetic.py (fixed seed), so the output depends only on this
# script and the versions pinned in requirements.txt. Run from anywhere:
#
#   bash models/train/default.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="$here/../default"
py=$("$here/venv.sh")
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

"$py" "$here/synthetic.py" --out "$data" --entities 6000 --seed 20261125 >&2
"$py" "$here/train.py" --input "$data" --out "$out" --asset ETH=18 --reference-rows 100 \
	--note "trained on synthetic data (models/train/synthetic.py --entities 6000 --seed 20261125), not on logged features; rebuild with bash models/train/default.sh"
