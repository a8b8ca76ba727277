"""Command-line Kafka client on librdkafka (the confluent-kafka wheel), for Floe's
compatibility tests. Producer and consumer keep librdkafka's default settings (acks=all,
consistent_random partitioner, auto-commit on); only what a test must name is set.
Same interface as every client in tools/clients:

  produce      --bootstrap H:P --topic T --count N [--start S] [--partitions-hint P]
  consume      --bootstrap H:P --topic T --group G --count N [--timeout-ms X]
  create-topic --bootstrap H:P --topic T --partitions P

stdout: one JSON line per acknowledged or consumed record {"p","o","k","v"}, then a summary
line {"done":true,...}. Record i has key "k-i" and value "v-i". Diagnostics go to stderr.
Exit code 0 only if every record was acknowledged (produce) or the command succeeded.
"""

import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def out(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")


def text(b):
    return None if b is None else b.decode("utf-8")


def create(bootstrap, topic, partitions, exist_ok):
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "floe-librdkafka-admin"})
    for fut in admin.create_topics([NewTopic(topic, num_partitions=partitions)], operation_timeout=30).values():
        try:
            fut.result(60)
        except KafkaException as e:
            if not (exist_ok and e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise


def produce(a):
    if a.partitions_hint is not None:
        create(a.bootstrap, a.topic, a.partitions_hint, exist_ok=True)
    producer = Producer({"bootstrap.servers": a.bootstrap, "client.id": "floe-librdkafka-producer"})
    acked = 0
    errors = []

    def delivered(err, msg):
        nonlocal acked
        if err is not None:
            errors.append(err)
            return
        acked += 1
        out({"p": msg.partition(), "o": msg.offset(), "k": text(msg.key()), "v": text(msg.value())})

    for i in range(a.start, a.start + a.count):
        while True:
            try:
                producer.produce(a.topic, key=f"k-{i}", value=f"v-{i}", on_delivery=delivered)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                producer.poll(0.05)
        producer.poll(0)
    undelivered = producer.flush(120)
    out({"done": True, "acked": acked, "failed": len(errors) + undelivered})
    if errors or undelivered:
        print(f"produce: {len(errors)} failed, {undelivered} still queued; first error: {errors[:1]}", file=sys.stderr)
        return 1
    return 0


def consume(a):
    consumer = Consumer(
        {
            "bootstrap.servers": a.bootstrap,
            "group.id": a.group,
            "client.id": "floe-librdkafka-consumer",
            # A new group reads the topic from its start; an existing group resumes from its commits.
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([a.topic])
    deadline = time.monotonic() + a.timeout_ms / 1000
    seen = 0
    try:
        while seen < a.count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                print(f"consume: {msg.error()}", file=sys.stderr)
                continue
            out({"p": msg.partition(), "o": msg.offset(), "k": text(msg.key()), "v": text(msg.value())})
            seen += 1
        if seen:
            # Offsets of every message poll() returned are stored (enable.auto.offset.store);
            # commit them synchronously so they are durable before exit.
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    out({"done": True, "consumed": seen})
    return 0


def create_topic(a):
    create(a.bootstrap, a.topic, a.partitions, exist_ok=False)
    out({"done": True})
    return 0


def main():
    p = argparse.ArgumentParser(prog="floe_client.py")
    p.add_argument("command", choices=["produce", "consume", "create-topic"])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--partitions-hint", type=int, default=None)
    p.add_argument("--group")
    p.add_argument("--timeout-ms", type=int, default=60000)
    p.add_argument("--partitions", type=int)
    a = p.parse_args()
    if a.command == "consume" and not a.group:
        p.error("consume needs --group")
    if a.command == "create-topic" and not a.partitions:
        p.error("create-topic needs --partitions")
    try:
        return {"produce": produce, "consume": consume, "create-topic": create_topic}[a.command](a)
    except KafkaException as e:
        print(f"{a.command}: {e}", file=sys.stderr)
        return 1
    finally:
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
