#!/usr/bin/env bash
# breaking.sh — fail if schemas/proto breaks a message of the committed baseline.
#
#   bash schemas/breaking.sh                    check schemas/proto against the baseline
#   bash schemas/breaking.sh --update-baseline  check, then rebuild the baseline from
#                                               schemas/proto (do this when schema changes
#                                               are merged, so new fields are protected too)
#   bash schemas/breaking.sh --update-baseline --force
#                                               rebuild the baseline even though the check
#                                               fails: a deliberate, reviewed break
#
# The baseline is schemas/compat/baseline.binpb, a buf image (buf build -o) of the schemas
# as they were last accepted, committed to the repository so the check needs no git
# history. The rules are in schemas/buf.yaml (breaking: WIRE_JSON plus no deletion of
# packages, messages or enums), with the reasons written there.
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

update=false
force=false
for arg in "$@"; do
  case "$arg" in
    --update-baseline) update=true ;;
    --force) force=true ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
if $force && ! $update; then
  echo "breaking.sh: --force only goes with --update-baseline" >&2
  exit 2
fi

schemas="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$schemas")"
go="${GO:-go}"
toolsmod="$root/internal/tools/go.mod"
baseline="compat/baseline.binpb"

buf() { (cd "$schemas" && "$go" tool -modfile="$toolsmod" buf "$@"); }

build_baseline() {
  buf build --exclude-source-info -o "$baseline"
  echo "breaking.sh: wrote schemas/$baseline"
}

if [[ ! -f "$schemas/$baseline" ]]; then
  if $update; then
    build_baseline
    exit 0
  fi
  echo "breaking.sh: schemas/$baseline is missing; create it with --update-baseline" >&2
  exit 1
fi

if buf breaking --against "$baseline"; then
  echo "breaking.sh: schemas/proto is compatible with schemas/$baseline"
else
  echo "breaking.sh: schemas/proto breaks messages of schemas/$baseline (see above)." >&2
  echo "  Keep old fields (mark them deprecated), reserve the numbers and names of removed" >&2
  echo "  ones, add new fields with new numbers; or put the change in a new package version." >&2
  if ! ($update && $force); then
    exit 1
  fi
  echo "breaking.sh: --force given: accepting the break" >&2
fi

if $update; then
  build_baseline
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
buf build --exclude-source-info -o "$tmp/current.binpb"
if ! cmp -s "$tmp/current.binpb" "$schemas/$baseline"; then
  echo "breaking.sh: note: schemas/proto differs from the baseline (compatibly); run" \
    "'bash schemas/breaking.sh --update-baseline' with the change so it is protected too"
fi
