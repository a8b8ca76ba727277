import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startMinio, type MinioServer } from "./s3-server.js";
import { freePort, startBrokerProcess } from "./wal-process.js";

/**
 * SIGKILL the broker while it acknowledges produce requests, for every WAL backend, then
 * check that every acknowledged record comes back. Bounded: 3 kills per backend, each
 * after at most ~1 s of producing, and a 60 s budget to read everything back.
 */
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

let minio: MinioServer | undefined;
beforeAll(async () => {
  minio = await startMinio();
}, 10 * 60_000);
afterAll(async () => {
  await minio?.stop();
});

function tempDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `floe-walcrash-${tag}-`));
  dirs.push(d);
  return d;
}

interface Case {
  name: string;
  kind: "file" | "nfs" | "s3";
  env(): Record<string, string>;
}

const CASES: Case[] = [
  { name: "file", kind: "file", env: () => ({ FLOE_WAL_TYPE: "file" }) },
  { name: "nfs (shared folder)", kind: "nfs", env: () => ({ FLOE_WAL_TYPE: "nfs", FLOE_WAL_DIR: tempDir("shared"), FLOE_NODE_ID: "3" }) },
  { name: "s3 (local object store)", kind: "s3", env: () => ({ FLOE_WAL_TYPE: "s3", FLOE_WAL_FLUSH_INTERVAL_MS: "20" }) },
  {
    name: "s3 (MinIO)",
    kind: "s3",
    env: () => ({
      FLOE_WAL_TYPE: "s3",
      FLOE_WAL_FLUSH_INTERVAL_MS: "20",
      FLOE_OBJECT_STORE: "s3",
      FLOE_S3_BUCKET: minio!.bucket,
      FLOE_S3_PREFIX: `walcrash-${randomBytes(3).toString("hex")}/`,
      FLOE_S3_ENDPOINT: minio!.endpoint,
      FLOE_S3_REGION: minio!.region,
      FLOE_S3_FORCE_PATH_STYLE: "true",
      FLOE_S3_ACCESS_KEY_ID: minio!.accessKey,
      FLOE_S3_SECRET_ACCESS_KEY: minio!.secretKey,
    }),
  },
];

describe("WAL crash safety at the broker level (SIGKILL)", () => {
  for (const c of CASES) {
    it(`${c.name}: keeps every acknowledged record across repeated SIGKILL`, async () => {
      const port = await freePort();
      const env = { FLOE_PORT: String(port), FLOE_DATA_DIR: tempDir("data"), FLOE_UPLOAD_INTERVAL_MS: "300", ...c.env() };
      const acked = new Set<string>();
      const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 50 } });
      for (let round = 0; round < 3; round++) {
        const p = await startBrokerProcess(env, children);
        expect(p.output()).toContain(`"walType":"${c.kind}"`);
        const producer = kafka.producer({ allowAutoTopicCreation: true });
        await producer.connect();
        let i = 0;
        const stopAt = Date.now() + 400 + Math.floor(Math.random() * 600);
        const loop = (async () => {
          while (true) {
            const batch = Array.from({ length: 20 }, () => `r${round}-${i++}`);
            try {
              await producer.send({ topic: "crash", acks: -1, messages: batch.map((value) => ({ value })) });
              for (const v of batch) acked.add(v);
            } catch {
              return;
            }
            if (Date.now() > stopAt) p.child.kill("SIGKILL");
          }
        })();
        await p.exited;
        await loop;
        await producer.disconnect().catch(() => {});
      }
      expect(acked.size).toBeGreaterThan(60);
      const p = await startBrokerProcess(env, children);
      const consumer = kafka.consumer({ groupId: "crash-check" });
      await consumer.connect();
      await consumer.subscribe({ topic: "crash", fromBeginning: true });
      let ackedSeen = 0;
      const seen = new Set<string>();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${ackedSeen}/${acked.size} acknowledged records came back`)), 60_000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            const v = message.value!.toString();
            if (!seen.has(v) && acked.has(v)) ackedSeen++;
            seen.add(v);
            if (ackedSeen === acked.size) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
      await consumer.disconnect();
      expect(p.output()).not.toMatch(/"level":(50|60)/);
      p.child.kill("SIGKILL");
    }, 180_000);
  }
});
