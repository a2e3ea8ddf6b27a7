#!/usr/bin/env bash
# franzgo_suite.sh runs the franz-go client's own integration tests
# (github.com/twmb/franz-go/pkg/kgo, at the version in go.mod) against a
# `wisp playground` on free loopback ports with a temp data dir, the way the
# franz-go project runs them against a Kafka broker:
#
#   KGO_SEEDS=host:port KGO_TEST_RF=1 KGO_TEST_RECORDS=10000 go test github.com/twmb/franz-go/pkg/kgo
#
# Each top-level test runs in its own process (one compiled test binary), so a
# panic or hang in one cannot hide the results of the others. It prints one
# line per test, failed subtests, and a summary, and exits non-zero if a test
# failed that is not listed in OUT_OF_SCOPE below.
#
# Environment:
#   KGO_RUN           regexp of tests to run (default: all)
#   KGO_TEST_TIMEOUT  per-test timeout (default 5m; 1m for OUT_OF_SCOPE tests,
#                     which tend to hang until it)
#   KGO_LOG_LEVEL     franz-go's test log level: info (default), debug, none
#   FLUSH_INTERVAL    the playground's --flush-interval (default 20ms: some kgo
#                     tests produce 20,000 records one small batch at a time,
#                     so they are bound by produce latency, which is about
#                     one flush interval; the 250ms default makes them run
#                     for many minutes)
#   WISP_KGO_LOGS     where per-test logs go (default: a temp dir, printed)
#   GO                the go command (default: go)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
go="${GO:-go}"

# Tests that need a feature outside consumer groups and the Kafka tools, with
# the reason. They run and are reported, but do not fail the script.
declare -A OUT_OF_SCOPE=(
	[TestConsumeRegex]="expects an internal __consumer_offsets topic in Metadata; Wisp keeps offsets in Raft"
	[Test848RegexBrokerResolves]="expects an internal __consumer_offsets topic in Metadata; Wisp keeps offsets in Raft"
)

run_re="${KGO_RUN:-.}"
per_test_timeout="${KGO_TEST_TIMEOUT:-5m}"
work="$(mktemp -d "${TMPDIR:-/tmp}/wisp-kgo-suite.XXXXXX")"
logs="${WISP_KGO_LOGS:-$work/logs}"
mkdir -p "$logs"

pg_pid=""
cleanup() {
	if [[ -n "$pg_pid" ]] && kill -0 "$pg_pid" 2>/dev/null; then
		kill -INT "$pg_pid" 2>/dev/null || true
		wait "$pg_pid" 2>/dev/null || true
	fi
	rm -rf "$work/data" "$work/bin"
}
trap cleanup EXIT

echo "franzgo-suite: building wisp and the kgo test binary" >&2
mkdir -p "$work/bin"
"$go" build -o "$work/bin/wisp" ./cmd/wisp
"$go" test -c -o "$work/bin/kgo.test" github.com/twmb/franz-go/pkg/kgo
kgo_version="$("$go" list -m -f '{{.Version}}' github.com/twmb/franz-go)"
kgo_dir="$("$go" list -f '{{.Dir}}' github.com/twmb/franz-go/pkg/kgo)"

# start_playground starts `wisp playground` on free ports and sets KGO_SEEDS
# from the address it prints.
start_playground() {
	rm -rf "$work/data"
	: >"$work/playground.out"
	"$work/bin/wisp" playground --data-dir "$work/data" \
		--kafka-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --raft-addr 127.0.0.1:0 \
		--flush-interval "${FLUSH_INTERVAL:-20ms}" \
		>"$work/playground.out" 2>"$logs/playground.log" &
	pg_pid=$!
	local addr=""
	for _ in $(seq 300); do
		addr="$(sed -n 's/.*Kafka: \([^ ]*\) .*/\1/p' "$work/playground.out" | head -1)"
		[[ -n "$addr" ]] && break
		kill -0 "$pg_pid" 2>/dev/null || { cat "$logs/playground.log" >&2; echo "franzgo-suite: playground exited" >&2; exit 1; }
		sleep 0.1
	done
	[[ -n "$addr" ]] || { echo "franzgo-suite: playground printed no Kafka address in 30s" >&2; exit 1; }
	export KGO_SEEDS="$addr"
	echo "franzgo-suite: wisp playground (pid $pg_pid) on $KGO_SEEDS" >&2
}

