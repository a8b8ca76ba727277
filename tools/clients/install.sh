#!/usr/bin/env bash
# Installs the real Kafka clients the compatibility tests drive, each from its own registry,
# into ${FLOE_CACHE:-~/.cache/floe}. Idempotent: a stamp (hash of what an install depends on)
# makes a second run a few file reads. Progress and timings go to stderr.
#   tools/clients/install.sh [kafkajs|python|java|go|all]
#     kafkajs  node_modules/kafkajs (a devDependency; `npm ci` installs it)
#     python   $FLOE_CACHE/venv with confluent-kafka from PyPI (librdkafka inside the wheel)
#     java     kafka-clients + slf4j-simple from Maven Central into $FLOE_CACHE/java-lib,
#              tools/clients/java/src compiled into $FLOE_CACHE/java-classes
#     go       franz-go program built into $FLOE_CACHE/bin/floe-franz
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${FLOE_CACHE:-$HOME/.cache/floe}"
mkdir -p "$cache/bin"

log() { echo "clients/$*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
fresh() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
need() { command -v "$1" >/dev/null || { log "$2"; exit 1; }; }

install_kafkajs() {
  if [ -f "$repo/node_modules/kafkajs/package.json" ] && [ -d "$repo/node_modules/tsx" ]; then
    log "kafkajs: $(node -p 'require(process.argv[1]).version' "$repo/node_modules/kafkajs/package.json") in node_modules"
    return
  fi
  log "kafkajs: not in node_modules, running npm ci"
  (cd "$repo" && npm ci --no-audit --no-fund >&2)
}

install_python() {
  local venv="$cache/venv" want
  need python3 "python: python3 is required"
  want="$(hash_of "$here/python/requirements.txt")-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if fresh "$venv/.stamp" "$want" && [ -x "$venv/bin/python" ]; then log "python: cached in $venv"; return; fi
  log "python: installing confluent-kafka from PyPI into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: -r "$here/python/requirements.txt" >&2
  "$venv/bin/python" -c 'import confluent_kafka as c; print("python: confluent-kafka %s, librdkafka %s" % (c.__version__, c.libversion()[0]))' >&2
  echo "$want" > "$venv/.stamp"
}

install_java() {
  local lib="$cache/java-lib" classes="$cache/java-classes" want tmp
  need mvn "java: mvn (Maven) is required to fetch kafka-clients from Maven Central"
  need javac "java: javac (JDK 11+) is required to compile tools/clients/java/src"
  want="$(hash_of "$here/java/pom.xml")"
  if fresh "$lib/.stamp" "$want"; then
    log "java: jars cached in $lib"
  else
    log "java: fetching kafka-clients from Maven Central into $lib"
    mkdir -p "$cache"
    tmp="$(mktemp -d "$cache/java-lib.tmp.XXXXXX")"
    if ! mvn -q -B -Dstyle.color=never -f "$here/java/pom.xml" -Dmaven.repo.local="$cache/m2" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >&2; then
      rm -rf "$tmp"; log "java: mvn dependency:copy-dependencies failed"; exit 1
    fi
    echo "$want" > "$tmp/.stamp"
    rm -rf "$lib" && mv "$tmp" "$lib"
  fi
  want="$(hash_of "$here/java/src/"*.java "$lib/.stamp")"
  if fresh "$classes/.stamp" "$want"; then log "java: classes cached in $classes"; return; fi
  log "java: compiling tools/clients/java/src into $classes"
  rm -rf "$classes" && mkdir -p "$classes"
  javac -Xlint:none -d "$classes" -cp "$lib/*" "$here/java/src/"*.java >&2
  echo "$want" > "$classes/.stamp"
}

install_go() {
  local bin="$cache/bin/floe-franz" want
  need go "go: the Go toolchain is required to build the franz-go client"
  want="$(hash_of "$here/go/"*.go "$here/go/go.mod" "$here/go/go.sum")-$(go env GOVERSION)"
  if [ -x "$bin" ] && fresh "$bin.stamp" "$want"; then log "go: cached in $bin"; return; fi
  log "go: building tools/clients/go (franz-go, from the Go module proxy) into $bin"
  # go.sum is committed: -mod=readonly refuses to build anything it does not pin.
  (cd "$here/go" && go build -mod=readonly -o "$bin.tmp" . >&2)
  mv "$bin.tmp" "$bin"
  echo "$want" > "$bin.stamp"
}

timed() {
  local t0=$SECONDS
  "install_$1"
  log "$1: ready ($((SECONDS - t0))s)"
}

case "${1:-all}" in
  kafkajs | python | java | go) timed "$1" ;;
  all) for c in kafkajs python java go; do timed "$c"; done ;;
  *) echo "usage: $0 [kafkajs|python|java|go|all]" >&2; exit 2 ;;
esac
