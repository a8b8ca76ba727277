"""Command-line Kafka client on librdkafka (the confluent-kafka wheel), for Floe's
compatibility tests. Producer and consumer keep librdkafka's default settings (acks=all,
consistent_random partitioner, auto-commit on); only what a test must name is set.
Same interface as every client in tools/clients:

  produce      --bootstrap H:P --topic T --count N [--start S] [--partitions-hint P]
  consume      --bootstrap H:P --topic T --group G --count N [--timeout-ms X]
  create-topic --bootstrap H:P --topic T --partitions P

Transactions (consume also takes --isolation read_committed|read_uncommitted):
  txn-produce  --bootstrap H:P --topic T --transactional-id ID --count N [--start S]
               [--txn-size K] [--abort-every M]   records in transactions of K, every M-th
               aborted; only committed records are printed, after their commit
  zombie       --bootstrap H:P --topic T --transactional-id ID   an old instance must be fenced

stdout: one JSON line per acknowledged or consumed record {"p","o","k","v"}, then a summary
line {"done":true,...}. Record i has key "k-i" and value "v-i". Diagnostics go to stderr.
Exit code 0 only if every record was acknowledged (produce) or the command succeeded.

Security (every command): --security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL,
--sasl-mechanism SCRAM-SHA-256|SCRAM-SHA-512|PLAIN, --username U --password P,
--ca-file F (trusted CAs), --cert-file F --key-file F (client certificate).
Exit codes: 0 success, 1 other failure, 2 usage, 3 authentication failed (SASL or TLS),
4 authorization failed (an ACL said no).
"""

import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


EXIT_AUTHENTICATION = 3
EXIT_AUTHORIZATION = 4
AUTHORIZATION_CODES = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
}

# Settings shared by every client the command makes: bootstrap and security.
BASE = {}
# librdkafka reports failed logins and handshakes through error_cb and keeps retrying;
# they are collected here so a command can stop at the first one.
AUTH_ERRORS = []


def on_error(err):
    if err.code() == KafkaError._AUTHENTICATION or err.code() == KafkaError._SSL or "SSL handshake failed" in err.str():
        AUTH_ERRORS.append(err)
    else:
        print(f"librdkafka: {err}", file=sys.stderr)


def settings(**extra):
    return {**BASE, "error_cb": on_error, **extra}


def exit_code_of(err):
    if err.code() in AUTHORIZATION_CODES:
        return EXIT_AUTHORIZATION
    if err.code() == KafkaError._AUTHENTICATION or err.code() == KafkaError._SSL:
        return EXIT_AUTHENTICATION
    return 1


