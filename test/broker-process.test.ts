import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { BROKER_NODE_FLAGS } from "../broker/node-flags.js";
import { Kafka, logLevel } from "kafkajs";
import { freePort } from "./ports.js";

/**
 * The broker as users run it (`npm start` runs broker/main.ts): probes and metrics over
 * HTTP, a clean stop on SIGTERM, and no acknowledged record lost to SIGKILL.
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

/**
 * The metric names in docs/operations.md's metrics table that a single broker serves (rows
 * marked `multi` are served in cluster mode only); `floe_storage_*` stands for a prefix.
 */
function documentedMetrics(): string[] {
  const doc = fs.readFileSync(path.join(REPO, "docs/operations.md"), "utf8");
  const table = doc.slice(doc.indexOf("| metric | what it tells |"));
  const rows = table.slice(0, table.indexOf("\n\n")).split("\n").slice(2);
  const names = rows
    .filter((row) => !row.includes("(`multi`"))
    .flatMap((row) => [...row.split("|")[1].matchAll(/`(floe_[a-z_*]+)/g)].map((m) => m[1].replace("*", "")));
  expect(names.length).toBeGreaterThan(10);
  return names;
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

async function startProcess(env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, "--import", "tsx", "broker/main.ts"], { cwd: REPO, env: { ...process.env, FLOE_HOST: "127.0.0.1", FLOE_GROUP_INITIAL_REBALANCE_DELAY_MS: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const deadline = Date.now() + 30_000;
  while (!out.includes('"broker ready"')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`broker did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => out, exited };
}

describe("broker process", () => {
  it("serves /healthz, /readyz and /metrics, and stops cleanly on SIGTERM", async () => {
    const [port, httpPort] = [await freePort(), await freePort()];
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-proc-"));
    // Memory bounds come from the environment (docs/configuration.md) and show in /metrics.
    const bounds = { FLOE_CACHE_BYTES_MAX: "33554432", FLOE_BLOCK_CACHE_BYTES_MAX: "1048576", FLOE_READ_AHEAD_BYTES_MAX: "0" };
    const p = await startProcess({ FLOE_PORT: String(port), FLOE_HTTP_PORT: String(httpPort), FLOE_DATA_DIR: dataDir, ...bounds });
    const get = (route: string) => fetch(`http://127.0.0.1:${httpPort}${route}`);
    expect((await get("/healthz")).status).toBe(200);
    expect(await (await get("/readyz")).json()).toEqual({ status: "ready" });
    const producer = new Kafka({ brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    await producer.send({ topic: "metered", messages: [{ value: "x" }, { value: "y" }] });
    await producer.disconnect();
    const metrics = await (await get("/metrics")).text();
    expect(metrics).toMatch(/floe_broker_produce_records_total\S* 2/);
    expect(metrics).toMatch(/floe_wal_used_bytes/);
    // The produce was acknowledged after its group commit, so the commit was timed.
    expect(metrics).toMatch(/floe_wal_group_commit_seconds_count\S* [1-9]/);
    expect(metrics).toMatch(/^floe_storage_tail_cache_bytes_max\S* 33554432$/m);
    expect(metrics).toMatch(/^floe_storage_block_cache_bytes_max\S* 1048576$/m);
    expect(metrics).toMatch(/^floe_storage_read_ahead_bytes_max\S* 0$/m);
    expect(metrics).toMatch(/floe_storage_tail_cache_bytes\S* \d+/);
    expect(metrics).toMatch(/floe_process_resident_memory_bytes/);
    for (const name of documentedMetrics()) expect(metrics, `docs/operations.md names ${name}`).toMatch(new RegExp(`^# HELP ${name}`, "m"));
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(p.output()).toContain("broker stopped");
  }, 60_000);

  it("drains on request (the pod's preStop hook): not ready any more, everything acknowledged uploaded, nothing to replay on the next start", async () => {
    const [port, httpPort] = [await freePort(), await freePort()];
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-drain-"));
    // A long upload interval: without the drain, the records would still be in the WAL only.
    const env = { FLOE_PORT: String(port), FLOE_HTTP_PORT: String(httpPort), FLOE_DATA_DIR: dataDir, FLOE_UPLOAD_INTERVAL_MS: "3600000" };
    const p = await startProcess(env);
    const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: "drained", acks: -1, messages: Array.from({ length: 500 }, (_, i) => ({ value: `d-${i}` })) });
    await producer.disconnect();
    const get = (route: string) => fetch(`http://127.0.0.1:${httpPort}${route}`);
    const walBefore = Number(/floe_wal_used_bytes\S* (\d+)/.exec(await (await get("/metrics")).text())?.[1]);
    expect(walBefore).toBeGreaterThan(500);
    const drained = (await (await get("/admin/v1/drain")).json()) as { drained: boolean; walBytes: number };
    expect(drained.drained).toBe(true);
    expect(drained.walBytes).toBeLessThan(walBefore);
    expect((await get("/readyz")).status).toBe(503);
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    // The records come back from objects alone: remove the WAL before restarting.
    fs.rmSync(path.join(dataDir, "wal"), { recursive: true, force: true });
    const again = await startProcess(env);
    const consumer = kafka.consumer({ groupId: "drain-check" });
    await consumer.connect();
    await consumer.subscribe({ topic: "drained", fromBeginning: true });
    const seen = new Set<string>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.size}/500 records came back from objects`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.add(message.value!.toString());
          if (seen.size === 500) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    again.child.kill("SIGTERM");
    await again.exited;
  }, 90_000);

  it("refuses a malformed setting with a message naming the variable", async () => {
    const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, "--import", "tsx", "broker/main.ts"], { cwd: REPO, env: { ...process.env, FLOE_PORT: "not-a-port" }, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toContain("FLOE_PORT must be an integer");
  }, 30_000);

  it("refuses a listener without a protocol at start-up, and names the listener whose port is taken", async () => {
    const run = async (env: Record<string, string>) => {
      const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, "--import", "tsx", "broker/main.ts"], { cwd: REPO, env: { ...process.env, FLOE_HOST: "127.0.0.1", FLOE_HTTP_PORT: "-1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
      return { code, out };
    };
    const refused = await run({ FLOE_LISTENERS: "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0", FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "INTERNAL:PLAINTEXT" });
    expect(refused.code).toBe(2);
    expect(refused.out).toContain("listener EXTERNAL has no security protocol");
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const takenPort = (taken.address() as net.AddressInfo).port;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-listeners-"));
    try {
      const failed = await run({ FLOE_DATA_DIR: dataDir, FLOE_LISTENERS: `INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:${takenPort}`, FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT" });
      expect(failed.code).toBe(1);
      expect(failed.out).toContain(`listener EXTERNAL could not listen on 127.0.0.1:${takenPort}`);
      expect(failed.out).toContain("EADDRINUSE");
    } finally {
      taken.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("keeps every acknowledged record across SIGKILL, repeatedly", async () => {
    const port = await freePort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-crash-"));
    const env = { FLOE_PORT: String(port), FLOE_HTTP_PORT: "-1", FLOE_DATA_DIR: dataDir, FLOE_UPLOAD_INTERVAL_MS: "300" };
    const acked = new Set<string>();
    const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 50 } });
    for (let round = 0; round < 4; round++) {
      const p = await startProcess(env);
      const producer = kafka.producer({ allowAutoTopicCreation: true });
      await producer.connect();
      let i = 0;
      const stopAt = Date.now() + 400 + Math.floor(Math.random() * 600);
      // Keep producing until the kill lands; only acknowledged sends count.
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
    expect(acked.size).toBeGreaterThan(100);
    const p = await startProcess(env);
    const consumer = kafka.consumer({ groupId: "crash-check" });
    await consumer.connect();
    await consumer.subscribe({ topic: "crash", fromBeginning: true });
    const seen = new Map<string, number>();
    let ackedSeen = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${ackedSeen}/${acked.size} acknowledged records came back`)), 60_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const v = message.value!.toString();
          const n = (seen.get(v) ?? 0) + 1;
          seen.set(v, n);
          if (n === 1 && acked.has(v)) ackedSeen++;
          if (ackedSeen === acked.size) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    p.child.kill("SIGTERM");
    await p.exited;
  }, 180_000);
});
