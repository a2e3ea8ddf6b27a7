#!/usr/bin/env bash
# install-kafka-tools.sh fetches the Apache Kafka command-line tools and clients
# from Maven Central (artifacts named in scripts/kafka-tools/pom.xml) into a
# cache dir and writes wrappers for them:
#
#   ${WISP_CACHE_DIR:-$HOME/.cache/wisp}/kafka-tools/<version>/lib/*.jar
#   ${WISP_CACHE_DIR:-$HOME/.cache/wisp}/kafka-tools/<version>/bin/kafka-*
#   ${WISP_CACHE_DIR:-$HOME/.cache/wisp}/kafka-tools/current -> <version>
#
# It is idempotent: a cache made from the same pom.xml is reused without
# touching the network. The only line on stdout is the bin dir, so
#   PATH="$(scripts/install-kafka-tools.sh):$PATH"
# works; progress and errors go to stderr.
#
# Needs java (17+) and mvn on PATH. KAFKA_VERSION overrides the pinned version
# (the wrappers assume kafka.admin.ConfigCommand, which kafka_2.13 has up to 4.2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/kafka-tools/pom.xml"

die() { echo "install-kafka-tools: $*" >&2; exit 1; }

command -v "${JAVA_HOME:+$JAVA_HOME/bin/}java" >/dev/null 2>&1 || die "java not found (JAVA_HOME or PATH): install a JDK 17 or newer"
command -v mvn >/dev/null 2>&1 || die "mvn not found on PATH: install Maven 3.8 or newer"
[[ -f "$pom" ]] || die "missing $pom"

pinned="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
[[ -n "$pinned" ]] || die "no <kafka.version> in $pom"
version="${KAFKA_VERSION:-$pinned}"

cache="${WISP_CACHE_DIR:-$HOME/.cache/wisp}/kafka-tools"
dest="$cache/$version"
# The stamp ties the cache to the exact pom and version it was made from, so
# editing the pom (a new dependency, a new pin) reinstalls.
stamp="$( (cat "$pom"; echo "$version"; cat "${BASH_SOURCE[0]}") | sha256sum | cut -d' ' -f1)"

if [[ -f "$dest/.stamp" && "$(cat "$dest/.stamp")" == "$stamp" ]]; then
	ln -sfn "$version" "$cache/current"
	echo "$dest/bin"
	exit 0
fi

mkdir -p "$cache"
# Build in a temp dir beside the destination and rename it into place, so an
# interrupted or concurrent install never leaves a half-filled cache behind.
tmp="$(mktemp -d "$cache/.install-$version.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

echo "install-kafka-tools: fetching Apache Kafka $version tools from Maven Central into $dest" >&2
start=$SECONDS
if ! mvn -B -q -f "$pom" -Dkafka.version="$version" \
	dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1; then
	cat "$tmp/mvn.log" >&2
	die "mvn dependency:copy-dependencies failed for Kafka $version (is Maven Central reachable?)"
fi
ls "$tmp/lib"/kafka-tools-"$version".jar >/dev/null 2>&1 || die "kafka-tools-$version.jar was not fetched"
ls "$tmp/lib"/kafka_2.13-"$version".jar >/dev/null 2>&1 || die "kafka_2.13-$version.jar was not fetched"
rm -f "$tmp/mvn.log"

mkdir -p "$tmp/bin"
# wrapper NAME MAIN-CLASS writes bin/NAME. KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS
# and KAFKA_OPTS mean what they mean for Kafka's own bin/ scripts; the heap is
# small by default because these tools run beside tests on small machines.
wrapper() {
	cat >"$tmp/bin/$1" <<EOF
#!/usr/bin/env bash
# $1: Apache Kafka $version $2, written by Wisp's scripts/install-kafka-tools.sh.
set -euo pipefail
root="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)"
exec "\${JAVA_HOME:+\$JAVA_HOME/bin/}java" \${KAFKA_HEAP_OPTS:--Xmx256m} \\
	\${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError} \\
	-Dorg.slf4j.simpleLogger.defaultLogLevel=\${KAFKA_LOG_LEVEL:-warn} \\
	-Dorg.slf4j.simpleLogger.logFile=System.err \\
	-Dlog4j2.level=\${KAFKA_LOG_LEVEL:-warn} \\
	\${KAFKA_OPTS:-} \\
	-cp "\$root/lib/*" $2 "\$@"
EOF
	chmod +x "$tmp/bin/$1"
}
wrapper kafka-console-producer org.apache.kafka.tools.ConsoleProducer
wrapper kafka-console-consumer org.apache.kafka.tools.consumer.ConsoleConsumer
wrapper kafka-topics org.apache.kafka.tools.TopicCommand
wrapper kafka-consumer-groups org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
wrapper kafka-configs kafka.admin.ConfigCommand
wrapper kafka-producer-perf-test org.apache.kafka.tools.ProducerPerformance
wrapper kafka-consumer-perf-test org.apache.kafka.tools.ConsumerPerformance

echo "$stamp" >"$tmp/.stamp"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
ln -sfn "$version" "$cache/current"
echo "install-kafka-tools: done in $((SECONDS - start))s" >&2
echo "$dest/bin"
