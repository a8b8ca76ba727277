#!/usr/bin/env bash
# Installs the real Kafka clients the tests drive, each from its own registry, into
# ${FLOE_CACHE:-~/.cache/floe}. Idempotent: a second run only checks what is there.
#   tools/clients/install.sh [kafkajs|python|java|go|all]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${FLOE_CACHE:-$HOME/.cache/floe}"
mkdir -p "$cache/bin"
what="${1:-all}"

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

install_python() {
  local venv="$cache/venv" want
  want="$(stamp_of "$here/python/requirements.txt")"
  if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$want" ]; then return; fi
  echo "installing librdkafka (confluent-kafka) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/requirements.txt"
  echo "$want" > "$venv/.stamp"
}

install_java() {
  local lib="$cache/java-lib" classes="$cache/java-classes" want
  command -v mvn >/dev/null || { echo "mvn is required for the Java client tests" >&2; exit 1; }
  want="$(stamp_of "$here/java/pom.xml")"
  if ! [ -f "$lib/.stamp" ] || [ "$(cat "$lib/.stamp")" != "$want" ]; then
    echo "installing the Java client (org.apache.kafka:kafka-clients) into $lib"
    rm -rf "$lib"
    mvn -q -B -f "$here/java/pom.xml" -Dmaven.repo.local="$cache/m2" dependency:copy-dependencies -DoutputDirectory="$lib"
    echo "$want" > "$lib/.stamp"
  fi
  want="$(stamp_of "$here/java/src/"*.java "$here/java/pom.xml")"
  if ! [ -f "$classes/.stamp" ] || [ "$(cat "$classes/.stamp")" != "$want" ]; then
    rm -rf "$classes" && mkdir -p "$classes"
    javac -nowarn -d "$classes" -cp "$lib/*" "$here/java/src/"*.java
    echo "$want" > "$classes/.stamp"
  fi
}

install_go() {
  local bin="$cache/bin/floe-franz" want
  command -v go >/dev/null || { echo "go is required for the franz-go tests" >&2; exit 1; }
  want="$(stamp_of "$here/go/"*.go "$here/go/go.mod" "$here/go/go.sum")"
  if [ -x "$bin" ] && [ -f "$bin.stamp" ] && [ "$(cat "$bin.stamp")" = "$want" ]; then return; fi
  echo "building the franz-go client into $bin"
  (cd "$here/go" && GOFLAGS=-mod=mod go build -o "$bin" .)
  echo "$want" > "$bin.stamp"
}

install_kafkajs() {
  # kafkajs is a devDependency: `npm ci` installs it.
  [ -d "$here/../../node_modules/kafkajs" ] || (cd "$here/../.." && npm ci --no-audit --no-fund)
}

case "$what" in
  python) install_python ;;
  java) install_java ;;
  go) install_go ;;
  kafkajs) install_kafkajs ;;
  all) install_kafkajs; install_python; install_java; install_go ;;
  *) echo "usage: $0 [kafkajs|python|java|go|all]" >&2; exit 2 ;;
esac
