import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { startTestBroker, type TestBroker } from "./broker-fixture.js";

/** kafkajs against an in-process broker: topics, ordering per partition, groups, restart. */
let broker: TestBroker;
let kafka: Kafka;
let admin: Admin;

beforeAll(async () => {
  broker = await startTestBroker();
  kafka = new Kafka({ clientId: "floe-test", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } });
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await admin?.disconnect();
  await broker?.close();
});

async function consumeAll(topic: string, groupId: string, expected: number, timeoutMs = 20_000) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen: { partition: number; offset: bigint; key: string; value: string }[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${seen.length}/${expected} records`)), timeoutMs);
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({ partition, offset: BigInt(message.offset), key: message.key!.toString(), value: message.value!.toString() });
        if (seen.length >= expected) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.commitOffsets([]); // flush auto-commit
  await consumer.disconnect();
  return seen;
}

describe("kafkajs against Floe", () => {
  it("creates, lists and describes topics", async () => {
    await admin.createTopics({ topics: [{ topic: "orders", numPartitions: 3 }] });
    expect(await admin.listTopics()).toContain("orders");
    const meta = await admin.fetchTopicMetadata({ topics: ["orders"] });
    expect(meta.topics[0]!.partitions).toHaveLength(3);
    await expect(admin.createTopics({ topics: [{ topic: "orders", numPartitions: 3 }], validateOnly: false })).resolves.toBe(false);
  });

  it("returns every record once, in order per partition, across a consumer group and a restart", async () => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const total = 600;
    for (let i = 0; i < total; i += 50) {
      await producer.send({
        topic: "orders",
        messages: Array.from({ length: 50 }, (_, j) => ({ key: `k-${(i + j) % 17}`, value: `v-${i + j}` })),
      });
    }
    await producer.disconnect();

    const seen = await consumeAll("orders", "g1", total);
    expect(new Set(seen.map((r) => r.value)).size).toBe(total);
    for (const p of [0, 1, 2]) {
      const offsets = seen.filter((r) => r.partition === p).map((r) => r.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : 1)));
      expect(offsets[0]).toBe(0n);
      // Same key, same partition, values in send order.
      const values = seen.filter((r) => r.partition === p && r.key === "k-1").map((r) => Number(r.value.slice(2)));
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }

    const committed = await admin.fetchOffsets({ groupId: "g1", topics: ["orders"] });
    const sum = committed[0]!.partitions.reduce((acc, p) => acc + Number(p.offset), 0);
    expect(sum).toBe(total);

    await admin.disconnect();
    await broker.restart();
    await admin.connect();

    const producer2 = kafka.producer();
    await producer2.connect();
    await producer2.send({ topic: "orders", messages: Array.from({ length: 30 }, (_, i) => ({ key: `k-${i}`, value: `after-${i}` })) });
    await producer2.disconnect();
    const resumed = await consumeAll("orders", "g1", 30);
    expect(resumed.map((r) => r.value).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `after-${i}`).sort());
  });

  it("reports offsets by time and the log end", async () => {
    const offsets = await admin.fetchTopicOffsets("orders");
    expect(offsets.reduce((acc, p) => acc + Number(p.high), 0)).toBe(630);
    const byTime = await admin.fetchTopicOffsetsByTimestamp("orders", Date.now() + 60_000);
    expect(byTime.every((p) => Number(p.offset) >= 0)).toBe(true);
  });

  it("deletes topics", async () => {
    await admin.createTopics({ topics: [{ topic: "scratch", numPartitions: 1 }] });
    await admin.deleteTopics({ topics: ["scratch"] });
    expect(await admin.listTopics()).not.toContain("scratch");
  });
});
