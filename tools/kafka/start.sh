#!/usr/bin/env bash
# Runs Apache Kafka (from tools/kafka/install.sh) as one KRaft node, broker and controller in
# one process, on loopback: the reference broker for the client harness and the benchmarks.
# Foreground; the java process replaces this shell (exec), so SIGTERM stops Kafka cleanly.
#   tools/kafka/start.sh PORT DATA_DIR [HEAP]
# The controller listens on $KAFKA_CONTROLLER_PORT (default PORT+1). DATA_DIR keeps the
# config and the logs; starting again on the same DATA_DIR reuses them (a restart).
# KAFKA_EXTRA_PROPERTIES: more server.properties lines (e.g. log.flush.interval.messages=1).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 2 ] || { echo "usage: $0 PORT DATA_DIR [HEAP]" >&2; exit 2; }
port="$1"; data="$2"; heap="${3:-1G}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
libs="$(bash "$here/install.sh" --libs)"
mkdir -p "$data"
data="$(cd "$data" && pwd)"

cat > "$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${data}/logs
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
${KAFKA_EXTRA_PROPERTIES:-}
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

jvm=(-Dlog4j2.configurationFile="$data/log4j2.properties" -cp "$libs/*")
if [ ! -f "$data/logs/meta.properties" ]; then
  cluster_id="$(java "${jvm[@]}" kafka.tools.StorageTool random-uuid)"
  java "${jvm[@]}" kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$data/server.properties" >&2
fi
# C1 only starts faster, which suits the test suites; KAFKA_FULL_JIT=1 (the benchmarks) keeps
# the JVM's default tiered compilation, as a production Kafka runs.
jit=(-XX:TieredStopAtLevel=1)
[ "${KAFKA_FULL_JIT:-0}" = "1" ] && jit=()
exec java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC "${jit[@]}" "${jvm[@]}" kafka.Kafka "$data/server.properties"
