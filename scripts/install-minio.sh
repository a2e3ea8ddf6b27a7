#!/usr/bin/env bash
# install-minio.sh builds the MinIO server that Wisp's S3 tests and
# scripts/start-minio.sh run, from source with `go install`, into
#
#   ${WISP_CACHE_DIR:-$HOME/.cache/wisp}/minio/<version>/minio
#
# It is idempotent: a binary already there is reused without building. The
# only line on stdout is the binary's path, so
#   WISP_MINIO_BIN="$(scripts/install-minio.sh)"
# works; progress and errors go to stderr. A cold build takes about 7 minutes
# on 2 cores. Needs go on PATH (and the module proxy, unless the module cache
# already holds MinIO's sources).
set -euo pipefail

# Keep in step with objstore/miniotest.Version.
version="v0.0.0-20260212201848-7aac2a2c5b7c"

die() { echo "install-minio: $*" >&2; exit 1; }

dir="${WISP_CACHE_DIR:-$HOME/.cache/wisp}/minio/$version"
bin="$dir/minio"

if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi
[[ -e "$bin" ]] && die "$bin exists but is not executable; remove it and run again"

command -v go >/dev/null 2>&1 || die "go not found on PATH: MinIO is built from source with go install"
mkdir -p "$dir" || die "cannot create $dir"
# Build beside the destination and rename into place, so an interrupted or
# concurrent install never leaves a half-written binary behind.
tmp="$(mktemp -d "$dir/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "install-minio: building github.com/minio/minio@$version into $dir (takes minutes)" >&2
start=$SECONDS
# Run outside any module and without the caller's GOFLAGS or workspace, which
# could otherwise change how the pinned version is resolved.
if ! (cd "$tmp" && GOBIN="$tmp" GOFLAGS= GOWORK=off go install "github.com/minio/minio@$version") >&2; then
	die "go install github.com/minio/minio@$version failed (see above)"
fi
[[ -x "$tmp/minio" ]] || die "go install finished but $tmp/minio is missing"
mv -f "$tmp/minio" "$bin"
echo "install-minio: built in $((SECONDS - start))s" >&2
echo "$bin"
