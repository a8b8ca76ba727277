import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../broker/protocol/errors.js";
import { Attr, batchesOf } from "../broker/protocol/record-batch.js";
import { buildRecordBatch, decodeRecords } from "../broker/protocol/records.js";
import { ZERO_UUID } from "../broker/protocol/primitives.js";
import { startTestBroker, type TestBroker } from "./broker-fixture.js";
import { RawClient } from "./raw-client.js";

/**
 * The transaction APIs on the wire, against an in-process broker: the coordinator's state
 * machine through InitProducerId/AddPartitionsToTxn/EndTxn, what read_committed Fetch and
 * ListOffsets answer around open, committed and aborted transactions, transactional
 * offsets, the admin APIs, timeouts, and state that survives a restart.
 */
const T = "txn-wire";
let broker: TestBroker | undefined;
let client: RawClient | undefined;
afterEach(async () => {
  client?.close();
  await broker?.close();
  broker = client = undefined;
});

async function setup(overrides = {}): Promise<RawClient> {
  broker = await startTestBroker(overrides);
  await broker.running.broker.controller.createTopic(T, 1, {});
  client = await RawClient.connect(broker.port);
  return client;
}

async function reconnect(): Promise<RawClient> {
  client?.close();
  client = await RawClient.connect(broker!.port);
  return client;
}

const init = (c: RawClient, id: string, timeoutMs = 60_000, expected = { producerId: -1n, producerEpoch: -1 }) =>
  c.request(22, 4, { transactionalId: id, transactionTimeoutMs: timeoutMs, ...expected });
const addPartitions = (c: RawClient, id: string, pid: bigint, epoch: number) =>
  c.request(24, 3, { v3AndBelowTransactionalId: id, v3AndBelowProducerId: pid, v3AndBelowProducerEpoch: epoch, v3AndBelowTopics: [{ name: T, partitions: [0] }] });
const endTxn = (c: RawClient, id: string, pid: bigint, epoch: number, committed: boolean) => c.request(26, 3, { transactionalId: id, producerId: pid, producerEpoch: epoch, committed });

function txnBatch(pid: bigint, epoch: number, seq: number, values: string[]): Buffer {
  return buildRecordBatch(values.map((v) => ({ key: null, value: Buffer.from(v) })), { producerId: pid, producerEpoch: epoch, baseSequence: seq, attributes: Attr.transactional });
}

async function produce(c: RawClient, id: string | null, batch: Buffer): Promise<{ errorCode: number; baseOffset: bigint }> {
  const r = await c.request(0, 9, { transactionalId: id, acks: -1, timeoutMs: 5000, topicData: [{ name: T, partitionData: [{ index: 0, records: batch }] }] });
  return r.responses[0].partitionResponses[0];
}

async function fetch(c: RawClient, isolationLevel: number): Promise<{ lastStableOffset: bigint; highWatermark: bigint; aborted: { producerId: bigint; firstOffset: bigint }[] | null; values: string[]; control: number }> {
  const r = await c.request(1, 12, {
    isolationLevel,
    maxWaitMs: 0,
    minBytes: 0,
    topics: [{ topic: T, topicId: ZERO_UUID, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20, replicaDirectoryId: ZERO_UUID }] }],
  });
  const p = r.responses[0].partitions[0];
  expect(p.errorCode).toBe(ErrorCode.NONE);
  const values: string[] = [];
  let control = 0;
  for (const { header, bytes } of batchesOf(p.records ?? Buffer.alloc(0))) {
    if (header.attributes & Attr.control) control++;
    else for (const rec of decodeRecords(bytes)) values.push(rec.value!.toString());
  }
  return { lastStableOffset: p.lastStableOffset, highWatermark: p.highWatermark, aborted: p.abortedTransactions, values, control };
}

async function latest(c: RawClient, isolationLevel: number): Promise<bigint> {
  const r = await c.request(2, 6, { replicaId: -1, isolationLevel, topics: [{ name: T, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n, maxNumOffsets: 1 }] }] });
  return r.topics[0].partitions[0].offset;
}

