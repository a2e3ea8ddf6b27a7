#!/usr/bin/env bash
# start-minio.sh starts a MinIO server for local runs on free loopback ports,
# creates the bucket and prints the settings as export lines:
#
#   eval "$(scripts/start-minio.sh [DATA_DIR])"
#   ... use s3://$WISP_S3_BUCKET?endpoint=$WISP_S3_ENDPOINT&secure=false ...
#   scripts/stop-minio.sh
#
# DATA_DIR (default: a new temp dir) holds the drive (DATA_DIR/data), the
# server log (DATA_DIR/minio.log) and its pid (DATA_DIR/minio.pid); reusing it
# keeps the objects. Credentials are
# WISP_S3_ACCESS_KEY/WISP_S3_SECRET_KEY if set, else minioadmin/minioadmin; the
# bucket is WISP_S3_BUCKET, else wisp. The binary is WISP_MINIO_BIN, else the
# one scripts/install-minio.sh caches, else minio on PATH. Only the export
# lines go to stdout; progress and errors go to stderr.
set -euo pipefail

version="v0.0.0-20260212201848-7aac2a2c5b7c" # keep in step with install-minio.sh
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "start-minio: $*" >&2; exit 1; }

bin="${WISP_MINIO_BIN:-}"
if [[ -z "$bin" ]]; then
	cached="${WISP_CACHE_DIR:-$HOME/.cache/wisp}/minio/$version/minio"
	if [[ -x "$cached" ]]; then
		bin="$cached"
	elif command -v minio >/dev/null 2>&1; then
		bin="$(command -v minio)"
	else
		die "MinIO not installed: run scripts/install-minio.sh"
	fi
fi
[[ -x "$bin" ]] || die "MinIO binary $bin is not executable"
command -v go >/dev/null 2>&1 || die "go not found on PATH (needed to create the bucket)"

data="${1:-}"
if [[ -z "$data" ]]; then
	data="$(mktemp -d "${TMPDIR:-/tmp}/wisp-minio.XXXXXX")"
else
	mkdir -p "$data" || die "cannot create data dir $data"
fi
data="$(cd "$data" && pwd)"
access="${WISP_S3_ACCESS_KEY:-minioadmin}"
secret="${WISP_S3_SECRET_KEY:-minioadmin}"
bucket="${WISP_S3_BUCKET:-wisp}"
log="$data/minio.log"
pidfile="$data/minio.pid"

# Two servers on one drive would corrupt it: refuse if the last one still runs.
if [[ -r "$pidfile" ]]; then
	old="$(cat "$pidfile")"
	if [[ "$old" =~ ^[0-9]+$ ]] && kill -0 "$old" 2>/dev/null &&
		[[ "$(cut -d' ' -f3 "/proc/$old/stat" 2>/dev/null)" != "Z" ]] &&
		tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null | grep -q minio; then
		die "MinIO already runs on $data (pid $old); stop it with scripts/stop-minio.sh $old"
	fi
fi

# in_use PORT: true if something accepts connections on 127.0.0.1:PORT.
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

# ready PORT: true once MinIO answers its cluster health probe with 200. The
# liveness probe (/minio/health/live) answers as soon as the listener is up,
# while S3 requests still fail with XMinioServerNotInitialized for a moment.
ready() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1"
		printf 'GET /minio/health/cluster HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
		read -r -t 2 status <&3
		[[ "$status" == *" 200 "* ]]
	) 2>/dev/null
}

pid=""
for try in 1 2 3; do
	port="$(free_port)"
	cport="$(free_port)"
	[[ "$port" != "$cport" ]] || continue
	# MinIO must outlive this script: nohup, stdin closed, output to the log.
	MINIO_ROOT_USER="$access" MINIO_ROOT_PASSWORD="$secret" MINIO_UPDATE=off \
		nohup "$bin" server --quiet \
		--address "127.0.0.1:$port" --console-address "127.0.0.1:$cport" \
		--certs-dir "$data/certs" "$data/data" >>"$log" 2>&1 </dev/null &
	pid=$!
	for _ in $(seq 1 300); do # up to 30 s
		kill -0 "$pid" 2>/dev/null || break
		if ready "$port"; then
			break 2
		fi
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null || true
		die "MinIO did not become ready on 127.0.0.1:$port within 30s; see $log"
	fi
	# It exited: most likely a port taken since we probed it. Try new ports.
	echo "start-minio: MinIO exited during start-up (try $try); log: $log" >&2
	pid=""
done
[[ -n "$pid" ]] || { tail -n 20 "$log" >&2 || true; die "MinIO would not start; see $log"; }

if ! (cd "$root" && WISP_S3_ACCESS_KEY="$access" WISP_S3_SECRET_KEY="$secret" \
	go run ./scripts/mkbucket -endpoint "127.0.0.1:$port" -bucket "$bucket") >&2; then
	kill "$pid" 2>/dev/null || true
	die "could not create bucket $bucket; MinIO stopped; log: $log"
fi

echo "$pid" >"$pidfile"
echo "start-minio: MinIO pid $pid on 127.0.0.1:$port, bucket $bucket, data $data" >&2
printf 'export WISP_S3_ENDPOINT=%q\n' "127.0.0.1:$port"
printf 'export WISP_S3_ACCESS_KEY=%q\n' "$access"
printf 'export WISP_S3_SECRET_KEY=%q\n' "$secret"
printf 'export WISP_S3_BUCKET=%q\n' "$bucket"
printf 'export WISP_MINIO_PID=%q\n' "$pid"
printf 'export WISP_MINIO_DATA=%q\n' "$data"
printf '# bucket URL: s3://%s?endpoint=127.0.0.1:%s&region=us-east-1&secure=false\n' "$bucket" "$port"
