import { randomBytes } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startMinio, type MinioServer } from "./s3-server.js";
import { leaderCountsVia, TestCluster, waitFor } from "./cluster-process.js";
import { checkDelivery, requireClients, runClient, type ClientName, type ClientRecord } from "./clients/harness.js";
import { RawClient } from "./raw-client.js";
import { ErrorCode } from "../broker/protocol/errors.js";

/**
 * Transactions in a multi-broker cluster (s3 WAL, so a SIGKILLed broker's partitions move
 * at once): transaction coordinators live on the leaders of `__transaction_state`
 * partitions, markers go to partitions led by other brokers, transactional offsets to a
 * group coordinator on yet another one, and all of it moves with the partitions.
 */
let minio: MinioServer;
let cluster: TestCluster;
const CLIENTS: readonly ClientName[] = ["java", "librdkafka", "franz-go"];

beforeAll(async () => {
  minio = await startMinio();
  await requireClients(CLIENTS);
}, 30 * 60_000);
afterEach(async () => {
  await cluster?.stopAll();
});
afterAll(async () => {
  await minio?.stop();
});

async function startCluster(name: string): Promise<{ bootstrap: () => string; createTopic(topic: string, partitions: number): Promise<void>; close(): Promise<void> }> {
  cluster = new TestCluster({ minio, prefix: `${name}-${randomBytes(3).toString("hex")}/`, walType: "s3", env: { FLOE_TRANSACTION_PARTITIONS: "6" } });
  for (const id of [1, 2, 3]) await cluster.start(id);
  const kafka = new Kafka({ clientId: name, brokers: () => cluster.bootstrap(), logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } });
  const admin = kafka.admin();
  await admin.connect();
  return {
    bootstrap: () => cluster.bootstrap().join(","),
    async createTopic(topic, partitions) {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
      await waitFor(`${topic} led by three brokers`, 15_000, async () => ((await leaderCountsVia(cluster, 1, topic)).size === 3 ? true : null));
    },
    close: () => admin.disconnect(),
  };
}

/** `floe_broker_txn_peer_calls_total` summed over the running brokers, as "call outcome" -> count. */
async function peerCalls(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const b of cluster.brokers.values()) {
    if (b.proc.child.exitCode !== null || b.proc.child.signalCode !== null) continue;
    const text = await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text();
    for (const m of text.matchAll(/^floe_broker_txn_peer_calls_total\{call="([\w-]+)",outcome="(\w+)"[^}]*\} (\d+)$/gm)) {
      const k = `${m[1]} ${m[2]}`;
      out.set(k, (out.get(k) ?? 0) + Number(m[3]));
    }
  }
  return out;
}

/** The broker coordinating `transactionalId` (FindCoordinator v3, key type 1). */
async function txnCoordinatorOf(transactionalId: string): Promise<number> {
  return waitFor(`a coordinator for ${transactionalId}`, 15_000, async () => {
    const client = await RawClient.connect([...cluster.brokers.values()][0]!.port);
    try {
      const r = await client.request<{ errorCode: number; nodeId: number }>(10, 3, { key: transactionalId, keyType: 1 });
      return r.errorCode === ErrorCode.NONE ? r.nodeId : null;
    } finally {
      client.close();
    }
  });
}

/** Every value once: nothing missing, nothing twice. */
function exactlyOnce(expected: readonly ClientRecord[], got: readonly ClientRecord[]) {
  const seen = new Map<string, number>();
  for (const r of got) seen.set(r.v, (seen.get(r.v) ?? 0) + 1);
  return {
    dupes: [...seen].filter(([, n]) => n > 1).map(([v]) => v).slice(0, 10),
    missing: expected.filter((r) => !seen.has(r.v)).map((r) => r.v).slice(0, 10),
    total: got.length,
  };
}

