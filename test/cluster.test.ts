import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startMinio, type MinioServer } from "./s3-server.js";
import { CLUSTER_TIMINGS, ControllerLink, leaderCountsVia, TestCluster, waitFor } from "./cluster-process.js";
import { RawClient } from "./raw-client.js";
import { buildRecordBatch } from "../broker/protocol/records.js";
import { ErrorCode } from "../broker/protocol/errors.js";
import { checkDelivery, installClient, partitionsUsed, runClient } from "./clients/harness.js";

/**
 * A multi-broker cluster of real processes sharing one MinIO bucket: partitions spread over
 * brokers, move when one joins or drains, and wait for a SIGKILLed broker to come back
 * (file WAL). The Java client's idempotent producer (acks=all, its defaults) runs
 * throughout; every acknowledged record must be read back exactly once, where it was
 * acknowledged.
 *
 * kafkajs only administers and reads here: its producer drops records when partitions
 * move between two retries (tulios/kafkajs#1798), which no broker can prevent.
 */
let minio: MinioServer;
let cluster: TestCluster;

beforeAll(async () => {
  minio = await startMinio();
  await installClient("java");
}, 20 * 60_000);
afterEach(async () => {
  await cluster?.stopAll();
});
afterAll(async () => {
  await minio?.stop();
});

const TOPIC = "cluster-orders";
const PARTITIONS = 12;
const RECORDS = 12_000;
const RATE = 300;

async function leaderCounts(admin: Admin): Promise<Map<number, number>> {
  const md = await admin.fetchTopicMetadata({ topics: [TOPIC] });
  const out = new Map<number, number>();
  for (const p of md.topics[0]!.partitions) out.set(p.leader, (out.get(p.leader) ?? 0) + 1);
  return out;
}


const evenly = (counts: Map<number, number>, brokers: number) => counts.size === brokers && Math.max(...counts.values()) - Math.min(...counts.values()) <= 1;

