import { randomBytes } from "node:crypto";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMinio, type MinioServer } from "./s3-server.js";
import { TestCluster } from "./cluster-process.js";

/**
 * A multi-broker cluster of real processes sharing one MinIO bucket: partitions spread over
 * brokers, move when one joins or drains, and wait for a SIGKILLed broker to come back
 * (file WAL). An idempotent producer runs throughout; every acknowledged record must be
 * read back exactly once.
 */
let minio: MinioServer;
let cluster: TestCluster;

beforeAll(async () => {
  minio = await startMinio();
}, 10 * 60_000);
afterAll(async () => {
  await cluster?.stopAll();
  await minio?.stop();
});

const TOPIC = "cluster-orders";
const PARTITIONS = 12;

async function leaders(admin: Admin): Promise<Map<number, number>> {
  const md = await admin.fetchTopicMetadata({ topics: [TOPIC] });
  const out = new Map<number, number>();
  for (const p of md.topics[0]!.partitions) out.set(p.partitionId, p.leader);
  return out;
}

function perBroker(l: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const leader of l.values()) out.set(leader, (out.get(leader) ?? 0) + 1);
  return out;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

describe("multi-broker cluster on one bucket", () => {
  it("spreads leaders, scales out and in, survives a SIGKILL, and loses no acknowledged record", async () => {
    cluster = new TestCluster({ minio, prefix: `cluster-${randomBytes(3).toString("hex")}/` });
    await cluster.start(1);
    await cluster.start(2);
    await cluster.start(3);
    const kafka = new Kafka({ clientId: "cluster-test", brokers: () => cluster.bootstrap(), logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] });
    const spread = await waitFor("leaders on three brokers", 15_000, async () => {
      const counts = perBroker(await leaders(admin));
      return counts.size === 3 && [...counts.values()].every((n) => n === 4) ? counts : null;
    });
    expect([...spread.keys()].sort()).toEqual([1, 2, 3]);

    // An idempotent producer keeps sending; every acknowledged value is remembered.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
    await producer.connect();
    const acked: string[] = [];
    let phase = "three brokers";
    const phaseOf = new Map<string, string>();
    const errors: string[] = [];
    let producing = true;
    let n = 0;
    const loop = (async () => {
      while (producing) {
        const values = Array.from({ length: 24 }, () => `v-${n++}`);
        try {
          await producer.send({ topic: TOPIC, acks: -1, messages: values.map((value, i) => ({ partition: i % PARTITIONS, value })) });
          acked.push(...values);
          for (const v of values) phaseOf.set(v, `${phase} at ${new Date().toISOString()}`);
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    })();
    const ackedAfter = async (count: number) => waitFor(`${count} more acknowledged records`, 20_000, async () => (acked.length >= count ? true : null));
    await ackedAfter(200);

    // Scale out: a fourth broker joins and takes its share; nothing is copied.
    phase = "scale-out";
    const joinedAt = Date.now();
    await cluster.start(4);
    let lastCounts = new Map<number, number>();
    await waitFor("leaders balanced over four brokers", 20_000, async () => {
      const counts = (lastCounts = perBroker(await leaders(admin)));
      return counts.size === 4 && [...counts.values()].every((c) => c === 3) ? counts : null;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; last: ${JSON.stringify([...lastCounts])}\n${[1, 2, 3, 4].map((id) => cluster.output(id).split("\n").filter((l) => /warn|error|moved|releas/i.test(l)).slice(-15).join("\n")).join("\n---\n")}`);
    });
    const balancedMs = Date.now() - joinedAt;
    await ackedAfter(acked.length + 200);

    // Scale in: broker 2 drains (its partitions move away), then exits.
    phase = "drain";
    const drained = await cluster.drainAndStop(2);
    expect(drained.status).toBe(200);
    expect(drained.body).toMatchObject({ drained: true, walBytes: 0 });
    await waitFor("no partition led by broker 2", 10_000, async () => ([...(await leaders(admin)).values()].includes(2) ? null : true));
    await ackedAfter(acked.length + 200);

    // Crash: broker 3 is SIGKILLed; its partitions wait for it (file WAL) and it comes back.
    phase = "kill";
    await cluster.kill(3);
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.start(3);
    await ackedAfter(acked.length + 200);

    producing = false;
    await loop;
    await producer.disconnect();

    // Every acknowledged record, exactly once, read by a group (its coordinator moved too).
    const consumer = kafka.consumer({ groupId: "cluster-readers", sessionTimeout: 10_000, heartbeatInterval: 500 });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    const seen = new Map<string, number>();
    const ackedSet = new Set(acked);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const missing = acked.filter((v) => !seen.has(v));
        const where = missing.map((v) => `${v} (partition ${Number(v.slice(2)) % PARTITIONS}, ${phaseOf.get(v)})`);
        const logs = [1, 2, 3, 4].map((id) => `broker ${id}:\n` + cluster.output(id).split("\n").filter((l) => /"level":(40|50|60)|leading the partition|released partitions|moved partition/.test(l)).filter((l) => !/"partition":(0|2|3|5|6|8|9|10|11),/.test(l)).slice(-40).join("\n")).join("\n");
        reject(new Error(`read ${acked.length - missing.length}/${acked.length} acknowledged records; missing ${where.slice(0, 20).join(", ")}\n${logs}`));
      }, 30_000);
      let found = 0;
      void consumer.run({
        eachMessage: async ({ message }) => {
          const v = message.value!.toString();
          seen.set(v, (seen.get(v) ?? 0) + 1);
          if (ackedSet.has(v) && seen.get(v) === 1 && ++found === ackedSet.size) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    await admin.disconnect();
    const duplicates = [...seen].filter(([, c]) => c > 1);
    expect(duplicates).toEqual([]);
    console.log(`cluster: ${acked.length} acknowledged records, balanced over 4 brokers in ${balancedMs} ms, ${errors.length} send errors`);
  }, 240_000);
});
