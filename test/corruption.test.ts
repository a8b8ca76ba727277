import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../broker/protocol/errors.js";
import { buildRecordBatch } from "../broker/protocol/records.js";
import { startTestBroker, type TestBroker } from "./broker-fixture.js";
import { RawClient } from "./raw-client.js";

/**
 * A damaged object is detected by its checksum, reported to the client as a storage error
 * for that partition, and never served as data; the broker keeps serving the rest.
 */
let broker: TestBroker;

afterAll(async () => {
  await broker?.close();
});

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe("corruption", () => {
  it("refuses to serve a record batch from a damaged object", async () => {
    broker = await startTestBroker({ uploadIntervalMs: 50 });
    let c = await RawClient.connect(broker.port);
    await c.request(19, 7, { topics: [{ name: "bad", numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }, { name: "good", numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
    const res = await c.request(0, 9, { acks: -1, timeoutMs: 5000, topicData: [{ name: "bad", partitionData: [{ index: 0, records: buildRecordBatch([{ key: null, value: Buffer.alloc(4000, 0x61) }]) }] }] });
    expect(res.responses[0].partitionResponses[0].errorCode).toBe(0);
    // Wait for the upload, then restart so the batch can only come from the object.
    await broker.running.broker.partitions.log.flush();
    c.close();
    await broker.restart();
    const objects = filesUnder(path.join(broker.dataDir, "objects")).filter((f) => fs.statSync(f).size > 4000);
    expect(objects.length).toBeGreaterThan(0);
    for (const f of objects) {
      const bytes = fs.readFileSync(f);
      const i = bytes.indexOf(Buffer.alloc(64, 0x61));
      if (i >= 0) {
        bytes[i + 10] = 0x62;
        fs.writeFileSync(f, bytes);
      }
    }
    c = await RawClient.connect(broker.port);
    const fetch = await c.request(1, 11, {
      replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic: "bad", partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [], rackId: "",
    });
    const p = fetch.responses[0].partitions[0];
    expect(p.errorCode).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
    expect(p.records === null || p.records.length === 0).toBe(true);
    // Other partitions are unaffected.
    const ok = await c.request(0, 9, { acks: -1, timeoutMs: 5000, topicData: [{ name: "good", partitionData: [{ index: 0, records: buildRecordBatch([{ key: null, value: Buffer.from("fine") }]) }] }] });
    expect(ok.responses[0].partitionResponses[0].errorCode).toBe(0);
    c.close();
  });
});
