# shellcheck shell=bash
# lib.sh — helpers shared by up.sh and down.sh; sourced, not run. Expects RUN (the
# deploy/local/.run folder) to be set.

# owned_pid NAME [PIDFILE]: print the pid recorded in PIDFILE (default .run/pids/NAME.pid)
# if that process is alive and belongs to this checkout — its command line or working
# directory lies under .run — so that a recycled pid is never taken for one of ours.
owned_pid() {
	local file=${2:-$RUN/pids/$1.pid} pid
	[[ -f $file ]] || return 1
	pid=$(<"$file")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$RUN/" ||
		[[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$RUN"/* ]]; then
		echo "$pid"
		return 0
	fi
	return 1
}
