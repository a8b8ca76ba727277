#!/usr/bin/env bash
# Builds the MinIO server used by the S3 tests from source through the Go module proxy
# (no prebuilt binaries are downloaded from anywhere) into ${FLOE_CACHE:-$HOME/.cache/floe}/bin/minio.
# Idempotent: a stamp file records the pinned version; a second run with the same pin is a no-op.
#
# The pin is a pseudo-version because MinIO tags releases as RELEASE.<date> (not semver) and the
# module proxy here only serves commit pseudo-versions for it. Bump MINIO_VERSION to move.
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE="${FLOE_CACHE:-$HOME/.cache/floe}"
BIN_DIR="$CACHE/bin"
BIN="$BIN_DIR/minio"
STAMP="$BIN_DIR/minio.stamp"

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$MINIO_VERSION" ]]; then
  echo "minio $MINIO_VERSION already at $BIN"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "tools/minio/install.sh: go is required to build minio" >&2
  exit 1
fi

mkdir -p "$BIN_DIR"
# One build at a time (parallel test files may all ask for it): the others wait, then find it built.
exec 9>"$BIN_DIR/minio.lock"
flock 9
if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$MINIO_VERSION" ]]; then
  echo "minio $MINIO_VERSION already at $BIN"
  exit 0
fi
start=$(date +%s)
echo "building minio $MINIO_VERSION with $(go version) (takes several minutes the first time)..."
# GOTOOLCHAIN=local: build with the installed Go rather than fetching the toolchain go.mod names.
# GOFLAGS=-buildvcs=false: the module cache has no VCS data.
tmp_bin=$(mktemp -d)
trap 'rm -rf "$tmp_bin"' EXIT
GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN="$tmp_bin" \
  nice -n 10 go install -trimpath "github.com/minio/minio@$MINIO_VERSION"
mv -f "$tmp_bin/minio" "$BIN"
echo "$MINIO_VERSION" >"$STAMP"
echo "built $BIN in $(($(date +%s) - start))s"
