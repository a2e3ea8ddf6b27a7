# shellcheck shell=bash
# stop-process.sh is sourced by stop-minio.sh and stop-kafka.sh: the one way
# they stop a server they started.
#
# stop_process TAG WHAT PID PATTERN SECONDS
#   TAG prefixes messages (stop-minio), WHAT names the server (MinIO).
#   If PID is alive, its command line must contain PATTERN (a stale PID may
#   have been reused by something else: that is refused), then it gets
#   SIGTERM, SECONDS to exit, then SIGKILL. A PID already gone is not an
#   error.

# process_alive PID: the process exists and is not a zombie waiting to be
# reaped.
process_alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ ! -r "/proc/$1/stat" ]] || [[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != "Z" ]]
}

stop_process() {
	local tag="$1" what="$2" pid="$3" pattern="$4" seconds="$5"
	if ! process_alive "$pid"; then
		echo "$tag: $what $pid is not running" >&2
		return 0
	fi
	if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$pattern"; then
		echo "$tag: process $pid is not $what ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-200)); not stopping it" >&2
		return 1
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 $((seconds * 10))); do
		process_alive "$pid" || break
		sleep 0.1
	done
	if process_alive "$pid"; then
		echo "$tag: $pid ignored SIGTERM for ${seconds}s; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	echo "$tag: stopped $what $pid" >&2
}
