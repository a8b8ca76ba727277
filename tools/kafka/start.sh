#!/usr/bin/env bash
# Runs a single-node Apache Kafka (KRaft, broker and controller in one process) on loopback,
# for side-by-side benchmarks. Foreground; stop it with SIGTERM.
#   tools/kafka/start.sh PORT DATA_DIR [HEAP]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${FLOE_CACHE:-$HOME/.cache/floe}"
port="$1"; data="$2"; heap="${3:-1G}"
controller_port=$((port + 1))
bash "$here/install.sh"
mkdir -p "$data"
cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${data}/logs
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
cat > "$data/log4j2.properties" <<'PROPS'
rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=STDERR
appender.stderr.type=Console
appender.stderr.name=STDERR
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=[%d] %p %m (%c)%n
PROPS
cp="$cache/kafka/libs/*"
if [ ! -f "$data/logs/meta.properties" ]; then
  java -cp "$cp" -Dlog4j2.configurationFile="$data/log4j2.properties" kafka.tools.StorageTool format -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid)" -c "$data/server.properties" >/dev/null
fi
exec java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -Dlog4j2.configurationFile="$data/log4j2.properties" -cp "$cp" kafka.Kafka "$data/server.properties"
