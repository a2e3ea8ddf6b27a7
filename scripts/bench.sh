#!/usr/bin/env bash
# bench.sh benchmarks Wisp against Apache Kafka on this machine, one system at
# a time, with the same client (franz-go, through `wisp bench run`) and the
# same workloads, then prints the table and writes it with a chart:
#
#   scripts/bench.sh [--smoke] [--out DIR] [--runs N] [--systems LIST] [-- RUN-FLAGS...]
#
# Systems (LIST is a comma-separated subset, in this order by default):
#   kafka        Apache Kafka 4.x, one KRaft broker from the Maven Central jars
#                (scripts/start-kafka.sh), default settings
#   wisp-250ms   one Wisp agent, --flush-interval 250ms, on a local MinIO
#   wisp-20ms    one Wisp agent, --flush-interval 20ms, on a local MinIO
#   wisp-3x      three agents joined as scripts/cluster.sh runs them, 250ms
# Every Wisp system gets a fresh MinIO (scripts/start-minio.sh), removed after.
#
# Output in DIR (default: bench-out in the repository):
#   bench.md, bench.png     the table (also printed on stdout) and the chart
#   results/N-SYSTEM.json   what `wisp bench run` measured, every run
#   pprof/                  CPU and allocation profiles of the agents during
#                           workload 1 of the first run, with `go tool pprof
#                           -top` summaries beside them
#   logs/                   the brokers' and agents' output
#
# --smoke runs tiny sizes once (seconds per system): it proves every workload
# runs on every system, and its figures mean nothing. Without it, every
# figure is the median of --runs (default 3) runs of the full sizes (minutes).
# RUN-FLAGS after -- go to every `wisp bench run` (e.g. --throughput-bytes 512MiB).
#
# Needs go, java 17+ and mvn (the first run fetches Kafka from Maven Central
# and builds MinIO from source). WISP_BENCH_BIN uses a prebuilt wisp binary.
# Progress goes to stderr; only the table goes to stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "bench.sh: $*" >&2; exit 1; }
say() { echo "bench.sh: $*" >&2; }

smoke=false
out="$root/bench-out"
runs=""
systems="kafka,wisp-250ms,wisp-20ms,wisp-3x"
extra=()
while (($# > 0)); do
	case "$1" in
	--smoke) smoke=true ;;
	--out) out="${2:?--out needs a directory}"; shift ;;
	--runs) runs="${2:?--runs needs a number}"; shift ;;
	--systems) systems="${2:?--systems needs a list}"; shift ;;
	--) shift; extra=("$@"); break ;;
	-h | --help) sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see scripts/bench.sh --help)" ;;
	esac
	shift
done
for s in ${systems//,/ }; do
	case "$s" in kafka | wisp-250ms | wisp-20ms | wisp-3x) ;; *) die "unknown system '$s' in --systems (kafka, wisp-250ms, wisp-20ms, wisp-3x)" ;; esac
done

if $smoke; then
	runs="${runs:-1}"
	sizes=(--throughput-bytes 4MiB --rate 1MiB --latency-duration 2s --warmup 500ms
		--many-partitions 50 --many-duration 2s --raw-put-duration 500ms --pprof-duration 1s)
else
	runs="${runs:-3}"
	sizes=(--throughput-bytes 2GiB --rate 5MiB --latency-duration 20s --warmup 3s
		--many-partitions 1000 --many-duration 20s --raw-put-duration 5s --pprof-duration 10s)
fi
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive number, got '$runs'"

command -v go >/dev/null 2>&1 || die "go not found on PATH"
mkdir -p "$out" || die "cannot create $out"
out="$(cd "$out" && pwd)"
rm -rf "$out/results" "$out/pprof" "$out/logs"
mkdir -p "$out/results" "$out/pprof" "$out/logs"
work="$(mktemp -d "${TMPDIR:-/tmp}/wisp-bench.XXXXXX")"

