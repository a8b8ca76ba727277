import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { buildRecordBatch, decodeRecords, firstRecordAtOrAfter } from "./records.js";
import { BatchError, readBatchHeader, splitAndValidateBatches, setBaseOffset } from "./record-batch.js";

describe("record batches", () => {
  it("round-trips records through a batch and validates its CRC", () => {
    const batch = buildRecordBatch(
      [
        { key: Buffer.from("k1"), value: Buffer.from("v1"), timestamp: 1000n, headers: [{ key: "h", value: Buffer.from("x") }] },
        { key: null, value: Buffer.from("v2"), timestamp: 1005n },
        { key: Buffer.from("k3"), value: null, timestamp: 999n },
      ],
      { baseOffset: 40n, producerId: 5n, producerEpoch: 1, baseSequence: 3 },
    );
    const [only] = splitAndValidateBatches(batch);
    expect(only!.header).toMatchObject({ baseOffset: 40n, recordCount: 3, lastOffsetDelta: 2, producerId: 5n, baseSequence: 3, baseTimestamp: 999n, maxTimestamp: 1005n });
    const records = decodeRecords(batch);
    expect(records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null])).toEqual([
      [40n, 1000n, "k1", "v1"],
      [41n, 1005n, null, "v2"],
      [42n, 999n, "k3", null],
    ]);
    expect(records[0]!.headers).toEqual([{ key: "h", value: Buffer.from("x") }]);
    expect(firstRecordAtOrAfter(batch, 1001n)).toEqual({ offset: 41n, timestamp: 1005n });
  });

  it("keeps the CRC valid when the broker rewrites baseOffset", () => {
    const batch = buildRecordBatch([{ key: null, value: Buffer.from("x") }]);
    setBaseOffset(batch, 123456789n);
    expect(() => splitAndValidateBatches(batch)).not.toThrow();
    expect(readBatchHeader(batch).baseOffset).toBe(123456789n);
  });

  it("detects any flipped byte covered by the CRC", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (value, pos, flip) => {
        const batch = buildRecordBatch([{ key: null, value: Buffer.from(value) }]);
        const at = 21 + (pos % (batch.length - 21));
        batch[at] = batch[at]! ^ flip;
        expect(() => splitAndValidateBatches(batch)).toThrow(BatchError);
      }),
      { numRuns: 200 },
    );
  });

  it("refuses old magic, truncation and trailing garbage", () => {
    const batch = buildRecordBatch([{ key: null, value: Buffer.from("x") }]);
    const magic1 = Buffer.from(batch);
    magic1[16] = 1;
    expect(() => splitAndValidateBatches(magic1)).toThrow(/magic 1/);
    expect(() => splitAndValidateBatches(batch.subarray(0, batch.length - 1))).toThrow(/does not fit/);
    expect(() => splitAndValidateBatches(Buffer.concat([batch, Buffer.from([1, 2, 3])]))).toThrow(/truncated/);
  });

  it("splits several concatenated batches", () => {
    const a = buildRecordBatch([{ key: null, value: Buffer.from("a") }]);
    const b = buildRecordBatch([{ key: null, value: Buffer.from("b") }, { key: null, value: Buffer.from("c") }]);
    expect(splitAndValidateBatches(Buffer.concat([a, b])).map((x) => x.header.recordCount)).toEqual([1, 2]);
  });
});
