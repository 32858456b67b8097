#!/usr/bin/env bash
# gen.sh — lint, format and compile the event schemas (schemas/proto) into Go (schemas/gen).
#
#   bash schemas/gen.sh           lint, format the .proto files, regenerate schemas/gen
#   bash schemas/gen.sh --check   lint, and fail if the .proto files are not formatted or
#                                 the committed schemas/gen differs from a fresh generation
#
# The tools are pinned in internal/tools/go.mod: buf (which compiles the .proto files
# itself, no protoc needed) and protoc-gen-go, built here into a temporary directory and
# put first on PATH, so its version always matches the google.golang.org/protobuf runtime.
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

schemas="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$schemas")"
go="${GO:-go}"
toolsmod="$root/internal/tools/go.mod"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

buf() { (cd "$schemas" && "$go" tool -modfile="$toolsmod" buf "$@"); }

(cd "$root" && "$go" build -modfile="$toolsmod" -o "$tmp/bin/protoc-gen-go" \
  google.golang.org/protobuf/cmd/protoc-gen-go)
export PATH="$tmp/bin:$PATH"

buf lint

if $check; then
  if ! buf format --diff --exit-code >"$tmp/format.diff"; then
    echo "schemas/gen.sh: .proto files are not formatted; run 'make gen':" >&2
    head -n 40 "$tmp/format.diff" >&2
    exit 1
  fi
else
  buf format --write
fi

buf generate --template buf.gen.yaml --output "$tmp/out"
gofmt -w "$tmp/out/gen"

if $check; then
  if ! diff -r -q "$schemas/gen" "$tmp/out/gen" >"$tmp/summary" 2>&1; then
    echo "schemas/gen.sh: generated Go in schemas/gen is stale; run 'make gen' and commit:" >&2
    sed -e "s|$tmp/out/gen|<fresh>|g" -e "s|$schemas/gen|schemas/gen|g" "$tmp/summary" >&2
    echo "first lines of the difference (committed -> fresh):" >&2
    diff -r -u "$schemas/gen" "$tmp/out/gen" 2>&1 |
      sed -e "s|$tmp/out/gen|<fresh>|g" -e "s|$schemas/gen|schemas/gen|g" | head -n 40 >&2 || true
    exit 1
  fi
  echo "schemas/gen.sh: schemas/gen is up to date"
  exit 0
fi

rm -rf "$schemas/gen"
mv "$tmp/out/gen" "$schemas/gen"
echo "schemas/gen.sh: regenerated schemas/gen"
