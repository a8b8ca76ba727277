#!/usr/bin/env bash
# `npm test`: everything the project proves, from a fresh machine.
# Installs what the tests need (clients, servers) idempotently into ${FLOE_CACHE:-~/.cache/floe}.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLOE_CACHE="${FLOE_CACHE:-$HOME/.cache/floe}"
mkdir -p "$FLOE_CACHE" .cache

[ -d node_modules ] || npm ci --no-audit --no-fund

echo "== typecheck"
npx tsc --noEmit -p tsconfig.json

echo "== real Kafka clients, Apache Kafka's tools, MinIO, moto, etcd, kube-apiserver and helm (built or fetched once, cached in $FLOE_CACHE)"
bash tools/clients/install.sh all
bash tools/kafka/install.sh
bash tools/minio/install.sh
bash tools/moto/install.sh
bash tools/k8s/install.sh
bash tools/helm/install.sh

echo "== tests"
set +e
npx vitest run --reporter=default --reporter=json --outputFile=.cache/vitest-report.json "$@"
status=$?
set -e
# One closing line in the plain form CI reads: "N passed, N failed".
node -e '
  const r = JSON.parse(require("fs").readFileSync(".cache/vitest-report.json", "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' || true
exit $status