describe("multi-broker cluster on one bucket", () => {
  it("spreads leaders, scales out and in, survives a SIGKILL, and loses no acknowledged record", async () => {
    cluster = new TestCluster({ minio, prefix: `cluster-${randomBytes(3).toString("hex")}/` });
    for (const id of [1, 2, 3]) await cluster.start(id);
    const kafka = new Kafka({ clientId: "cluster-test", brokers: () => cluster.bootstrap(), logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] });
    const spread = await waitFor("leaders on three brokers", 15_000, async () => {
      const counts = await leaderCounts(admin);
      return counts.size === 3 && [...counts.values()].every((n) => n === 4) ? counts : null;
    });
    expect([...spread.keys()].sort()).toEqual([1, 2, 3]);

    // ~40 s of load through every event below.
    const producing = runClient("java", ["produce", "--bootstrap", cluster.bootstrap().join(","), "--topic", TOPIC, "--count", String(RECORDS), "--rate", String(RATE)], 180_000);
    await new Promise((r) => setTimeout(r, 5000));

    // Scale out: a fourth broker joins and takes its share; nothing is copied.
    const joinedAt = Date.now();
    await cluster.start(4);
    const balancedMs = await waitFor("leaders balanced over four brokers", 20_000, async () => ((await leaderCounts(admin)).get(4) === 3 && evenly(await leaderCounts(admin), 4) ? Date.now() - joinedAt : null));
    await new Promise((r) => setTimeout(r, 3000));

    // A group reads part of the topic and commits; its coordinator moves with the drain and the crash below.
    const firstHalf = await runClient("java", ["consume", "--bootstrap", cluster.bootstrap().join(","), "--topic", TOPIC, "--group", "cluster-readers", "--count", "1500", "--timeout-ms", "60000"], 120_000);
    expect(firstHalf.records.length).toBeGreaterThanOrEqual(1500);

    // Scale in: broker 2 drains (its partitions move away), then exits.
    const drainedAt = Date.now();
    const drained = await cluster.drainAndStop(2);
    const drainMs = Date.now() - drainedAt;
    expect(drained.status).toBe(200);
    expect(drained.body).toMatchObject({ drained: true, walBytes: 0 });
    await waitFor("no partition led by broker 2", 10_000, async () => ((await leaderCounts(admin)).has(2) ? null : true));
    await new Promise((r) => setTimeout(r, 3000));

    // Crash: broker 3 is SIGKILLed; its partitions wait for it (file WAL) and it comes back.
    await cluster.kill(3);
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.start(3);

    const produced = await producing;
    expect(produced.summary).toMatchObject({ acked: RECORDS, failed: 0 });

    // Every acknowledged record, exactly once, where it was acknowledged: read by a group whose coordinator moved too.
    // The same group resumes from its committed offsets: together the two reads hold every record exactly once.
    const rest = await runClient("java", ["consume", "--bootstrap", cluster.bootstrap().join(","), "--topic", TOPIC, "--group", "cluster-readers", "--count", String(RECORDS - firstHalf.records.length), "--timeout-ms", "90000"], 150_000);
    expect(checkDelivery(produced.records, [...firstHalf.records, ...rest.records])).toEqual([]);
    await admin.disconnect();
    console.log(`cluster: ${produced.records.length} records acknowledged over scale-out 3→4 (balanced in ${balancedMs} ms), drain of one broker (${drainMs} ms), SIGKILL and restart of another`);
  }, 300_000);

  it.each(["s3", "nfs"] as const)("%s WAL: a SIGKILLed controller's partitions move once another broker recovers its WAL, and a paused broker acknowledges nothing after", async (walType) => {
    const sharedWalDir = walType === "nfs" ? fs.mkdtempSync(path.join(os.tmpdir(), "floe-cluster-nfs-")) : undefined;
    cluster = new TestCluster({ minio, prefix: `failover-${randomBytes(3).toString("hex")}/`, walType, sharedWalDir });
    for (const id of [1, 2, 3]) await cluster.start(id);
    const kafka = new Kafka({ clientId: "failover-test", brokers: () => cluster.bootstrap(), logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } });
    const admin = kafka.admin();
    await admin.connect();
    const topic = "failover-orders";
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }] });
    const counts = () => leaderCountsVia(cluster, 2, topic);
    await waitFor("leaders on three brokers", 15_000, async () => ((await counts()).size === 3 ? true : null));
    const records = 9000;
    const producing = runClient("java", ["produce", "--bootstrap", cluster.bootstrap().join(","), "--topic", topic, "--count", String(records), "--rate", "300"], 180_000);
    await new Promise((r) => setTimeout(r, 4000));

    // SIGKILL of the controller (broker 1, the first to start): another broker takes office,
    // fences it, recovers its WAL (nobody restarts it soon) and moves its partitions.
    expect(cluster.output(1)).toContain("elected controller");
    const killedAt = Date.now();
    await cluster.kill(1);
    const failoverMs = await waitFor("broker 1's partitions led elsewhere", 30_000, async () => {
      const c = await counts();
      return !c.has(1) && !c.has(-1) ? Date.now() - killedAt : null;
    });
    expect(cluster.output(2) + cluster.output(3)).toContain("recovered a dead broker's WAL into the object store");

    // Pause broker 3 past its session: it is declared dead, its WAL recovered, its partitions moved.
    await new Promise((r) => setTimeout(r, 2000));
    cluster.pause(3);
    const pausedAt = Date.now();
    await waitFor("broker 3's partitions led elsewhere", 30_000, async () => ((await counts()).has(3) ? null : true));
    const movedMs = Date.now() - pausedAt;
    // Woken up, it finds its WAL taken over: it acknowledges nothing more and exits to restart.
    cluster.resume(3);
    expect(await cluster.exitOf(3, 15_000)).toBe(75);
    expect(cluster.output(3)).toContain("broker cannot continue; exiting so it restarts");
    await cluster.start(3);
    await cluster.start(1);

    const produced = await producing;
    expect(produced.summary).toMatchObject({ acked: records, failed: 0 });
    const consumed = await runClient("java", ["consume", "--bootstrap", cluster.bootstrap().join(","), "--topic", topic, "--group", "failover-readers", "--count", String(records), "--timeout-ms", "90000"], 150_000);
    expect(checkDelivery(produced.records, consumed.records)).toEqual([]);
    await admin.disconnect();
    if (sharedWalDir) fs.rmSync(sharedWalDir, { recursive: true, force: true });
    console.log(`failover (${walType} WAL, session ${CLUSTER_TIMINGS.sessionTimeoutMs} ms): SIGKILLed controller's partitions led elsewhere after ${failoverMs} ms; paused broker's after ${movedMs} ms; ${records} records, none lost or duplicated`);
  }, 300_000);

  it("a consumer that names its zone (client.rack) reads committed data from a broker in that zone (KIP-392)", async () => {
    cluster = new TestCluster({ minio, prefix: `zones-${randomBytes(3).toString("hex")}/` });
    for (const id of [1, 2, 3]) await cluster.start(id);
    const topic = "zone-orders";
    const records = 3000;
    const produced = await runClient("java", ["produce", "--bootstrap", cluster.bootstrap().join(","), "--topic", topic, "--count", String(records), "--partitions-hint", "6"], 120_000);
    expect(produced.summary).toMatchObject({ acked: records, failed: 0 });
    // Broker 1 is in zone-a and leads a third of the partitions; once the data is in objects it can serve the rest.
    await new Promise((r) => setTimeout(r, 1500));
    const metric = async () => {
      const text = await (await fetch(`http://127.0.0.1:${cluster.brokers.get(1)!.httpPort}/metrics`)).text();
      return Number(/^floe_broker_read_replica_bytes_total(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? 0);
    };
    expect(await metric()).toBe(0);
    // The cluster gauges: broker 1 leads a share and the controller is one of the three.
    const gauges = await Promise.all([1, 2, 3].map(async (id) => (await fetch(`http://127.0.0.1:${cluster.brokers.get(id)!.httpPort}/metrics`)).text()));
    const value = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
    expect(gauges.map((t) => value(t, "floe_cluster_is_controller")).reduce((a, b) => a + b, 0)).toBe(1);
    expect(value(gauges[0]!, "floe_cluster_brokers")).toBe(3);
    expect(value(gauges[0]!, "floe_cluster_partitions_led")).toBeGreaterThan(0);
    expect(value(gauges[0]!, "floe_cluster_write_lease_remaining_seconds")).toBeGreaterThan(0);
    expect(value(gauges[0]!, "floe_cluster_leaderless_partitions")).toBe(0);
    const consumed = await runClient("java", ["consume", "--bootstrap", cluster.bootstrap().join(","), "--topic", topic, "--group", "zone-a-readers", "--rack", "zone-a", "--count", String(records), "--timeout-ms", "60000"], 120_000);
    expect(checkDelivery(produced.records, consumed.records)).toEqual([]);
    const servedInZone = await metric();
    expect(servedInZone).toBeGreaterThan(0);
    console.log(`zones: ${servedInZone} record bytes of partitions led in other zones served by the consumer's own zone`);
  }, 180_000);

  it("named listeners: a client bootstrapping on EXTERNAL is told every broker's EXTERNAL address and produces to partitions led by each; a broker without EXTERNAL is left out there, and never named as a read replica (KIP-392)", async () => {
    cluster = new TestCluster({ minio, prefix: `listeners-${randomBytes(3).toString("hex")}/` });
    // INTERNAL advertises 127.0.0.1 and EXTERNAL localhost, so a client told the wrong listener's address would dial the wrong port.
    const listeners = (external: boolean) => ({ port, secondPort }: { port: number; secondPort: number }) => ({
      FLOE_PORT: "",
      FLOE_LISTENERS: `INTERNAL://127.0.0.1:${port}${external ? `,EXTERNAL://127.0.0.1:${secondPort}` : ""}`,
      FLOE_ADVERTISED_LISTENERS: external ? `EXTERNAL://localhost:${secondPort}` : "",
      FLOE_LISTENER_SECURITY_PROTOCOL_MAP: `INTERNAL:PLAINTEXT${external ? ",EXTERNAL:PLAINTEXT" : ""}`,
    });
    for (const id of [1, 2, 3]) await cluster.start(id, listeners(true));
    const externalPort = (id: number) => cluster.brokers.get(id)!.secondPort;
    const topic = "listener-orders";
    const kafka = new Kafka({ clientId: "listeners-test", brokers: [`localhost:${externalPort(1)}`], logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }] });
    const leaders = await waitFor("leaders on three brokers", 15_000, async () => {
      const md = await admin.fetchTopicMetadata({ topics: [topic] });
      const byPartition = new Map(md.topics[0]!.partitions.map((p) => [p.partitionId, p.leader]));
      return new Set(byPartition.values()).size === 3 && !new Set(byPartition.values()).has(-1) ? byPartition : null;
    });
    expect((await admin.describeCluster()).brokers.sort((a, b) => a.nodeId - b.nodeId)).toEqual([1, 2, 3].map((id) => ({ nodeId: id, host: "localhost", port: externalPort(id) })));

    // The Java client, given broker 1's EXTERNAL address only, reaches every leader through EXTERNAL.
    const produced = await runClient("java", ["produce", "--bootstrap", `localhost:${externalPort(1)}`, "--topic", topic, "--count", "600", "--partitions-hint", "6"], 120_000);
    expect(produced.summary).toMatchObject({ acked: 600, failed: 0 });
    const used = [...partitionsUsed(produced.records).keys()];
    expect(new Set(used.map((p) => leaders.get(p)))).toEqual(new Set([1, 2, 3]));

    // Broker 4 has INTERNAL only: it takes a share, listed on INTERNAL but not on EXTERNAL,
    // where its partitions have no leader (LISTENER_NOT_FOUND), as in Kafka.
    await cluster.start(4, listeners(false));
    const internal = await RawClient.connect(cluster.brokers.get(1)!.port);
    const external = await RawClient.connect(externalPort(1));
    try {
      const request = { topics: [{ topicId: "AAAAAAAAAAAAAAAAAAAAAA", name: topic }], allowAutoTopicCreation: false };
      const onInternal = await waitFor("broker 4 leading a partition", 20_000, async () => {
        const md = await internal.request(3, 12, request);
        return md.topics[0].partitions.some((p: { leaderId: number }) => p.leaderId === 4) ? md : null;
      });
      expect(onInternal.brokers.map((b: { nodeId: number; host: string; port: number }) => [b.nodeId, b.host, b.port])).toEqual([1, 2, 3, 4].map((id) => [id, "127.0.0.1", cluster.brokers.get(id)!.port]));
      const led4 = onInternal.topics[0].partitions.filter((p: { leaderId: number }) => p.leaderId === 4).map((p: { partitionIndex: number }) => p.partitionIndex);
      const onExternal = await external.request(3, 12, request);
      expect(onExternal.brokers.map((b: { nodeId: number; host: string; port: number }) => [b.nodeId, b.host, b.port])).toEqual([1, 2, 3].map((id) => [id, "localhost", externalPort(id)]));
      for (const p of onExternal.topics[0].partitions) {
        if (led4.includes(p.partitionIndex)) expect(p, `partition ${p.partitionIndex}`).toMatchObject({ errorCode: ErrorCode.LISTENER_NOT_FOUND, leaderId: -1 });
        else expect(p.errorCode, `partition ${p.partitionIndex}`).toBe(ErrorCode.NONE);
      }
    } finally {
      internal.close();
      external.close();
    }

    // KIP-392: a zone-a consumer catching up on a partition led in another zone is sent to a
    // zone-a broker (1 or 4), but on EXTERNAL never to broker 4, which it could not reach there.
    const reads = "listener-reads";
    // Created through INTERNAL: on EXTERNAL, kafkajs waits in vain for leaders of the partitions broker 4 takes.
    const insideAdmin = new Kafka({ clientId: "listeners-inside", brokers: cluster.bootstrap(), logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } }).admin();
    await insideAdmin.connect();
    await insideAdmin.createTopics({ topics: [{ topic: reads, numPartitions: 12 }] });
    await insideAdmin.disconnect();
    const written = await runClient("java", ["produce", "--bootstrap", cluster.bootstrap().join(","), "--topic", reads, "--count", "1200", "--partitions-hint", "12"], 120_000);
    expect(written.summary).toMatchObject({ acked: 1200, failed: 0 });
    const fetchFrom = async (port: number, partition: number) => {
      const c = await RawClient.connect(port);
      try {
        const partitions = [{ partition, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 16 }];
        const res = await c.request(1, 12, { maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic: reads, partitions }], forgottenTopicsData: [], rackId: "zone-a" });
        return res.responses[0].partitions[0] as { errorCode: number; preferredReadReplica: number; records: Buffer };
      } finally {
        c.close();
      }
    };
    const probe = await RawClient.connect(cluster.brokers.get(1)!.port);
    const readLeaders = new Map<number, number>();
    try {
      const md = await probe.request(3, 12, { topics: [{ topicId: "AAAAAAAAAAAAAAAAAAAAAA", name: reads }], allowAutoTopicCreation: false });
      for (const p of md.topics[0].partitions) readLeaders.set(p.partitionIndex, p.leaderId);
    } finally {
      probe.close();
    }
    const elsewhere = [...readLeaders].filter(([, leader]) => leader === 2 || leader === 3);
    // Once the data is in objects, INTERNAL answers with a zone-a replica for every such partition.
    const viaInternal = await waitFor("committed data of the partitions led outside zone-a", 15_000, async () => {
      const answers = await Promise.all(elsewhere.map(([p, leader]) => fetchFrom(cluster.brokers.get(leader)!.port, p)));
      return answers.every((a) => a.preferredReadReplica !== -1) ? answers : null;
    });
    const toBroker4 = elsewhere.filter((_, i) => viaInternal[i]!.preferredReadReplica === 4);
    expect(toBroker4.length, "partitions whose zone-a replica is broker 4").toBeGreaterThan(0);
    for (const [p, leader] of elsewhere) {
      const a = await fetchFrom(externalPort(leader), p);
      expect(a.errorCode, `partition ${p}`).toBe(ErrorCode.NONE);
      if (toBroker4.some(([q]) => q === p)) {
        // Served by the leader itself rather than sent where the client has no address.
        expect(a.preferredReadReplica, `partition ${p}`).toBe(-1);
        expect(a.records.length, `partition ${p}`).toBeGreaterThan(0);
      } else expect(a.preferredReadReplica, `partition ${p}`).toBe(1);
    }
    await admin.disconnect();
  }, 240_000);

  it("a broker cut off from the controller (its heartbeats lost) acknowledges nothing once its write lease may have lapsed; what it acknowledged survives the move", async () => {
    const link = await ControllerLink.start(() => cluster.brokers.get(1)?.httpPort);
    cluster = new TestCluster({ minio, prefix: `isolated-${randomBytes(3).toString("hex")}/`, walType: "s3" });
    // Broker 1 starts first and becomes the controller; every broker reaches it through the link.
    await cluster.start(1, { FLOE_INTERNAL_URL: link.url });
    expect(cluster.output(1)).toContain("elected controller");
    for (const id of [2, 3]) await cluster.start(id);
    const kafka = new Kafka({ clientId: "isolation-test", brokers: () => cluster.bootstrap(), logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } });
    const admin = kafka.admin();
    await admin.connect();
    const topic = "isolated-orders";
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }] });
    const partition = await waitFor("a partition led by broker 3", 15_000, async () => (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.find((p) => p.leader === 3)?.partitionId ?? null);

    // A client keeps producing to broker 3 directly, one record every 50 ms, as a client with old metadata would.
    const client = await RawClient.connect(cluster.brokers.get(3)!.port);
    const answers: { value: string; at: number; errorCode: number; offset: bigint }[] = [];
    let n = 0;
    let producing = true;
    const produce = (async () => {
      while (producing) {
        const value = `r${n++}`;
        const sent = client.request(0, 9, { acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records: buildRecordBatch([{ key: null, value: Buffer.from(value) }]) }] }] });
        const r = await Promise.race([sent.catch(() => null), client.closed.then(() => null), new Promise<null>((res) => setTimeout(() => res(null), 10_000))]);
        if (!r) break; // broker 3 closed the connection (it exits once its WAL was recovered) or stopped answering
        const pr = r.responses[0].partitionResponses[0];
        answers.push({ value, at: Date.now(), errorCode: pr.errorCode, offset: pr.baseOffset });
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    try {
      await waitFor("broker 3 acknowledging", 10_000, async () => (answers.filter((a) => a.errorCode === ErrorCode.NONE).length >= 10 ? true : null));
      link.isolate(3);
      const cutAt = Date.now();
      // Declared dead, its s3 WAL recovered by the controller, its partitions led elsewhere.
      await waitFor("broker 3's partitions led elsewhere", 30_000, async () => ((await leaderCountsVia(cluster, 2, topic)).has(3) ? null : true));
      expect(await cluster.exitOf(3, 15_000)).toBe(75);
      producing = false;
      await produce;
      const acked = answers.filter((a) => a.errorCode === ErrorCode.NONE);
      const lastAck = Math.max(...acked.map((a) => a.at));
      // Its write lease runs from the send time of its last accepted heartbeat (before the cut) and ends
      // before the controller may declare it dead (a session later) and give its partitions away.
      expect(lastAck - cutAt).toBeLessThan(CLUSTER_TIMINGS.sessionTimeoutMs);
      // From then until it exits it still answers, and refuses every write.
      const refused = answers.filter((a) => a.at > lastAck);
      expect(refused.length).toBeGreaterThan(0);
      expect(new Set(refused.map((a) => a.errorCode))).toEqual(new Set([ErrorCode.NOT_LEADER_OR_FOLLOWER]));
      const firstRefusal = Math.min(...refused.map((a) => a.at)) - cutAt;
      expect(link.dropped).toBeGreaterThan(0);

      // Every record it acknowledged is at the new leader, at its acknowledged offset.
      const consumer = kafka.consumer({ groupId: "isolation-readers" });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const seen = new Map<string, string>();
      await consumer.run({ eachMessage: async ({ partition: p, message }) => void (p === partition && seen.set(message.offset, message.value!.toString())) });
      await waitFor("every acknowledged record read back", 30_000, async () => (acked.every((a) => seen.get(a.offset.toString()) === a.value) ? true : null));
      await consumer.disconnect();
      console.log(`isolation: ${acked.length} records acknowledged by broker 3, the last ${lastAck - cutAt} ms after its heartbeats were cut, refusing from ${firstRefusal} ms (session ${CLUSTER_TIMINGS.sessionTimeoutMs} ms); ${refused.length} later attempts refused with NOT_LEADER_OR_FOLLOWER until it exited; all acknowledged records read back`);
    } finally {
      producing = false;
      await produce;
      client.socket.destroy();
      await admin.disconnect();
      await link.close();
    }
  }, 60_000);

  it("moves leaders for load: two busy partitions on one broker end up on two brokers, and counts stay even", async () => {
    cluster = new TestCluster({
      minio,
      prefix: `load-${randomBytes(3).toString("hex")}/`,
      env: { FLOE_LOAD_REPORT_INTERVAL_MS: "1000", FLOE_LOAD_BALANCE_COOLDOWN_MS: "8000", FLOE_LOAD_BALANCE_MIN_BYTES_PER_SEC: "262144" },
    });
    for (const id of [1, 2, 3]) await cluster.start(id);
    const topic = "load-orders";
    const kafka = new Kafka({ clientId: "load-test", brokers: () => cluster.bootstrap(), logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }] });
    const leadersOf = async () => new Map((await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.map((p) => [p.partitionId, p.leader]));
    const spread = await waitFor("two partitions on each broker", 15_000, async () => {
      const l = await leadersOf();
      const perBroker = [1, 2, 3].map((b) => [...l.values()].filter((x) => x === b).length);
      return perBroker.every((n) => n === 2) ? l : null;
    });
    // The two partitions broker 1 leads get all the traffic (kafkajs picks the partition; the load is what counts here, not delivery).
    const hot = [...spread].filter(([, leader]) => leader === 1).map(([p]) => p);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const value = randomBytes(32 * 1024);
    let producing = true;
    const load = (async () => {
      while (producing) {
        const began = Date.now();
        await producer.send({ topic, acks: 1, messages: hot.flatMap((partition) => Array.from({ length: 4 }, () => ({ partition, value }))) }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, Math.max(0, 60 - (Date.now() - began))));
      }
    })();
    const startedAt = Date.now();
    try {
      const after = await waitFor("the busy partitions led by two brokers", 45_000, async () => {
        const l = await leadersOf();
        return l.get(hot[0]!) !== l.get(hot[1]!) ? l : null;
      });
      const movedMs = Date.now() - startedAt;
      expect([1, 2, 3].map((b) => [...after.values()].filter((x) => x === b).length)).toEqual([2, 2, 2]);
      const metrics = await Promise.all([1, 2, 3].map(async (id) => (await fetch(`http://127.0.0.1:${cluster.brokers.get(id)!.httpPort}/metrics`)).text()));
      const gauge = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
      const controller = metrics.find((t) => gauge(t, "floe_cluster_is_controller") === 1)!;
      expect(gauge(controller, "floe_cluster_load_moves")).toBeGreaterThanOrEqual(2);
      expect(gauge(controller, "floe_cluster_load_imbalance_ratio")).toBeGreaterThan(0);
      console.log(`load: two busy partitions on one broker split over two brokers ${movedMs} ms after the load began (cooldown 8 s after the joins, reports every 1 s); imbalance now ${gauge(controller, "floe_cluster_load_imbalance_ratio").toFixed(2)}`);
    } finally {
      producing = false;
      await load;
      await producer.disconnect();
      await admin.disconnect();
    }
  }, 60_000);

  it("with the default timings (9 s session, 6 s lease), a dead broker's and then the dead controller's partitions are led elsewhere in seconds", async () => {
    cluster = new TestCluster({ minio, prefix: `defaults-${randomBytes(3).toString("hex")}/`, walType: "s3", env: { FLOE_BROKER_SESSION_TIMEOUT_MS: "9000", FLOE_CONTROLLER_LEASE_MS: "6000", FLOE_HEARTBEAT_INTERVAL_MS: "1000" } });
    for (const id of [1, 2, 3]) await cluster.start(id);
    const topic = "defaults-orders";
    const kafka = new Kafka({ clientId: "defaults-test", brokers: cluster.bootstrap(), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }] });
    await admin.disconnect();
    const counts = () => leaderCountsVia(cluster, 2, topic);
    await waitFor("leaders on three brokers", 20_000, async () => ((await counts()).size === 3 ? true : null));
    const figures: string[] = [];
    for (const victim of [3, 1]) {
      const killedAt = Date.now();
      await cluster.kill(victim);
      const ms = await waitFor(`broker ${victim}'s partitions led elsewhere`, 40_000, async () => {
        const c = await counts();
        return !c.has(victim) && !c.has(-1) ? Date.now() - killedAt : null;
      });
      figures.push(`broker ${victim}${victim === 1 ? " (the controller)" : ""}: ${ms} ms`);
    }
    console.log(`failover with default timings (s3 WAL): ${figures.join(", ")}`);
  }, 180_000);
});