# Whatever this script started is stopped on every exit, error or Ctrl-C.
kafka_pid="" agent_pid="" minio_pid="" minio_data="" cluster_dir=""
cleanup() {
	set +e
	[[ -n "$agent_pid" ]] && stop_agent
	[[ -n "$cluster_dir" ]] && WISP_CLUSTER_DIR="$cluster_dir" "$root/scripts/cluster.sh" down >/dev/null 2>&1
	[[ -n "$kafka_pid" ]] && "$root/scripts/stop-kafka.sh" "$kafka_pid" 2>/dev/null
	[[ -n "$minio_pid" ]] && WISP_MINIO_DATA="$minio_data" "$root/scripts/stop-minio.sh" --rm "$minio_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin="${WISP_BENCH_BIN:-}"
if [[ -z "$bin" ]]; then
	bin="$work/wisp"
	say "building $bin"
	(cd "$root" && go build -o "$bin" ./cmd/wisp) || die "go build ./cmd/wisp failed"
fi
[[ -x "$bin" ]] || die "WISP_BENCH_BIN=$bin is not an executable"
if [[ ",$systems," == *,wisp* ]] && [[ -z "${WISP_MINIO_BIN:-}" ]] && ! command -v minio >/dev/null 2>&1; then
	WISP_MINIO_BIN="$("$root/scripts/install-minio.sh")" || die "scripts/install-minio.sh failed"
	export WISP_MINIO_BIN
fi

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 30000))
		if ! in_use "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no free loopback port found"
}

# http_ok URL-PATH PORT: GET answers 200.
http_ok() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$2" || exit 1
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
		read -r -t 2 _ code _ <&3
		[[ "$code" == 200 ]]
	) 2>/dev/null
}

# bench ID LABEL KIND N ARGS...: one `wisp bench run`, its JSON kept as
# results/N-ID.json.
bench() {
	local id="$1" label="$2" kind="$3" n="$4"
	shift 4
	say "benchmarking $label ($runs run(s))"
	"$bin" bench run --system "$id" --label "$label" --kind "$kind" --runs "$runs" \
		--pprof-dir "$out/pprof" "${sizes[@]}" "$@" "${extra[@]}" \
		--out "$out/results/$n-$id.json" >/dev/null ||
		die "wisp bench run failed for $label (logs in $out/logs)"
}

start_minio() {
	local exports
	exports="$("$root/scripts/start-minio.sh" "$work/minio-$1")" || die "MinIO did not start (scripts/start-minio.sh)"
	eval "$exports"
	minio_pid="$WISP_MINIO_PID" minio_data="$WISP_MINIO_DATA"
	bucket="s3://$WISP_S3_BUCKET?endpoint=$WISP_S3_ENDPOINT&secure=false&region=us-east-1"
}

stop_minio() {
	WISP_MINIO_DATA="$minio_data" "$root/scripts/stop-minio.sh" --rm "$minio_pid" 2>/dev/null || die "could not stop MinIO $minio_pid"
	cp "$minio_data/minio.log" "$out/logs/" 2>/dev/null || true
	minio_pid="" minio_data=""
	unset WISP_S3_ENDPOINT WISP_MINIO_PID WISP_MINIO_DATA
}

stop_agent() {
	kill -TERM "$agent_pid" 2>/dev/null || true
	for _ in $(seq 1 450); do
		kill -0 "$agent_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$agent_pid" 2>/dev/null || true
	wait "$agent_pid" 2>/dev/null || true
	agent_pid=""
}

run_kafka() {
	local n="$1" exports
	exports="$("$root/scripts/start-kafka.sh" "$work/kafka")" || die "Kafka did not start (scripts/start-kafka.sh; log $work/kafka/kafka.log)"
	eval "$exports"
	kafka_pid="$KAFKA_PID"
	bench kafka "Apache Kafka $KAFKA_VERSION, 1 broker" kafka "$n" --agents 1 \
		--bootstrap "$KAFKA_BOOTSTRAP" --pid "$KAFKA_PID"
	cp "$KAFKA_DATA/kafka.log" "$out/logs/kafka.log" 2>/dev/null || true
	KAFKA_DATA="$KAFKA_DATA" "$root/scripts/stop-kafka.sh" --rm "$kafka_pid" || die "could not stop Kafka $kafka_pid"
	kafka_pid=""
}