describe("transactions across brokers", () => {
  it("a Java read-process-write loop copies every input exactly once while brokers are SIGKILLed and partitions move", async () => {
    const c = await startCluster("txn-eos");
    const input = "eos-in";
    const output = "eos-out";
    const count = 40_000;
    await c.createTopic(input, 6);
    await c.createTopic(output, 6);
    const produced = await runClient("java", ["produce", "--bootstrap", c.bootstrap(), "--topic", input, "--count", String(count)]);
    expect(produced.records).toHaveLength(count);

    const loop = runClient("java", ["eos", "--bootstrap", c.bootstrap(), "--topic", input, "--output", output, "--group", "eos", "--transactional-id", "eos-cluster", "--count", String(count), "--timeout-ms", "240000"], 300_000);
    let loopDone = false;
    void loop.then(() => (loopDone = true), () => (loopDone = true));
    // Each broker in turn is SIGKILLed while the loop copies (its partitions, coordinators
    // included, move to the others once its WAL is recovered), then restarted.
    const events: string[] = [];
    for (const id of [2, 3, 1]) {
      await new Promise((r) => setTimeout(r, 2500));
      if (loopDone) break;
      const killedAt = Date.now();
      await cluster.kill(id);
      await waitFor(`broker ${id}'s partitions led elsewhere`, 30_000, async () => ((await leaderCountsVia(cluster, id === 1 ? 2 : 1, output)).has(id) ? null : true));
      events.push(`SIGKILL ${id}: moved in ${Date.now() - killedAt} ms`);
      await cluster.start(id);
    }
    const run = await loop;
    expect(run.summary).toMatchObject({ finished: true });
    expect(events.length, "the loop finished before the first crash: raise the count").toBeGreaterThan(0);

    const consumed = await runClient("java", ["consume", "--bootstrap", c.bootstrap(), "--topic", output, "--group", "eos-check", "--count", String(count), "--timeout-ms", "120000", "--isolation", "read_committed"], 180_000);
    expect(exactlyOnce(produced.records, consumed.records)).toEqual({ dupes: [], missing: [], total: count });
    // Every record the loop reported committed is in the output, at the offset it reported.
    expect(checkDelivery(run.records, consumed.records, { exact: false })).toEqual([]);
    // The transactions really crossed brokers: coordinators moved, and markers and produce
    // verifications went to other brokers.
    const logs = [1, 2, 3].map((id) => cluster.output(id)).join("\n");
    expect(logs).toContain("loaded the transactions of a transaction-state partition");
    const calls = await peerCalls();
    expect(calls.get("marker ok") ?? 0, JSON.stringify([...calls])).toBeGreaterThan(0);
    expect(calls.get("verify ok") ?? 0).toBeGreaterThan(0);
    await c.close();
    console.log(`cluster EOS: ${count} records copied exactly once (${(run.summary as { restarts?: number }).restarts ?? 0} loop restarts); ${events.join("; ")}; peer calls since the last restarts: ${[...calls].map(([k, n]) => `${k} ${n}`).join(", ")}`);
  }, 600_000);

  it.each(CLIENTS)("%s: committed transactions only, for read_committed readers of every client, while the coordinator's broker drains", async (client) => {
    const c = await startCluster(`txn-${client}`);
    const topic = `txn-${client}`;
    await c.createTopic(topic, 6);
    // 40 transactions of 10 over six partitions led by three brokers; every fourth aborted.
    const producing = runClient(client, ["txn-produce", "--bootstrap", c.bootstrap(), "--topic", topic, "--transactional-id", `tp-${client}`, "--count", "400", "--txn-size", "10", "--abort-every", "4"], 240_000);
    const producingStartedAt = Date.now();
    let producingDone = false;
    void producing.then(() => (producingDone = true), () => (producingDone = true));
    const coordinator = await txnCoordinatorOf(`tp-${client}`);
    await new Promise((r) => setTimeout(r, 1500));
    // Moves every partition the coordinator leads (its transaction state among them) away mid-run.
    expect(producingDone, "the producer finished before the drain: raise the count").toBe(false);
    const drainStartedAt = Date.now();
    const drained = await cluster.drainAndStop(coordinator);
    expect(drained.status).toBe(200);
    expect(await txnCoordinatorOf(`tp-${client}`)).not.toBe(coordinator);
    const produced = await producing;
    console.log(`${client}: 40 transactions in ${produced.ms} ms, drain started ${drainStartedAt - producingStartedAt} ms in`);
    expect(produced.summary).toMatchObject({ committed: 300, aborted: 100 });
    for (const reader of CLIENTS) {
      const consumed = await runClient(reader, ["consume", "--bootstrap", c.bootstrap(), "--topic", topic, "--group", `rc-${client}-${reader}`, "--count", "300", "--timeout-ms", "60000", "--isolation", "read_committed"], 120_000);
      expect(checkDelivery(produced.records, consumed.records), `${reader} read_committed`).toEqual([]);
    }
    await c.close();
  }, 400_000);

  it("a zombie with the old epoch is fenced in a cluster; only the new instance's record is read", async () => {
    const c = await startCluster("txn-zombie");
    const topic = "zombie-cluster";
    await c.createTopic(topic, 3);
    const run = await runClient("java", ["zombie", "--bootstrap", c.bootstrap(), "--topic", topic, "--transactional-id", "zombie-cluster"]);
    expect(run.summary).toMatchObject({ fenced: true });
    const consumed = await runClient("java", ["consume", "--bootstrap", c.bootstrap(), "--topic", topic, "--group", "zc", "--count", "1", "--timeout-ms", "30000", "--isolation", "read_committed"]);
    expect(checkDelivery(run.records, consumed.records)).toEqual([]);
    await c.close();
  }, 300_000);
});
