#!/usr/bin/env bash
# Installs Apache Kafka's broker and tools (Maven Central) into ${FLOE_CACHE:-~/.cache/floe}/kafka/libs.
# Idempotent: re-runs only when pom.xml changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${FLOE_CACHE:-$HOME/.cache/floe}"
libs="$cache/kafka/libs"
want="$(sha256sum "$here/pom.xml" | cut -c1-16)"
if [ -f "$libs/.stamp" ] && [ "$(cat "$libs/.stamp")" = "$want" ]; then exit 0; fi
command -v mvn >/dev/null || { echo "mvn is required to fetch Apache Kafka" >&2; exit 1; }
echo "installing Apache Kafka (broker and tools) into $libs"
rm -rf "$libs"
mvn -q -B -f "$here/pom.xml" -Dmaven.repo.local="$cache/m2" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs"
echo "$want" > "$libs/.stamp"
