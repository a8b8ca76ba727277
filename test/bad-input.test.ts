import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kafka, logLevel } from "kafkajs";
import { ErrorCode } from "../broker/protocol/errors.js";
import { buildRecordBatch } from "../broker/protocol/records.js";
import { startTestBroker, type TestBroker } from "./broker-fixture.js";
import { RawClient } from "./raw-client.js";

/**
 * Bad input gets a clear error or a closed connection; the broker keeps serving everyone
 * else and loses nothing it acknowledged.
 */
let broker: TestBroker;
let kafka: Kafka;

function frameOf(payload: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
}

function header(apiKey: number, version: number, correlationId = 7): Buffer {
  const b = Buffer.alloc(10);
  b.writeInt16BE(apiKey, 0);
  b.writeInt16BE(version, 2);
  b.writeInt32BE(correlationId, 4);
  b.writeInt16BE(-1, 8); // null client id
  return b;
}

beforeAll(async () => {
  broker = await startTestBroker({ maxRequestBytes: 1024 * 1024 });
  kafka = new Kafka({ clientId: "bad-input", brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: "safe", messages: Array.from({ length: 100 }, (_, i) => ({ value: `m-${i}` })) });
  await producer.disconnect();
});

afterAll(async () => {
  await broker?.close();
});

/** Records acknowledged on "safe" so far; nothing acknowledged may ever go missing. */
let acknowledged = 100;

async function expectStillServing(): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets("safe");
  expect(offsets[0]!.high).toBe(String(acknowledged));
  await admin.disconnect();
}

describe("bad input", () => {
  it("answers ApiVersions at an unknown version with UNSUPPORTED_VERSION and its version list (v0 body)", async () => {
    const c = await RawClient.connect(broker.port);
    const reply = c.nextFrame();
    c.writeRaw(frameOf(header(18, 99)));
    const frame = await reply;
    expect(frame.readInt32BE(0)).toBe(7); // correlation id, response header v0
    expect(frame.readInt16BE(4)).toBe(ErrorCode.UNSUPPORTED_VERSION);
    expect(frame.readInt32BE(6)).toBeGreaterThan(5); // number of APIs listed
    c.close();
  });

  it("closes the connection for an unknown API key, an unsupported version, garbage and oversized frames", async () => {
    const cases: Buffer[] = [
      frameOf(header(999, 0)),
      frameOf(header(3, 99)),
      frameOf(Buffer.from("this is not kafka at all, just some garbage bytes")),
      (() => {
        const b = Buffer.alloc(4);
        b.writeInt32BE(512 * 1024 * 1024);
        return b;
      })(),
      frameOf(Buffer.concat([header(3, 1), Buffer.from([0x7f, 0xff, 0xff, 0xff])])), // topic array claims 2^31 entries
    ];
    for (const bytes of cases) {
      const c = await RawClient.connect(broker.port);
      c.writeRaw(bytes);
      await c.closed;
    }
    await expectStillServing();
  });

  it("survives a client that disconnects mid-request and one that sends a truncated frame", async () => {
    const c1 = await RawClient.connect(broker.port);
    const full = frameOf(Buffer.concat([header(3, 1), Buffer.alloc(4)]));
    c1.writeRaw(full.subarray(0, 9));
    c1.close();
    const c2 = await RawClient.connect(broker.port);
    c2.writeRaw(frameOf(Buffer.alloc(3)));
    await c2.closed;
    await expectStillServing();
  });

  it("refuses a batch with a bad CRC with CORRUPT_MESSAGE and keeps the partition intact", async () => {
    const c = await RawClient.connect(broker.port);
    const batch = buildRecordBatch([{ key: null, value: Buffer.from("tampered") }]);
    batch[batch.length - 1] ^= 0xff;
    const res = await c.request(0, 7, { acks: -1, timeoutMs: 5000, topicData: [{ name: "safe", partitionData: [{ index: 0, records: batch }] }] });
    expect(res.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    const ok = await c.request(0, 7, { acks: -1, timeoutMs: 5000, topicData: [{ name: "safe", partitionData: [{ index: 0, records: buildRecordBatch([{ key: null, value: Buffer.from("fine") }]) }] }] });
    expect(ok.responses[0].partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 100n });
    acknowledged++;
    c.close();
    const admin = kafka.admin();
    await admin.connect();
    expect((await admin.fetchTopicOffsets("safe"))[0]!.high).toBe("101");
    await admin.disconnect();
  });

  it("refuses old message formats, bad acks, and two batches in one Produce v3+ partition", async () => {
    const c = await RawClient.connect(broker.port);
    const one = buildRecordBatch([{ key: null, value: Buffer.from("x") }]);
    const produce = (records: Buffer, acks = -1) => c.request(0, 8, { acks, timeoutMs: 5000, topicData: [{ name: "safe", partitionData: [{ index: 0, records }] }] });
    const magic1 = Buffer.from(one);
    magic1[16] = 1;
    expect((await produce(magic1)).responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT);
    expect((await produce(Buffer.concat([one, one]))).responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect((await produce(one, 5)).responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.INVALID_REQUIRED_ACKS);
    c.close();
    await expectStillServing();
  });
});
