#!/usr/bin/env bash
# Installs Apache Kafka's broker and tools from Maven Central into
# ${FLOE_CACHE:-~/.cache/floe}/kafka-<version>/libs (version: pom.xml beside this script).
# Idempotent: a second run only compares a stamp (a hash of pom.xml).
#   tools/kafka/install.sh           install if needed; progress on stderr
#   tools/kafka/install.sh --libs    same, then print the libs folder on stdout
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${FLOE_CACHE:-$HOME/.cache/floe}"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
[ -n "$version" ] || { echo "no <kafka.version> in $here/pom.xml" >&2; exit 1; }
home="$cache/kafka-$version"
libs="$home/libs"
want="$(sha256sum "$here/pom.xml" | cut -c1-16)"
t0=$(date +%s)

if [ -f "$libs/.stamp" ] && [ "$(cat "$libs/.stamp")" = "$want" ]; then
  echo "kafka $version: cached in $libs ($(( $(date +%s) - t0 ))s)" >&2
else
  command -v mvn >/dev/null || { echo "mvn (Maven) is required to fetch Apache Kafka from Maven Central" >&2; exit 1; }
  command -v java >/dev/null || { echo "java (17+) is required to run Apache Kafka" >&2; exit 1; }
  echo "kafka $version: fetching broker and tools from Maven Central into $libs" >&2
  mkdir -p "$home"
  tmp="$(mktemp -d "$home/libs.tmp.XXXXXX")"
  # Copy into a fresh folder and swap it in, so an interrupted run never leaves a half install.
  if ! mvn -q -B -Dstyle.color=never -f "$here/pom.xml" -Dmaven.repo.local="$cache/m2" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >&2; then
    rm -rf "$tmp"
    echo "kafka $version: mvn dependency:copy-dependencies failed" >&2
    exit 1
  fi
  for jar in "kafka_2.13-$version.jar" "kafka-server-$version.jar" "kafka-raft-$version.jar" "kafka-metadata-$version.jar" "kafka-storage-$version.jar" "kafka-tools-$version.jar"; do
    [ -f "$tmp/$jar" ] || { rm -rf "$tmp"; echo "kafka $version: $jar missing after the copy" >&2; exit 1; }
  done
  echo "$want" > "$tmp/.stamp"
  rm -rf "$libs"
  mv "$tmp" "$libs"
  echo "kafka $version: installed in $(( $(date +%s) - t0 ))s" >&2
fi

if [ "${1:-}" = "--libs" ]; then echo "$libs"; fi
