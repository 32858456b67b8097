#!/usr/bin/env bash
# chdb.sh — install chdb-core (ClickHouse's own engine, in-process, for Python) into a
# virtualenv in the weir cache and print the virtualenv's python.
#
#   WEIR_CHDB_PYTHON=$(bash deploy/local/chdb.sh)
#
# Only the Debian ClickHouse 18.16 runs here as a server; chdb-core is how the tests
# run the DDL and values of a current ClickHouse (sinks/clickhouse TestCurrentClickHouse).
# The version is pinned (CHDB_VERSION); its dependencies (pandas, pyarrow, numpy) come
# with it from PyPI, about 250 MB on the first run.
#
# Idempotent: the virtualenv ${WEIR_CACHE:-$HOME/.cache/weir}/venv/chdb is reused when its
# marker names the pinned version, so a second run takes milliseconds. A file lock
# serializes concurrent runs (up.sh, a developer). Progress goes to stderr, the path of
# the python to stdout. WEIR_PYTHON picks the interpreter the virtualenv is made from
# (default python3, 3.9 or later).
set -euo pipefail

readonly CHDB_VERSION=26.9.0

CACHE=${WEIR_CACHE:-$HOME/.cache/weir}
VENV=$CACHE/venv/chdb
MARKER=$VENV/.weir-chdb-version
PYTHON=${WEIR_PYTHON:-python3}
START=$SECONDS

log() { printf '[chdb %3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }

die() {
	printf '[chdb] error: %s\n' "$*" >&2
	exit 1
}

installed() { [[ -x $VENV/bin/python && $(cat "$MARKER" 2>/dev/null) == "$CHDB_VERSION" ]]; }

main() {
	if installed; then # without the lock: the marker is written last
		echo "$VENV/bin/python"
		return 0
	fi
	command -v "$PYTHON" >/dev/null || die "$PYTHON is not on PATH (set WEIR_PYTHON)"
	mkdir -p "$CACHE/venv"
	exec 9>"$VENV.lock"
	flock 9
	if installed; then # another run installed it while we waited
		echo "$VENV/bin/python"
		return 0
	fi
	log "installing chdb-core $CHDB_VERSION into $VENV (first run only, about 250 MB from PyPI)"
	local pylog=$CACHE/venv/chdb-install.log
	rm -rf "$VENV"
	{
		"$PYTHON" -m venv "$VENV" &&
			"$VENV/bin/python" -m pip install -q --disable-pip-version-check "chdb-core==$CHDB_VERSION"
	} >"$pylog" 2>&1 || {
		tail -n 40 "$pylog" >&2
		rm -rf "$VENV"
		die "pip install chdb-core==$CHDB_VERSION failed (log above, in $pylog)"
	}
	local engine
	engine=$("$VENV/bin/python" -c 'import chdb; print(chdb.engine_version)' 2>>"$pylog") ||
		{ tail -n 40 "$pylog" >&2; die "chdb does not import (log above, in $pylog)"; }
	echo "$CHDB_VERSION" >"$MARKER"
	log "installed chdb-core $CHDB_VERSION (ClickHouse engine $engine)"
	echo "$VENV/bin/python"
}

main "$@"