# run_wisp1 N ID FLUSH: one agent on its own MinIO.
run_wisp1() {
	local n="$1" id="$2" flush="$3" kp hp gp rp
	start_minio "$id"
	kp="$(free_port)" hp="$(free_port)" gp="$(free_port)" rp="$(free_port)"
	"$bin" agent --node-id 1 --data-dir "$work/$id" --bucket-url "$bucket" \
		--kafka-addr "127.0.0.1:$kp" --http-addr "127.0.0.1:$hp" \
		--gossip-addr "127.0.0.1:$gp" --raft-addr "127.0.0.1:$rp" \
		--flush-interval "$flush" --pprof >"$out/logs/$id.log" 2>&1 </dev/null &
	agent_pid=$!
	local deadline=$((SECONDS + 90))
	until http_ok /readyz "$hp"; do
		kill -0 "$agent_pid" 2>/dev/null || { tail -n 20 "$out/logs/$id.log" >&2; die "the agent exited during start-up (log $out/logs/$id.log)"; }
		((SECONDS < deadline)) || die "the agent is not ready after 90s (log $out/logs/$id.log)"
		sleep 0.2
	done
	bench "$id" "Wisp, 1 agent, flush $flush" wisp "$n" --agents 1 --flush-interval "$flush" \
		--bootstrap "127.0.0.1:$kp" --pid "$agent_pid" \
		--metrics-url "http://127.0.0.1:$hp/metrics" --pprof-url "http://127.0.0.1:$hp" \
		--raw-put-url "$bucket"
	stop_agent
	stop_minio
}

# run_wisp3 N ID FLUSH: the three agents of scripts/cluster.sh, on free ports.
run_wisp3() {
	local n="$1" id="$2" flush="$3" offset servers="" try
	cluster_dir="$work/cluster"
	for try in 1 2 3; do
		offset=$((1000 * (1 + RANDOM % 40)))
		if servers="$(WISP_CLUSTER_DIR="$cluster_dir" WISP_CLUSTER_BIN="$work/wisp-cluster" \
			WISP_CLUSTER_PORT_OFFSET="$offset" WISP_FLUSH_INTERVAL="$flush" WISP_PPROF=true \
			"$root/scripts/cluster.sh" up)"; then
			break
		fi
		say "scripts/cluster.sh up failed (try $try, port offset $offset)"
		WISP_CLUSTER_DIR="$cluster_dir" "$root/scripts/cluster.sh" down >/dev/null 2>&1 || true
		rm -rf "$cluster_dir"
		servers=""
	done
	[[ -n "$servers" ]] || die "the 3-agent cluster did not start (scripts/cluster.sh up)"
	# shellcheck disable=SC1091
	source "$cluster_dir/minio.env"
	local bucket="s3://$WISP_S3_BUCKET?endpoint=$WISP_S3_ENDPOINT&secure=false&region=us-east-1"
	local args=() i
	for i in 1 2 3; do
		args+=(--pid "$(cat "$cluster_dir/wisp-$i.pid")"
			--metrics-url "http://127.0.0.1:$((8079 + i + offset))/metrics"
			--pprof-url "http://127.0.0.1:$((8079 + i + offset))")
	done
	bench "$id" "Wisp, 3 agents, flush $flush" wisp "$n" --agents 3 --flush-interval "$flush" \
		--bootstrap "$servers" --raw-put-url "$bucket" "${args[@]}"
	WISP_CLUSTER_DIR="$cluster_dir" "$root/scripts/cluster.sh" down >/dev/null || die "scripts/cluster.sh down failed"
	for i in 1 2 3; do cp "$cluster_dir/wisp-$i.log" "$out/logs/$id-$i.log" 2>/dev/null || true; done
	rm -rf "$cluster_dir"
	cluster_dir=""
}

n=0
for s in ${systems//,/ }; do
	n=$((n + 1))
	case "$s" in
	kafka) run_kafka "$n" ;;
	wisp-250ms) run_wisp1 "$n" "$s" 250ms ;;
	wisp-20ms) run_wisp1 "$n" "$s" 20ms ;;
	wisp-3x) run_wisp3 "$n" "$s" 250ms ;;
	esac
done

for p in "$out"/pprof/*.pprof; do
	[[ -e "$p" ]] || continue
	index=()
	[[ "$p" == *-allocs.pprof ]] && index=(-sample_index=alloc_space)
	go tool pprof -top -nodecount=40 "${index[@]}" "$p" >"${p%.pprof}.top.txt" 2>/dev/null || say "go tool pprof could not read $p"
done
"$bin" bench report --out "$out" "$out"/results/*.json || die "wisp bench report failed"
say "wrote $out/bench.md, $out/bench.png, results/, pprof/ and logs/"