describe("transactions on the wire", () => {
  it("open, committed and aborted transactions as read_committed and read_uncommitted see them", async () => {
    const c = await setup();
    const i = await init(c, "tx-a");
    expect(i.errorCode).toBe(ErrorCode.NONE);
    const { producerId: pid, producerEpoch: epoch } = i;
    // Not added yet: the partition is not part of a transaction.
    expect((await produce(c, "tx-a", txnBatch(pid, epoch, 0, ["early"]))).errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
    expect((await addPartitions(c, "tx-a", pid, epoch)).resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode).toBe(ErrorCode.NONE);
    expect((await produce(c, "tx-a", txnBatch(pid, epoch, 0, ["a1", "a2"]))).errorCode).toBe(ErrorCode.NONE);
    // Clients never write markers themselves.
    const marker = buildRecordBatch([{ key: Buffer.from([0, 0, 0, 1]), value: null }], { producerId: pid, producerEpoch: epoch, baseSequence: -1, attributes: Attr.transactional | Attr.control });
    expect((await produce(c, "tx-a", marker)).errorCode).toBe(ErrorCode.INVALID_RECORD);

    let rc = await fetch(c, 1);
    expect(rc).toMatchObject({ lastStableOffset: 0n, highWatermark: 2n, values: [] });
    expect(await latest(c, 1)).toBe(0n);
    expect(await latest(c, 0)).toBe(2n);
    expect((await fetch(c, 0)).values).toEqual(["a1", "a2"]);

    // DescribeProducers and ListTransactions see the open transaction.
    const producers = await c.request(61, 0, { topics: [{ name: T, partitionIndexes: [0] }] });
    expect(producers.topics[0].partitions[0].activeProducers).toMatchObject([{ producerId: pid, producerEpoch: epoch, lastSequence: 1, currentTxnStartOffset: 0n }]);
    const listed = await c.request(66, 1, { stateFilters: ["Ongoing"], producerIdFilters: [], durationFilter: -1n });
    expect(listed.transactionStates).toEqual([{ transactionalId: "tx-a", producerId: pid, transactionState: "Ongoing" }]);

    expect((await endTxn(c, "tx-a", pid, epoch, true)).errorCode).toBe(ErrorCode.NONE);
    rc = await fetch(c, 1);
    expect(rc).toMatchObject({ lastStableOffset: 3n, highWatermark: 3n, values: ["a1", "a2"], aborted: [], control: 1 });

    // A second transaction, aborted: its records stay in the log, named by the aborted index.
    expect((await addPartitions(c, "tx-a", pid, epoch)).resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode).toBe(ErrorCode.NONE);
    expect((await produce(c, "tx-a", txnBatch(pid, epoch, 2, ["b1"]))).errorCode).toBe(ErrorCode.NONE);
    expect((await endTxn(c, "tx-a", pid, epoch, false)).errorCode).toBe(ErrorCode.NONE);
    rc = await fetch(c, 1);
    expect(rc.lastStableOffset).toBe(5n);
    expect(rc.aborted).toEqual([{ producerId: pid, firstOffset: 3n }]);
    // Committing what was aborted is refused; retrying the abort is fine.
    expect((await endTxn(c, "tx-a", pid, epoch, true)).errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
    expect((await endTxn(c, "tx-a", pid, epoch, false)).errorCode).toBe(ErrorCode.NONE);

    const described = await c.request(65, 0, { transactionalIds: ["tx-a", "nobody"] });
    expect(described.transactionStates.map((t: { transactionState: string; errorCode: number }) => [t.transactionState, t.errorCode])).toEqual([["CompleteAbort", ErrorCode.NONE], ["", ErrorCode.TRANSACTIONAL_ID_NOT_FOUND]]);
  }, 60_000);

  it("a new instance fences the old one and aborts its open transaction", async () => {
    const c = await setup();
    const a = await init(c, "tx-z");
    await addPartitions(c, "tx-z", a.producerId, a.producerEpoch);
    expect((await produce(c, "tx-z", txnBatch(a.producerId, a.producerEpoch, 0, ["zombie"]))).errorCode).toBe(ErrorCode.NONE);
    // The first InitProducerId of the new instance aborts the open transaction and asks for a retry.
    expect((await init(c, "tx-z")).errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    const b = await init(c, "tx-z");
    // One bump fenced the old instance for the abort, the retry's bump is the new instance's (as in Kafka).
    expect(b).toMatchObject({ errorCode: ErrorCode.NONE, producerId: a.producerId, producerEpoch: a.producerEpoch + 2 });
    expect((await endTxn(c, "tx-z", a.producerId, a.producerEpoch, true)).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
    expect((await c.request(26, 1, { transactionalId: "tx-z", producerId: a.producerId, producerEpoch: a.producerEpoch, committed: true })).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect((await produce(c, "tx-z", txnBatch(a.producerId, a.producerEpoch, 1, ["late"]))).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    const rc = await fetch(c, 1);
    expect(rc.aborted).toEqual([{ producerId: a.producerId, firstOffset: 0n }]);
  }, 60_000);

  it("transactional offsets become visible only when the transaction commits", async () => {
    const c = await setup();
    const group = "eos-group";
    const { producerId: pid, producerEpoch: epoch } = await init(c, "tx-o");
    const offsetFetch = async (requireStable: boolean) =>
      (await c.request(9, 7, { groupId: group, topics: [{ name: T, partitionIndexes: [0] }], requireStable })).topics[0].partitions[0];
    const commitOffset = (offset: bigint) =>
      c.request(28, 3, { transactionalId: "tx-o", groupId: group, producerId: pid, producerEpoch: epoch, generationId: -1, memberId: "", groupInstanceId: null, topics: [{ name: T, partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null }] }] });

    // The group must join the transaction first.
    expect((await commitOffset(7n)).topics[0].partitions[0].errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
    expect((await c.request(25, 3, { transactionalId: "tx-o", producerId: pid, producerEpoch: epoch, groupId: group })).errorCode).toBe(ErrorCode.NONE);
    expect((await commitOffset(7n)).topics[0].partitions[0].errorCode).toBe(ErrorCode.NONE);
    expect(await offsetFetch(false)).toMatchObject({ committedOffset: -1n, errorCode: ErrorCode.NONE });
    expect((await offsetFetch(true)).errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);
    expect((await endTxn(c, "tx-o", pid, epoch, false)).errorCode).toBe(ErrorCode.NONE);
    expect(await offsetFetch(true)).toMatchObject({ committedOffset: -1n, errorCode: ErrorCode.NONE });

    await c.request(25, 3, { transactionalId: "tx-o", producerId: pid, producerEpoch: epoch, groupId: group });
    // A consumer that is not (or no longer) a member of the group's generation is refused (KIP-447).
    const zombie = await c.request(28, 3, { transactionalId: "tx-o", groupId: group, producerId: pid, producerEpoch: epoch, generationId: 5, memberId: "gone", groupInstanceId: null, topics: [{ name: T, partitions: [{ partitionIndex: 0, committedOffset: 99n, committedLeaderEpoch: -1, committedMetadata: null }] }] });
    expect(zombie.topics[0].partitions[0].errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);
    await commitOffset(9n);
    expect((await endTxn(c, "tx-o", pid, epoch, true)).errorCode).toBe(ErrorCode.NONE);
    expect(await offsetFetch(true)).toMatchObject({ committedOffset: 9n, errorCode: ErrorCode.NONE });
    // And they survive a restart (written to __consumer_offsets).
    await broker!.restart();
    await reconnect();
    expect((await client!.request(9, 7, { groupId: group, topics: [{ name: T, partitionIndexes: [0] }], requireStable: true })).topics[0].partitions[0].committedOffset).toBe(9n);
  }, 60_000);

  it("an open transaction survives a restart and is aborted at its timeout, fencing its producer", async () => {
    const c = await setup({ transactionMaxTimeoutMs: 60_000 });
    const { producerId: pid, producerEpoch: epoch } = await init(c, "tx-t", 3000);
    await addPartitions(c, "tx-t", pid, epoch);
    expect((await produce(c, "tx-t", txnBatch(pid, epoch, 0, ["t1"]))).errorCode).toBe(ErrorCode.NONE);
    await broker!.restart();
    const c2 = await reconnect();
    const before = await fetch(c2, 1);
    expect(before).toMatchObject({ lastStableOffset: 0n, highWatermark: 1n, values: [] });
    expect((await c2.request(65, 0, { transactionalIds: ["tx-t"] })).transactionStates[0].transactionState).toBe("Ongoing");

    const deadline = Date.now() + 15_000;
    let state = "";
    while (Date.now() < deadline && state !== "CompleteAbort") {
      await new Promise((r) => setTimeout(r, 250));
      state = (await c2.request(65, 0, { transactionalIds: ["tx-t"] })).transactionStates[0].transactionState;
    }
    expect(state).toBe("CompleteAbort");
    const after = await fetch(c2, 1);
    expect(after.lastStableOffset).toBe(2n);
    // The record is returned with its range in the aborted index: the client drops it.
    expect(after.control).toBe(1);
    expect(after.aborted).toEqual([{ producerId: pid, firstOffset: 0n }]);
    // The timeout bumped the epoch: the producer that let it expire is fenced.
    expect((await endTxn(c2, "tx-t", pid, epoch, true)).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  }, 60_000);
});
