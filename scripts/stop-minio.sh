#!/usr/bin/env bash
# stop-minio.sh stops the MinIO that scripts/start-minio.sh started:
#
#   scripts/stop-minio.sh [--rm] [PID]
#
# PID defaults to $WISP_MINIO_PID. It sends SIGTERM, waits up to 10 s, then
# SIGKILL. With --rm it also deletes $WISP_MINIO_DATA. A process that is
# already gone is not an error; a PID that is not MinIO is refused, since a
# stale PID may have been reused by something else.
set -euo pipefail

die() { echo "stop-minio: $*" >&2; exit 1; }

rm_data=false
if [[ "${1:-}" == "--rm" ]]; then
	rm_data=true
	shift
fi
pid="${1:-${WISP_MINIO_PID:-}}"
[[ -n "$pid" ]] || die "usage: stop-minio.sh [--rm] [PID] (or set WISP_MINIO_PID, as start-minio.sh prints)"
[[ "$pid" =~ ^[0-9]+$ ]] || die "PID $pid is not a number"

# alive: the process exists and is not a zombie waiting to be reaped.
alive() {
	kill -0 "$pid" 2>/dev/null || return 1
	[[ ! -r "/proc/$pid/stat" ]] || [[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != "Z" ]]
}

if alive; then
	if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q minio; then
		die "process $pid is not MinIO ($(tr '\0' ' ' <"/proc/$pid/cmdline")); not stopping it"
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		alive || break
		sleep 0.1
	done
	if alive; then
		echo "stop-minio: $pid ignored SIGTERM for 10s; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	echo "stop-minio: stopped MinIO $pid" >&2
else
	echo "stop-minio: MinIO $pid is not running" >&2
fi

if $rm_data; then
	data="${WISP_MINIO_DATA:-}"
	[[ -n "$data" ]] || die "--rm needs WISP_MINIO_DATA"
	# Only delete what looks like a start-minio.sh data dir.
	[[ -d "$data/data" || -f "$data/minio.log" ]] || die "$data does not look like a MinIO data dir; not deleting it"
	rm -rf "$data"
	echo "stop-minio: removed $data" >&2
fi
