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

# shellcheck source=scripts/stop-process.sh
source "$(dirname "${BASH_SOURCE[0]}")/stop-process.sh"
stop_process stop-minio MinIO "$pid" minio 10 || exit 1

if $rm_data; then
	data="${WISP_MINIO_DATA:-}"
	[[ -n "$data" ]] || die "--rm needs WISP_MINIO_DATA"
	# Only delete what looks like a start-minio.sh data dir.
	[[ -d "$data/data" || -f "$data/minio.log" ]] || die "$data does not look like a MinIO data dir; not deleting it"
	rm -rf "$data"
	echo "stop-minio: removed $data" >&2
fi
