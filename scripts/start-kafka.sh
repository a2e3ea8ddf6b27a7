#!/usr/bin/env bash
# start-kafka.sh starts one Apache Kafka 4.x broker in KRaft mode (broker and
# controller in one process), run from the Maven Central jars that
# scripts/install-kafka-tools.sh caches, on free loopback ports, and prints
# its settings as export lines:
#
#   eval "$(scripts/start-kafka.sh [DATA_DIR])"
#   ... bootstrap servers: $KAFKA_BOOTSTRAP ...
#   scripts/stop-kafka.sh            # or: scripts/stop-kafka.sh $KAFKA_PID
#
# DATA_DIR (default: a new temp dir) holds server.properties, the log dirs
# (DATA_DIR/data), the broker's output (DATA_DIR/kafka.log) and its pid
# (DATA_DIR/kafka.pid). Each start formats an empty log dir with
# kafka.tools.StorageTool (what `kafka-storage format` runs): topics of an
# earlier start are not kept. Every broker setting is
# Kafka's default (durability included: acks=all waits for the one replica's
# page cache, no fsync per write) except the single-node replication factors
# of the internal topics.
#
# KAFKA_HEAP_OPTS (default -Xmx1G -Xms1G) and KAFKA_JVM_PERFORMANCE_OPTS
# (default: G1, as Kafka's bin/kafka-server-start.sh) tune the JVM; JAVA_HOME
# picks the JDK (17+). WISP_KAFKA_LIB names the jar dir (default: the lib dir
# of the install script's cache, installing it if missing). Only the export
# lines go to stdout; progress and errors go to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "start-kafka: $*" >&2; exit 1; }

java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
command -v "$java" >/dev/null 2>&1 || die "java not found (JAVA_HOME or PATH): install a JDK 17 or newer"

lib="${WISP_KAFKA_LIB:-}"
if [[ -z "$lib" ]]; then
	bin="$("$root/scripts/install-kafka-tools.sh")" || die "scripts/install-kafka-tools.sh failed; it fetches the broker jars from Maven Central"
	lib="$(dirname "$bin")/lib"
fi
ls "$lib"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka_2.13 jar in $lib: run scripts/install-kafka-tools.sh"
ls "$lib"/kafka-server-[0-9]*.jar >/dev/null 2>&1 || die "no kafka-server jar in $lib: run scripts/install-kafka-tools.sh"
jars=("$lib"/kafka_2.13-*.jar)
version="$(basename "${jars[0]}" .jar)"
version="${version#kafka_2.13-}"

data="${1:-}"
if [[ -z "$data" ]]; then
	data="$(mktemp -d "${TMPDIR:-/tmp}/wisp-kafka.XXXXXX")"
else
	mkdir -p "$data" || die "cannot create data dir $data"
fi
data="$(cd "$data" && pwd)"
log="$data/kafka.log"
pidfile="$data/kafka.pid"
props="$data/server.properties"

alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ ! -r "/proc/$1/stat" ]] || [[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != "Z" ]]
}

# Two brokers on one log dir would corrupt it: refuse if the last one runs.
if [[ -r "$pidfile" ]]; then
	old="$(cat "$pidfile")"
	if [[ "$old" =~ ^[0-9]+$ ]] && alive "$old" && tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null | grep -q kafka.Kafka; then
		die "Kafka already runs on $data (pid $old); stop it with scripts/stop-kafka.sh $old"
	fi
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

heap="${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}"
perf="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true}"
# slf4j-simple logs at WARN, except the line that says the broker serves.
logopts=(-Dorg.slf4j.simpleLogger.defaultLogLevel=warn
	-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info
	-Dorg.slf4j.simpleLogger.showDateTime=true)

pid=""
for try in 1 2 3; do
	port="$(free_port)"
	cport="$(free_port)"
	[[ "$port" != "$cport" ]] || continue
	# The ports are part of the formatted metadata (the controller quorum),
	# so every try starts from an empty log dir.
	rm -rf "$data/data"
	cat >"$props" <<EOF
# Written by Wisp's scripts/start-kafka.sh: one KRaft broker+controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
	cluster_id="$("$java" -cp "$lib/*" "${logopts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
	[[ "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "kafka.tools.StorageTool random-uuid printed '$cluster_id', not a cluster id"
	if ! "$java" -Xmx256m -cp "$lib/*" "${logopts[@]}" kafka.tools.StorageTool format \
		-t "$cluster_id" -c "$props" >>"$log" 2>&1; then
		tail -n 20 "$log" >&2 || true
		die "formatting the storage in $data/data failed; see $log"
	fi
	echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) Kafka $version on 127.0.0.1:$port (controller $cport)" >>"$log"
	skip="$(wc -l <"$log")" # only this start's lines say whether it started
	# The broker outlives this script: nohup, stdin closed, output to the log.
	# shellcheck disable=SC2086
	nohup "$java" $heap $perf "${logopts[@]}" ${KAFKA_OPTS:-} -cp "$lib/*" kafka.Kafka "$props" \
		>>"$log" 2>&1 </dev/null &
	pid=$!
	started=false
	for _ in $(seq 1 1200); do # up to 120 s: the JVM is slow on a busy 2-core machine
		alive "$pid" || break
		if tail -n "+$((skip + 1))" "$log" | grep -q "Kafka Server started" && in_use "$port"; then
			started=true
			break
		fi
		sleep 0.1
	done
	$started && break
	if alive "$pid"; then
		kill -9 "$pid" 2>/dev/null || true
		die "Kafka did not start on 127.0.0.1:$port within 120s; see $log"
	fi
	echo "start-kafka: Kafka exited during start-up (try $try); log: $log" >&2
	pid=""
done
[[ -n "$pid" ]] || { tail -n 20 "$log" >&2 || true; die "Kafka would not start; see $log"; }

echo "$pid" >"$pidfile"
echo "start-kafka: Kafka $version pid $pid on 127.0.0.1:$port, data $data" >&2
printf 'export KAFKA_BOOTSTRAP=%q\n' "127.0.0.1:$port"
printf 'export KAFKA_PID=%q\n' "$pid"
printf 'export KAFKA_DATA=%q\n' "$data"
printf 'export KAFKA_VERSION=%q\n' "$version"
