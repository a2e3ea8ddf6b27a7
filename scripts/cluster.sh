#!/usr/bin/env bash
# cluster.sh runs the cluster of docker-compose.yml without Docker: three
# `wisp agent` processes joined into one cluster on 127.0.0.1, on a local MinIO.
#
#   scripts/cluster.sh up       build the binary, start MinIO and the agents,
#                               wait until every agent is ready, print the
#                               bootstrap servers (the only line on stdout)
#   scripts/cluster.sh status   say what runs; exit 0 if all 3 agents are ready,
#                               3 if nothing runs, 1 otherwise
#   scripts/cluster.sh down     stop the agents one by one (SIGTERM: each leaves
#                               the cluster and flushes), then MinIO
#
# All three are idempotent: `up` starts only what is not running, `down` stops
# only what is. Agent N (1-3) listens on 127.0.0.1 with
#   Kafka 9091+N (9092-9094)   HTTP 8079+N (8080-8082)
#   gossip 7936+10N (7946, 7956, 7966)   Raft 7937+10N (7947, 7957, 7967)
# each plus WISP_CLUSTER_PORT_OFFSET (default 0). Agents 2 and 3 --join agent 1.
#
# State lives in WISP_CLUSTER_DIR (default: wisp-cluster in the repository):
# wisp-N/ (data dir), wisp-N.log, wisp-N.pid, minio/ (MinIO's drive and log)
# and minio.env (the export lines of scripts/start-minio.sh). `down` keeps it,
# so the next `up` finds every topic and record again; delete the directory
# after `down` to start afresh.
#
# The binary is built into WISP_CLUSTER_BIN (default: bin/wisp). MinIO is
# WISP_MINIO_BIN, else minio on PATH, else the one scripts/install-minio.sh
# builds (minutes, once). Other WISP_* variables reach the agents as flags,
# e.g. WISP_LOG_LEVEL=debug or WISP_FLUSH_INTERVAL=50ms.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog="cluster.sh"

die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }
usage() { echo "usage: scripts/cluster.sh up|down|status" >&2; exit 2; }

[[ $# -eq 1 ]] || usage
action="$1"
case "$action" in up | down | status) ;; *) usage ;; esac

offset="${WISP_CLUSTER_PORT_OFFSET:-0}"
[[ "$offset" =~ ^[0-9]+$ ]] || die "WISP_CLUSTER_PORT_OFFSET must be a non-negative integer, got '$offset'"
((9094 + offset <= 65535)) || die "WISP_CLUSTER_PORT_OFFSET $offset puts the Kafka ports past 65535"

dir="${WISP_CLUSTER_DIR:-$root/wisp-cluster}"
if [[ ! -d "$dir" && "$action" != up ]]; then
	[[ "$action" == down ]] && { say "nothing was running in $dir (no such directory)"; exit 0; }
	printf 'wisp-%s: stopped\n' 1 2 3
	echo "minio: stopped"
	exit 3
fi
mkdir -p "$dir" || die "cannot create the state directory $dir"
dir="$(cd "$dir" && pwd)"
bin="${WISP_CLUSTER_BIN:-$root/bin/wisp}"
minio_env="$dir/minio.env"

kafka_port() { echo $((9091 + $1 + offset)); }
http_port() { echo $((8079 + $1 + offset)); }
gossip_port() { echo $((7936 + 10 * $1 + offset)); }
raft_port() { echo $((7937 + 10 * $1 + offset)); }
servers() { echo "127.0.0.1:$(kafka_port 1),127.0.0.1:$(kafka_port 2),127.0.0.1:$(kafka_port 3)"; }

# One cluster.sh at a time per state directory: two `up`s would start two
# agents on one data dir.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$dir/.lock"
	flock -w 120 9 || die "another cluster.sh still runs on $dir"
fi

# cmdline PID: the command line of a process, empty if it is gone.
cmdline() {
	if [[ -r "/proc/$1/cmdline" ]]; then
		tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
	else
		ps -o command= -p "$1" 2>/dev/null || true
	fi
}

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ ! -r "/proc/$1/stat" ]] || [[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != "Z" ]]
}

