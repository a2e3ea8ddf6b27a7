#!/usr/bin/env bash
# stop-kafka.sh stops the broker that scripts/start-kafka.sh started:
#
#   scripts/stop-kafka.sh [--rm] [PID]
#
# PID defaults to $KAFKA_PID. It sends SIGTERM (the broker shuts down
# cleanly), waits up to 60 s, then SIGKILL. With --rm it also deletes
# $KAFKA_DATA. A process that is already gone is not an error; a PID that is
# not a Kafka broker is refused, since a stale PID may have been reused.
set -euo pipefail

die() { echo "stop-kafka: $*" >&2; exit 1; }

rm_data=false
if [[ "${1:-}" == "--rm" ]]; then
	rm_data=true
	shift
fi
pid="${1:-${KAFKA_PID:-}}"
[[ -n "$pid" ]] || die "usage: stop-kafka.sh [--rm] [PID] (or set KAFKA_PID, as start-kafka.sh prints)"
[[ "$pid" =~ ^[0-9]+$ ]] || die "PID $pid is not a number"

# shellcheck source=scripts/stop-process.sh
source "$(dirname "${BASH_SOURCE[0]}")/stop-process.sh"
stop_process stop-kafka Kafka "$pid" kafka.Kafka 60 || exit 1

if $rm_data; then
	data="${KAFKA_DATA:-}"
	[[ -n "$data" ]] || die "--rm needs KAFKA_DATA"
	# Only delete what looks like a start-kafka.sh data dir.
	[[ -f "$data/server.properties" || -f "$data/kafka.log" ]] || die "$data does not look like a start-kafka.sh data dir; not deleting it"
	rm -rf "$data"
	echo "stop-kafka: removed $data" >&2
fi
