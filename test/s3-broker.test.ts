import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3ObjectStore } from "../broker/storage/s3-object-store.js";
import { startTestBroker, type TestBroker } from "./broker-fixture.js";
import { startMinio, type MinioServer } from "./s3-server.js";

/** The broker with FLOE_OBJECT_STORE=s3 against MinIO: produce with kafkajs, restart, consume everything back. */
let minio: MinioServer;
let broker: TestBroker | undefined;

beforeAll(async () => {
  minio = await startMinio();
}, 20 * 60_000);

afterAll(async () => {
  await broker?.close();
  await minio?.stop();
});

describe("broker on the S3 object store (MinIO)", () => {
  it("keeps every record across a restart, with stream-set objects and metadata in the bucket", async () => {
    const prefix = `cluster-${randomBytes(3).toString("hex")}/`;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-s3-broker-"));
    broker = await startTestBroker({
      dataDir,
      objectStore: "s3",
      s3Bucket: minio.bucket,
      s3Prefix: prefix,
      s3Endpoint: minio.endpoint,
      s3Region: minio.region,
      s3ForcePathStyle: true,
      s3AccessKeyId: minio.accessKey,
      s3SecretAccessKey: minio.secretKey,
      uploadIntervalMs: 100,
    });
    const kafka = new Kafka({ clientId: "floe-s3-test", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: "s3-orders", numPartitions: 3 }] });
    await admin.disconnect();

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const total = 300;
    for (let i = 0; i < total; i += 50) {
      await producer.send({ topic: "s3-orders", messages: Array.from({ length: 50 }, (_, j) => ({ key: `k-${(i + j) % 7}`, value: `v-${i + j}` })) });
    }
    await producer.disconnect();

    // The uploader has put stream-set objects and metadata entries into the bucket.
    const view = new S3ObjectStore({ bucket: minio.bucket, prefix, endpoint: minio.endpoint, region: minio.region, forcePathStyle: true, credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey } });
    const deadline = Date.now() + 15_000;
    let objects: { key: string }[] = [];
    while (Date.now() < deadline) {
      objects = await view.list("");
      if (objects.some((o) => !o.key.startsWith("meta/"))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(objects.some((o) => o.key.startsWith("meta/log/"))).toBe(true);
    expect(objects.some((o) => !o.key.startsWith("meta/"))).toBe(true);
    view.destroy();

    await broker.restart();

    const consumer = kafka.consumer({ groupId: "s3-readers", sessionTimeout: 10_000, heartbeatInterval: 500 });
    await consumer.connect();
    await consumer.subscribe({ topic: "s3-orders", fromBeginning: true });
    const seen: string[] = [];
    const byPartition = new Map<number, bigint[]>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out with ${seen.length}/${total} records`)), 30_000);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          seen.push(message.value!.toString());
          byPartition.set(partition, [...(byPartition.get(partition) ?? []), BigInt(message.offset)]);
          if (seen.length >= total) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    expect(new Set(seen).size).toBe(total);
    expect(seen.length).toBe(total);
    for (const offsets of byPartition.values()) expect(offsets).toEqual(offsets.map((_, i) => BigInt(i)));
  }, 120_000);
});
