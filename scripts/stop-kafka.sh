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

alive() {
	kill -0 "$pid" 2>/dev/null || return 1
	[[ ! -r "/proc/$pid/stat" ]] || [[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != "Z" ]]
}

if alive; then
	if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q kafka.Kafka; then
		die "process $pid is not a Kafka broker ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-200)); not stopping it"
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 600); do
		alive || break
		sleep 0.1
	done
	if alive; then
		echo "stop-kafka: $pid ignored SIGTERM for 60s; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	echo "stop-kafka: stopped Kafka $pid" >&2
else
	echo "stop-kafka: Kafka $pid is not running" >&2
fi

if $rm_data; then
	data="${KAFKA_DATA:-}"
	[[ -n "$data" ]] || die "--rm needs KAFKA_DATA"
	# Only delete what looks like a start-kafka.sh data dir.
	[[ -f "$data/server.properties" || -f "$data/kafka.log" ]] || die "$data does not look like a start-kafka.sh data dir; not deleting it"
	rm -rf "$data"
	echo "stop-kafka: removed $data" >&2
fi
