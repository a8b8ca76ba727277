"""A command-line Kafka client on librdkafka (confluent-kafka), with its default settings,
for Floe's compatibility tests. Same interface as the other clients in tools/clients:

  produce --bootstrap B --topic T --count N [--start S]
  consume --bootstrap B --topic T --group G --count N --timeout-ms X
  create-topic --bootstrap B --topic T --partitions P

One JSON line per acknowledged or consumed record, then a summary line.
"""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def emit(obj):
    print(json.dumps(obj, separators=(",", ":")), flush=True)


def produce(a):
    producer = Producer({"bootstrap.servers": a.bootstrap})
    acked = 0
    failures = []

    def report(err, msg):
        nonlocal acked
        if err is not None:
            failures.append(str(err))
            return
        acked += 1
        emit({"p": msg.partition(), "o": msg.offset(), "k": msg.key().decode(), "v": msg.value().decode()})

    for i in range(a.start, a.start + a.count):
        while True:
            try:
                producer.produce(a.topic, key=f"k-{i}", value=f"v-{i}", on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    if failures or remaining:
        print(f"delivery failures: {failures[:5]} ({len(failures)} total), {remaining} undelivered", file=sys.stderr)
    emit({"done": True, "acked": acked})
    return 0 if not failures and not remaining else 1


def consume(a):
    consumer = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group, "auto.offset.reset": "earliest"})
    consumer.subscribe([a.topic])
    deadline = time.time() + a.timeout_ms / 1000
    seen = 0
    try:
        while seen < a.count and time.time() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                print(f"consumer error: {msg.error()}", file=sys.stderr)
                continue
            emit({"p": msg.partition(), "o": msg.offset(), "k": msg.key().decode(), "v": msg.value().decode()})
            seen += 1
        if seen:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    emit({"done": True, "consumed": seen})
    return 0


def create_topic(a):
    admin = AdminClient({"bootstrap.servers": a.bootstrap})
    futures = admin.create_topics([NewTopic(a.topic, num_partitions=a.partitions)])
    for f in futures.values():
        f.result(60)
    emit({"done": True})
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["produce", "consume", "create-topic"])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--group", default="floe-test")
    p.add_argument("--timeout-ms", type=int, default=60000)
    p.add_argument("--partitions", type=int, default=1)
    a = p.parse_args()
    try:
        return {"produce": produce, "consume": consume, "create-topic": create_topic}[a.command](a)
    except KafkaException as e:
        print(f"kafka error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
