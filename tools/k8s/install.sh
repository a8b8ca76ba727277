#!/usr/bin/env bash
# Builds etcd and kube-apiserver from the Go module proxy into ${FLOE_CACHE:-~/.cache/floe}/bin,
# for the operator's tests against a real API server. Idempotent: rebuilds only when the
# pinned versions (go.mod/go.sum/main.go) change. First build takes several minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${FLOE_CACHE:-$HOME/.cache/floe}"
mkdir -p "$cache/bin"
# One build at a time (parallel test files and install scripts may all ask): the others wait, then find it built.
exec 9>"$cache/bin/k8s.lock"
flock 9
command -v go >/dev/null || { echo "go is required to build etcd and kube-apiserver" >&2; exit 1; }
for tool in etcd apiserver; do
  out="$cache/bin/floe-$tool"
  want="$(cat "$here/$tool/go.mod" "$here/$tool/go.sum" "$here/$tool/main.go" | sha256sum | cut -c1-16)"
  if [ -x "$out" ] && [ -f "$out.stamp" ] && [ "$(cat "$out.stamp")" = "$want" ]; then continue; fi
  echo "building $tool into $out (first time: several minutes)"
  (cd "$here/$tool" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags="-s -w" -o "$out.tmp" . && mv "$out.tmp" "$out")
  echo "$want" > "$out.stamp"
done
