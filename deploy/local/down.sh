#!/usr/bin/env bash
# down.sh — stop what deploy/local/up.sh started from this checkout, and only that: each
# server is found by the pid file up.sh wrote under deploy/local/.run/pids, checked to be
# still ours, asked to stop (SIGTERM) and waited for; one that outlives its grace period
# is killed. Data, logs and caches are kept, so the next up.sh starts where this one left.
# Running it again, or with nothing started, does nothing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=$HERE/.run
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"

log() { printf '[down] %s\n' "$*"; }

# stop_pid NAME PID GRACE: SIGTERM, wait up to GRACE seconds, then SIGKILL.
stop_pid() {
	local name=$1 pid=$2 grace=$3 deadline
	log "$name: stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || return 0
	deadline=$((SECONDS + grace))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			log "$name: still running after ${grace}s, killing pid $pid"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
			break
		fi
		sleep 0.2
	done
}

# stop NAME GRACE [PIDFILE]: stop the process of NAME's pid file if it is ours.
stop() {
	local name=$1 grace=$2 file=${3:-$RUN/pids/$1.pid} pid
	if pid=$(owned_pid "$name" "$file"); then
		stop_pid "$name" "$pid" "$grace"
	fi
	rm -f "$file"
}

main() {
	[[ -d $RUN ]] || { log "nothing to stop"; return 0; }
	# Clients first, storage last: geth, then Elasticsearch, Kafka, ClickHouse, Redis.
	stop geth 30
	# Elasticsearch: the CLI launcher stops its server JVM; the server's own pid file
	# covers a launcher that is already gone.
	stop elasticsearch 60
	stop elasticsearch-server 60 "$RUN/elasticsearch/server.pid"
	stop kafka 60
	stop clickhouse 60
	stop redis 15
	log "stopped; logs and data kept in ${RUN}"
}

main "$@"
