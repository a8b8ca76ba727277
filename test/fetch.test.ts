import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../broker/protocol/errors.js";
import { buildRecordBatch } from "../broker/protocol/records.js";
import { batchesOf } from "../broker/protocol/record-batch.js";
import { startTestBroker, type TestBroker } from "./broker-fixture.js";
import { RawClient } from "./raw-client.js";

/** Fetch at the wire level: long polls woken by appends, incremental sessions, size limits. */
let broker: TestBroker;
let c: RawClient;
let topicId: string;

beforeAll(async () => {
  broker = await startTestBroker({ autoCreateTopics: false });
  c = await RawClient.connect(broker.port);
  const created = await c.request(19, 7, { topics: [{ name: "f", numPartitions: 2, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
  expect(created.topics[0].errorCode).toBe(0);
  topicId = created.topics[0].topicId;
});

afterAll(async () => {
  c?.close();
  await broker?.close();
});

const produce = (partition: number, n: number, valueBytes = 10) =>
  c.request(0, 9, {
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: "f", partitionData: [{ index: partition, records: buildRecordBatch(Array.from({ length: n }, () => ({ key: null, value: Buffer.alloc(valueBytes, 7) }))) }] }],
  });

const fetchReq = (over: object, partitions: { partition: number; fetchOffset: bigint; partitionMaxBytes?: number }[]) => ({
  maxWaitMs: 0,
  minBytes: 1,
  maxBytes: 1 << 20,
  isolationLevel: 0,
  sessionId: 0,
  sessionEpoch: -1,
  topics: [{ topic: "f", topicId, partitions: partitions.map((p) => ({ partition: p.partition, currentLeaderEpoch: -1, fetchOffset: p.fetchOffset, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: p.partitionMaxBytes ?? 1 << 20 })) }],
  forgottenTopicsData: [],
  rackId: "",
  ...over,
});

describe("fetch", () => {
  it("refuses unknown topics when auto-creation is off", async () => {
    const meta = await c.request(3, 12, { topics: [{ topicId: "AAAAAAAAAAAAAAAAAAAAAA", name: "missing" }], allowAutoTopicCreation: true, includeTopicAuthorizedOperations: false });
    expect(meta.topics[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it("long-polls until an append arrives, then answers at once", async () => {
    const other = await RawClient.connect(broker.port);
    const started = Date.now();
    const pending = other.request(1, 12, fetchReq({ maxWaitMs: 10_000 }, [{ partition: 0, fetchOffset: 0n }]));
    await new Promise((r) => setTimeout(r, 200));
    await produce(0, 3);
    const res = await pending;
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(190);
    expect(waited).toBeLessThan(3000);
    const p = res.responses[0].partitions[0];
    expect(p.highWatermark).toBe(3n);
    expect([...batchesOf(p.records)].length).toBe(1);
    other.close();
  });

  it("waits max.wait.ms when nothing arrives, and answers OFFSET_OUT_OF_RANGE past the end", async () => {
    const started = Date.now();
    const res = await c.request(1, 12, fetchReq({ maxWaitMs: 300 }, [{ partition: 1, fetchOffset: 0n }]));
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(res.responses[0].partitions[0].records.length).toBe(0);
    const past = await c.request(1, 12, fetchReq({}, [{ partition: 0, fetchOffset: 99n }]));
    expect(past.responses[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  });

  it("keeps an incremental session: unchanged partitions are left out, changed ones come back", async () => {
    const full = await c.request(1, 12, fetchReq({ sessionEpoch: 0 }, [{ partition: 0, fetchOffset: 3n }, { partition: 1, fetchOffset: 0n }]));
    const sessionId = full.sessionId;
    expect(sessionId).toBeGreaterThan(0);
    expect(full.responses[0].partitions).toHaveLength(2);
    // Nothing changed: an incremental fetch with no partitions listed returns none.
    const quiet = await c.request(1, 12, { ...fetchReq({ sessionId, sessionEpoch: 1 }, []), topics: [] });
    expect(quiet.errorCode).toBe(0);
    expect(quiet.responses).toEqual([]);
    await produce(1, 2);
    const changed = await c.request(1, 12, { ...fetchReq({ sessionId, sessionEpoch: 2 }, []), topics: [] });
    expect(changed.responses[0].partitions.map((p: { partitionIndex: number }) => p.partitionIndex)).toEqual([1]);
    expect(changed.responses[0].partitions[0].highWatermark).toBe(2n);
    const wrongEpoch = await c.request(1, 12, { ...fetchReq({ sessionId, sessionEpoch: 7 }, []), topics: [] });
    expect(wrongEpoch.errorCode).toBe(ErrorCode.INVALID_FETCH_SESSION_EPOCH);
    const unknown = await c.request(1, 12, { ...fetchReq({ sessionId: 424242, sessionEpoch: 1 }, []), topics: [] });
    expect(unknown.errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
  });

  it("respects partition and response size limits, but always returns one whole batch to make progress", async () => {
    for (let i = 0; i < 5; i++) await produce(0, 1, 1000);
    const small = await c.request(1, 12, fetchReq({ maxBytes: 10 }, [{ partition: 0, fetchOffset: 3n, partitionMaxBytes: 10 }]));
    expect([...batchesOf(small.responses[0].partitions[0].records)]).toHaveLength(1);
    const two = await c.request(1, 12, fetchReq({}, [{ partition: 0, fetchOffset: 3n, partitionMaxBytes: 2200 }]));
    expect([...batchesOf(two.responses[0].partitions[0].records)]).toHaveLength(2);
  });

  it("serves topic ids at Fetch v13+", async () => {
    const res = await c.request(1, 13, fetchReq({}, [{ partition: 1, fetchOffset: 0n }]));
    expect(res.responses[0].topicId).toBe(topicId);
    expect(res.responses[0].partitions[0].highWatermark).toBe(2n);
    const bad = await c.request(1, 13, { ...fetchReq({}, [{ partition: 0, fetchOffset: 0n }]), topics: [{ topicId: "AAAAAAAAAAAAAAAAAAAAAQ", topic: "", partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1000 }] }] });
    expect(bad.responses[0].partitions[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_ID);
  });
});
