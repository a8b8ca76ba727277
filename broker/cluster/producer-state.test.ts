import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PartitionProducerState } from "./producer-state.js";
import type { BatchHeader } from "../protocol/record-batch.js";

function header(producerId: bigint, epoch: number, baseSequence: number, records: number): BatchHeader {
  return {
    baseOffset: 0n, batchLength: 0, partitionLeaderEpoch: -1, magic: 2, crc: 0, attributes: 0,
    lastOffsetDelta: records - 1, baseTimestamp: 0n, maxTimestamp: 0n, producerId, producerEpoch: epoch, baseSequence, recordCount: records,
  };
}

describe("idempotent producer state", () => {
  it("accepts in-order batches and answers retries with the original offset", () => {
    const s = new PartitionProducerState();
    const a = header(7n, 0, 0, 10);
    expect(s.check(a)).toEqual({ kind: "append" });
    s.observe(a, 100n);
    const b = header(7n, 0, 10, 5);
    expect(s.check(b)).toEqual({ kind: "append" });
    s.observe(b, 110n);
    const retry = s.check(header(7n, 0, 0, 10));
    expect(retry.kind).toBe("duplicate");
    expect(retry.kind === "duplicate" && retry.batch.baseOffset).toBe(100n);
  });

  it("rejects gaps, old epochs, and a new epoch not starting at 0", () => {
    const s = new PartitionProducerState();
    s.observe(header(1n, 3, 0, 1), 0n);
    expect(s.check(header(1n, 3, 5, 1))).toMatchObject({ kind: "error", error: "OUT_OF_ORDER_SEQUENCE_NUMBER" });
    expect(s.check(header(1n, 2, 1, 1))).toMatchObject({ kind: "error", error: "INVALID_PRODUCER_EPOCH" });
    expect(s.check(header(1n, 4, 3, 1))).toMatchObject({ kind: "error", error: "OUT_OF_ORDER_SEQUENCE_NUMBER" });
    expect(s.check(header(1n, 4, 0, 1))).toEqual({ kind: "append" });
  });

  it("keeps only the last five batches for duplicate detection", () => {
    const s = new PartitionProducerState();
    for (let i = 0; i < 7; i++) s.observe(header(1n, 0, i, 1), BigInt(i));
    expect(s.check(header(1n, 0, 0, 1)).kind).toBe("error");
    expect(s.check(header(1n, 0, 2, 1)).kind).toBe("duplicate");
    expect(s.check(header(1n, 0, 7, 1)).kind).toBe("append");
  });

  it("wraps sequences past Int32.MAX", () => {
    const s = new PartitionProducerState();
    s.observe(header(1n, 0, 2 ** 31 - 2, 2), 0n);
    expect(s.check(header(1n, 0, 0, 1))).toEqual({ kind: "append" });
  });

  it("forgets rewound batches so a retry after a failed append is written again", () => {
    const s = new PartitionProducerState();
    s.observe(header(1n, 0, 0, 1), 0n);
    s.observe(header(1n, 0, 1, 1), 1n);
    s.rewind(1n);
    expect(s.check(header(1n, 0, 1, 1))).toEqual({ kind: "append" });
  });

  it("never reports a duplicate for a sequence it has not seen (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 30 }), (sizes) => {
        const s = new PartitionProducerState();
        let seq = 0;
        let offset = 0n;
        for (const n of sizes) {
          const h = header(9n, 0, seq, n);
          expect(s.check(h)).toEqual({ kind: "append" });
          s.observe(h, offset);
          seq += n;
          offset += BigInt(n);
        }
        expect(s.check(header(9n, 0, seq, 1))).toEqual({ kind: "append" });
      }),
      { numRuns: 100 },
    );
  });
});
