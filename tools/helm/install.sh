#!/usr/bin/env bash
# Builds helm from the Go module proxy (no prebuilt binaries are downloaded) into
# ${FLOE_CACHE:-$HOME/.cache/floe}/bin/helm, for the chart's lint/template tests.
# Idempotent: a stamp file records the pinned version; a second run with the same pin is a no-op.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${FLOE_CACHE:-$HOME/.cache/floe}"
BIN_DIR="$CACHE/bin"
BIN="$BIN_DIR/helm"
STAMP="$BIN_DIR/helm.stamp"

built() { [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$HELM_VERSION" ]]; }

if built; then
  echo "helm $HELM_VERSION already at $BIN"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "tools/helm/install.sh: go is required to build helm" >&2; exit 1; }

mkdir -p "$BIN_DIR"
# One build at a time (parallel test files may all ask for it): the others wait, then find it built.
exec 9>"$BIN_DIR/helm.lock"
flock 9
if built; then
  echo "helm $HELM_VERSION already at $BIN"
  exit 0
fi
start=$(date +%s)
echo "building helm $HELM_VERSION with $(go version) (a few minutes the first time)..."
# GOTOOLCHAIN=local: build with the installed Go rather than fetching the toolchain go.mod names.
# GOFLAGS=-buildvcs=false: the module cache has no VCS data.
tmp_bin=$(mktemp -d)
trap 'rm -rf "$tmp_bin"' EXIT
GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN="$tmp_bin" \
  nice -n 10 go install -trimpath -ldflags="-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
mv -f "$tmp_bin/helm" "$BIN"
echo "$HELM_VERSION" >"$STAMP"
echo "built $BIN in $(($(date +%s) - start))s"