def out(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")


def text(b):
    return None if b is None else b.decode("utf-8")


def create(bootstrap, topic, partitions, exist_ok):
    admin = AdminClient(settings(**{"client.id": "floe-librdkafka-admin"}))
    for fut in admin.create_topics([NewTopic(topic, num_partitions=partitions)], operation_timeout=30).values():
        try:
            fut.result(60)
        except KafkaException as e:
            if not (exist_ok and e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise


def produce(a):
    if a.partitions_hint is not None:
        create(a.bootstrap, a.topic, a.partitions_hint, exist_ok=True)
    producer = Producer(settings(**{"client.id": "floe-librdkafka-producer"}))
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
    deadline = time.monotonic() + 120
    undelivered = len(producer)
    while undelivered and not AUTH_ERRORS and time.monotonic() < deadline:
        undelivered = producer.flush(0.5)
    out({"done": True, "acked": acked, "failed": len(errors) + undelivered})
    if AUTH_ERRORS:
        print(f"produce: authentication failed: {AUTH_ERRORS[0]}", file=sys.stderr)
        return EXIT_AUTHENTICATION
    if any(e.code() in AUTHORIZATION_CODES for e in errors):
        print(f"produce: authorization failed: {next(e for e in errors if e.code() in AUTHORIZATION_CODES)}", file=sys.stderr)
        return EXIT_AUTHORIZATION
    if errors or undelivered:
        print(f"produce: {len(errors)} failed, {undelivered} still queued; first error: {errors[:1]}", file=sys.stderr)
        return 1
    return 0


def consume(a):
    consumer = Consumer(
        settings(**{
            "group.id": a.group,
            "client.id": "floe-librdkafka-consumer",
            # A new group reads the topic from its start; an existing group resumes from its commits.
            "auto.offset.reset": "earliest",
            **({"isolation.level": a.isolation} if a.isolation else {}),
        })
    )
    consumer.subscribe([a.topic])
    deadline = time.monotonic() + a.timeout_ms / 1000
    seen = 0
    try:
        while seen < a.count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if AUTH_ERRORS:
                print(f"consume: authentication failed: {AUTH_ERRORS[0]}", file=sys.stderr)
                return EXIT_AUTHENTICATION
            if msg is None:
                continue
            if msg.error() and msg.error().code() in AUTHORIZATION_CODES:
                print(f"consume: authorization failed: {msg.error()}", file=sys.stderr)
                return EXIT_AUTHORIZATION
            if msg.error():
                print(f"consume: {msg.error()}", file=sys.stderr)
                continue
            out({"p": msg.partition(), "o": msg.offset(), "k": text(msg.key()), "v": text(msg.value())})
            seen += 1
        if seen:
            # Offsets of every message poll() returned are stored (enable.auto.offset.store);
            # commit them synchronously so they are durable before exit.
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as e:
                # _NO_OFFSET: the auto-commit already committed everything printed.
                if e.args[0].code() != KafkaError._NO_OFFSET:
                    raise
    finally:
        consumer.close()
    out({"done": True, "consumed": seen})
    return 0


def txn_producer(transactional_id, client_id):
    return Producer(settings(**{"client.id": client_id, "transactional.id": transactional_id}))


def txn_produce(a):
    producer = txn_producer(a.transactional_id, "floe-librdkafka-txn-producer")
    producer.init_transactions(60)
    committed = aborted = 0
    i, t = a.start, 0
    while i < a.start + a.count:
        producer.begin_transaction()
        delivered = []

        def on_delivery(err, msg):
            if err is not None:
                raise KafkaException(err)
            delivered.append(msg)

        ids = list(range(i, min(i + a.txn_size, a.start + a.count)))
        for n in ids:
            producer.produce(a.topic, key=f"k-{n}", value=f"v-{n}", on_delivery=on_delivery)
        i += len(ids)
        t += 1
        if a.abort_every and t % a.abort_every == 0:
            producer.flush(60)
            producer.abort_transaction(60)
            aborted += len(ids)
            continue
        # commit_transaction flushes first: every delivery report has been served when it returns.
        producer.commit_transaction(60)
        for msg in delivered:
            out({"p": msg.partition(), "o": msg.offset(), "k": text(msg.key()), "v": text(msg.value())})
        committed += len(ids)
    out({"done": True, "committed": committed, "aborted": aborted})
    return 0


def zombie(a):
    """Instance A writes in an open transaction; instance B with the same id starts (fencing A)
    and commits one record; A's commit must then fail as fenced. Prints B's record."""
    old = txn_producer(a.transactional_id, "floe-librdkafka-zombie")
    old.init_transactions(60)
    old.begin_transaction()
    old.produce(a.topic, key="k-zombie", value="v-zombie")
    old.flush(60)
    new = txn_producer(a.transactional_id, "floe-librdkafka-fresh")
    new.init_transactions(60)
    new.begin_transaction()
    got = []
    new.produce(a.topic, key="k-0", value="v-0", on_delivery=lambda err, msg: got.append(msg))
    new.commit_transaction(60)
    for msg in got:
        out({"p": msg.partition(), "o": msg.offset(), "k": text(msg.key()), "v": text(msg.value())})
    fenced, error = False, "none"
    try:
        old.produce(a.topic, key="k-zombie2", value="v-zombie2")
        old.commit_transaction(30)
    except KafkaException as e:
        err = e.args[0]
        error = err.name()
        fenced = err.fatal() and err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)
        print(f"zombie: old instance refused: {err}", file=sys.stderr)
    out({"done": True, "fenced": fenced, "error": error})
    return 0 if fenced else 1


def create_topic(a):
    create(a.bootstrap, a.topic, a.partitions, exist_ok=False)
    out({"done": True})
    return 0


def main():
    p = argparse.ArgumentParser(prog="floe_client.py")
    p.add_argument("command", choices=["produce", "consume", "create-topic", "txn-produce", "zombie"])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--partitions-hint", type=int, default=None)
    p.add_argument("--group")
    p.add_argument("--timeout-ms", type=int, default=60000)
    p.add_argument("--partitions", type=int)
    p.add_argument("--isolation", choices=["read_committed", "read_uncommitted"])
    p.add_argument("--transactional-id")
    p.add_argument("--txn-size", type=int, default=10)
    p.add_argument("--abort-every", type=int, default=0)
    p.add_argument("--security-protocol", choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"], default="PLAINTEXT")
    p.add_argument("--sasl-mechanism", choices=["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"], default="SCRAM-SHA-512")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--ca-file")
    p.add_argument("--cert-file")
    p.add_argument("--key-file")
    a = p.parse_args()
    BASE["bootstrap.servers"] = a.bootstrap
    BASE["security.protocol"] = a.security_protocol
    if a.security_protocol.startswith("SASL"):
        if not a.username or a.password is None:
            p.error(f"{a.security_protocol} needs --username and --password")
        BASE.update({"sasl.mechanisms": a.sasl_mechanism, "sasl.username": a.username, "sasl.password": a.password})
    for flag, key in (("ca_file", "ssl.ca.location"), ("cert_file", "ssl.certificate.location"), ("key_file", "ssl.key.location")):
        if getattr(a, flag):
            BASE[key] = getattr(a, flag)
    if a.command == "consume" and not a.group:
        p.error("consume needs --group")
    if a.command == "create-topic" and not a.partitions:
        p.error("create-topic needs --partitions")
    try:
        if a.command in ("txn-produce", "zombie") and not a.transactional_id:
            p.error(f"{a.command} needs --transactional-id")
        return {"produce": produce, "consume": consume, "create-topic": create_topic, "txn-produce": txn_produce, "zombie": zombie}[a.command](a)
    except KafkaException as e:
        print(f"{a.command}: {e}", file=sys.stderr)
        if AUTH_ERRORS:
            return EXIT_AUTHENTICATION
        return exit_code_of(e.args[0]) if isinstance(e.args[0], KafkaError) else 1
    finally:
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