start_playground
export KGO_TEST_RF=1 KGO_TEST_RECORDS="${KGO_TEST_RECORDS:-10000}" KGO_LOG_LEVEL="${KGO_LOG_LEVEL:-info}"

mapfile -t tests < <("$work/bin/kgo.test" -test.list "$run_re" | grep -E '^(Test|Example|Fuzz)' || true)
echo "franzgo-suite: franz-go $kgo_version, ${#tests[@]} tests; logs in $logs" >&2

# seconds turns a duration like 90s, 5m or 1h into seconds.
seconds() {
	case "$1" in
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

declare -a passed=() failed=() skipped=() excused=()
for t in "${tests[@]}"; do
	log="$logs/$t.log"
	limit="$per_test_timeout"
	[[ -n "${OUT_OF_SCOPE[$t]:-}" ]] && limit=1m
	start=$SECONDS
	set +e
	# The kgo tests read nothing from their dir, but run them there anyway,
	# as go test would.
	# The test binary's own timeout prints every goroutine; timeout(1) is
	# the backstop for a binary that hangs even then.
	(cd "$kgo_dir" && timeout --kill-after=10s "$(($(seconds "$limit") + 30))s" "$work/bin/kgo.test" \
		-test.run "^${t}\$" -test.count=1 -test.v -test.timeout "$limit") >"$log" 2>&1
	rc=$?
	set -e
	took=$((SECONDS - start))
	if grep -qE "^--- PASS: ${t} " "$log" && [[ $rc -eq 0 ]]; then
		status=PASS
		passed+=("$t")
	elif grep -qE "^--- SKIP: ${t} " "$log" && [[ $rc -eq 0 ]]; then
		status=SKIP
		skipped+=("$t")
	else
		status=FAIL
		{ [[ $rc -eq 124 || $rc -eq 137 ]] || grep -q '^panic: test timed out' "$log"; } && status="FAIL (timeout after $limit)"
		grep '^panic: ' "$log" | grep -qv 'test timed out' && status="FAIL (panic)"
		if [[ -n "${OUT_OF_SCOPE[$t]:-}" ]]; then
			excused+=("$t")
			status="$status, out of scope: ${OUT_OF_SCOPE[$t]}"
		else
			failed+=("$t")
		fi
	fi
	printf '%-55s %-5s %4ss\n' "$t" "$status" "$took"
	if [[ $status == FAIL* ]]; then
		grep -E '^\s+--- FAIL: ' "$log" | sed 's/^/    /' || true
		grep -m3 -E '^\s+\S+_test\.go:[0-9]+: ' "$log" | cut -c1-200 | sed 's/^/    /' || true
	fi
	if ! kill -0 "$pg_pid" 2>/dev/null; then
		echo "franzgo-suite: the playground died during $t; see $logs/playground.log; restarting it" >&2
		failed+=("(playground crashed during $t)")
		start_playground
	fi
done

echo
echo "franz-go $kgo_version kgo suite against Wisp:"
[[ ${#excused[@]} -gt 0 ]] && for t in "${excused[@]}"; do echo "  out of scope: $t: ${OUT_OF_SCOPE[$t]}"; done
[[ ${#failed[@]} -gt 0 ]] && for t in "${failed[@]}"; do echo "  FAILED: $t (log: $logs/$t.log)"; done
echo "${#passed[@]} passed, $((${#failed[@]} + ${#excused[@]})) failed, ${#skipped[@]} skipped"
[[ ${#failed[@]} -eq 0 ]]