# agent_pid N: the pid of agent N if it runs, else nothing (and false). A pid
# file whose process is gone, or is now something else, does not count.
agent_pid() {
	local f="$dir/wisp-$1.pid" pid
	[[ -r "$f" ]] || return 1
	pid="$(cat "$f")"
	[[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
	[[ "$(cmdline "$pid")" == *" agent "*"$dir/wisp-$1"* ]] || return 1
	echo "$pid"
}

# minio_pid: the pid of our MinIO if it runs.
minio_pid() {
	local pid
	[[ -r "$minio_env" ]] || return 1
	pid="$(sed -n 's/^export WISP_MINIO_PID=//p' "$minio_env")"
	[[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
	[[ "$(cmdline "$pid")" == *minio* ]] || return 1
	echo "$pid"
}

# in_use PORT: something accepts TCP connections on 127.0.0.1:PORT.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# http_status PORT PATH: the status code of GET http://127.0.0.1:PORT/PATH,
# empty when nothing answers.
http_status() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
		read -r -t 2 _ code _ <&3 || true
		echo "${code:-}"
	) 2>/dev/null || true
}

log_tail() {
	echo "--- last lines of $1:" >&2
	tail -n 15 "$1" >&2 2>/dev/null || true
}

# start_agent N BUCKET JOIN: JOIN is a comma-separated list of gossip
# addresses, empty for the agent that bootstraps a new cluster.
start_agent() {
	local n="$1" bucket="$2" join="$3" log="$dir/wisp-$1.log"
	local args=(agent --node-id "$n" --data-dir "$dir/wisp-$n" --bucket-url "$bucket"
		--kafka-addr "127.0.0.1:$(kafka_port "$n")" --http-addr "127.0.0.1:$(http_port "$n")"
		--gossip-addr "127.0.0.1:$(gossip_port "$n")" --raft-addr "127.0.0.1:$(raft_port "$n")")
	if [[ -n "$join" ]]; then
		args+=(--join "$join" --retry-join)
	fi
	echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) $bin ${args[*]}" >>"$log"
	# The agent outlives this script: nohup, stdin closed, output to its log,
	# and without the lock's descriptor, which would keep the lock held.
	nohup "$bin" "${args[@]}" >>"$log" 2>&1 </dev/null 9>&- &
	echo $! >"$dir/wisp-$n.pid"
	say "started wisp-$n (pid $!): Kafka 127.0.0.1:$(kafka_port "$n"), HTTP 127.0.0.1:$(http_port "$n"), log $log"
}

up() {
	local n missing=() live=() mpid=""
	for n in 1 2 3; do
		if agent_pid "$n" >/dev/null; then
			live+=("127.0.0.1:$(gossip_port "$n")")
		else
			missing+=("$n")
		fi
	done
	mpid="$(minio_pid)" || mpid=""
	if [[ -z "$mpid" && ${#missing[@]} -lt 3 ]]; then
		die "MinIO is not running but some agents are, with its old address; run scripts/cluster.sh down, then up"
	fi

	# Refuse before starting anything when a port is taken by someone else.
	for n in "${missing[@]}"; do
		local what port
		for what in kafka http gossip raft; do
			port="$("${what}_port" "$n")"
			if in_use "$port"; then
				die "port $port (wisp-$n $what) on 127.0.0.1 is in use by another program; stop it, or move the whole cluster with WISP_CLUSTER_PORT_OFFSET (e.g. WISP_CLUSTER_PORT_OFFSET=1000)"
			fi
		done
	done

	if ((${#missing[@]} > 0)); then
		command -v go >/dev/null 2>&1 || die "go not found on PATH (needed to build $bin)"
		say "building $bin"
		mkdir -p "$(dirname "$bin")"
		(cd "$root" && go build -o "$bin" ./cmd/wisp) || die "go build ./cmd/wisp failed"
	fi

	if [[ -z "$mpid" ]]; then
		if [[ -z "${WISP_MINIO_BIN:-}" ]] && ! command -v minio >/dev/null 2>&1; then
			WISP_MINIO_BIN="$("$root/scripts/install-minio.sh")" || die "could not install MinIO (scripts/install-minio.sh failed)"
			export WISP_MINIO_BIN
		fi
		local exports
		exports="$("$root/scripts/start-minio.sh" "$dir/minio" 9>&-)" || die "MinIO did not start (scripts/start-minio.sh failed; log: $dir/minio/minio.log)"
		printf '%s\n' "$exports" >"$minio_env"
	fi
	# shellcheck disable=SC1090
	source "$minio_env"
	local bucket="s3://$WISP_S3_BUCKET?endpoint=$WISP_S3_ENDPOINT&secure=false&region=us-east-1"

	# Agents 2 and 3 join agent 1. Agent 1 bootstraps the cluster only when
	# no other agent runs; otherwise it joins them, so that even with a lost
	# data dir it can never form a second cluster.
	local join first
	first="127.0.0.1:$(gossip_port 1)"
	for n in "${missing[@]}"; do
		join="$(IFS=,; echo "${live[*]}")"
		if ((n > 1)) && [[ ",$join," != *",$first,"* ]]; then
			join="$first${join:+,$join}"
		fi
		start_agent "$n" "$bucket" "$join"
	done

	# Ready means a Raft leader and the cluster id are known: the agent serves.
	local deadline=$((SECONDS + 90)) pid code
	for n in 1 2 3; do
		while :; do
			pid="$(agent_pid "$n")" || {
				log_tail "$dir/wisp-$n.log"
				die "wisp-$n exited during start-up (see $dir/wisp-$n.log); run scripts/cluster.sh down to stop the rest"
			}
			code="$(http_status "$(http_port "$n")" /readyz)"
			[[ "$code" == 200 ]] && break
			if ((SECONDS >= deadline)); then
				log_tail "$dir/wisp-$n.log"
				die "wisp-$n (pid $pid) is not ready after 90s (/readyz: ${code:-no answer}); see $dir/wisp-$n.log; run scripts/cluster.sh down to stop the rest"
			fi
			sleep 0.2
		done
	done
	say "3 agents ready; bootstrap servers:"
	servers
}

down() {
	local n pid stopped=0
	# Agents leave one at a time, the first (usually the Raft leader) last:
	# each leave is a Raft change that needs the others' quorum.
	for n in 3 2 1; do
		if ! pid="$(agent_pid "$n")"; then
			[[ -e "$dir/wisp-$n.pid" ]] && say "wisp-$n is not running"
			rm -f "$dir/wisp-$n.pid"
			continue
		fi
		kill -TERM "$pid" 2>/dev/null || true
		stopped=$((stopped + 1))
		local waited=0
		while alive "$pid" && ((waited < 450)); do # 45 s: the agent bounds its own shutdown at 30 s
			sleep 0.1
			waited=$((waited + 1))
		done
		if alive "$pid"; then
			say "wisp-$n (pid $pid) ignored SIGTERM for 45s; sending SIGKILL (see $dir/wisp-$n.log)"
			kill -KILL "$pid" 2>/dev/null || true
		else
			say "stopped wisp-$n (pid $pid)"
		fi
		rm -f "$dir/wisp-$n.pid"
	done
	if [[ -r "$minio_env" ]]; then
		if pid="$(minio_pid)"; then
			"$root/scripts/stop-minio.sh" "$pid" || die "could not stop MinIO $pid"
			stopped=$((stopped + 1))
		else
			say "MinIO is not running"
		fi
		rm -f "$minio_env"
	fi
	if ((stopped == 0)); then
		say "nothing was running in $dir"
	else
		say "cluster stopped; its data stays in $dir (delete it to start afresh)"
	fi
}

status() {
	local n pid code where ready=0 running=0
	for n in 1 2 3; do
		where="Kafka 127.0.0.1:$(kafka_port "$n"), HTTP 127.0.0.1:$(http_port "$n")"
		if pid="$(agent_pid "$n")"; then
			running=$((running + 1))
			code="$(http_status "$(http_port "$n")" /readyz)"
			if [[ "$code" == 200 ]]; then
				ready=$((ready + 1))
				echo "wisp-$n: ready (pid $pid; $where)"
			else
				echo "wisp-$n: running but not ready (pid $pid; /readyz: ${code:-no answer}; log $dir/wisp-$n.log)"
			fi
		else
			echo "wisp-$n: stopped"
		fi
	done
	if pid="$(minio_pid)"; then
		running=$((running + 1))
		echo "minio: running (pid $pid; $(sed -n 's/^# bucket URL: //p' "$minio_env"))"
	else
		echo "minio: stopped"
	fi
	if ((ready == 3)); then
		echo "bootstrap servers: $(servers)"
		return 0
	fi
	((running == 0)) && return 3
	return 1
}

"$action"
