#!/usr/bin/env bash
# build.sh compiles the test contracts in src/ with the solc pinned in
# package-lock.json (npm's solc, the JS build of the official compiler, so no system
# compiler is needed) into build/*.abi and build/*.bin, then generates Go bindings with the
# abigen of the go-ethereum version in go.mod. The output is committed; running this twice
# gives identical files. Run from anywhere: `make contracts`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
GO="${GO:-go}"

cd "$here"
npm ci --silent --no-audit --no-fund >/dev/null
node compile.js

cd "$root"
for name in WeirToken WeirNFT WeirMulti WeirSplitter; do
	lower="$(tr '[:upper:]' '[:lower:]' <<<"$name")"
	"$GO" run github.com/ethereum/go-ethereum/cmd/abigen \
		--abi "ingest/ethereum/contracts/build/$name.abi" \
		--bin "ingest/ethereum/contracts/build/$name.bin" \
		--pkg contracts --type "$name" \
		--out "ingest/ethereum/contracts/$lower.go"
done
