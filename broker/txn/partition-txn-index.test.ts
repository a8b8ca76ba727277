import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Attr, readBatchHeader, type BatchHeader } from "../protocol/record-batch.js";
import { buildRecordBatch } from "../protocol/records.js";
import { buildControlBatch, controlTypeOf, CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT, PartitionTxnIndex, txnEventsOf } from "./partition-txn-index.js";

function data(producerId: bigint, transactional: boolean): BatchHeader {
  return {
    baseOffset: 0n, batchLength: 0, partitionLeaderEpoch: -1, magic: 2, crc: 0, attributes: transactional ? Attr.transactional : 0,
    lastOffsetDelta: 0, baseTimestamp: 0n, maxTimestamp: 0n, producerId, producerEpoch: 0, baseSequence: 0, recordCount: 1,
  };
}

function marker(producerId: bigint): BatchHeader {
  return { ...data(producerId, true), attributes: Attr.transactional | Attr.control, baseSequence: -1 };
}

describe("control batches", () => {
  it("carry the control and transactional bits and a version-0 key with the marker type", () => {
    for (const commit of [true, false]) {
      const bytes = buildControlBatch(9n, 3, commit, 0, 1000n);
      const h = readBatchHeader(bytes);
      expect(h.attributes & Attr.control).toBe(Attr.control);
      expect(h.attributes & Attr.transactional).toBe(Attr.transactional);
      expect(h.producerId).toBe(9n);
      expect(h.producerEpoch).toBe(3);
      expect(h.recordCount).toBe(1);
      expect(controlTypeOf(bytes)).toBe(commit ? CONTROL_TYPE_COMMIT : CONTROL_TYPE_ABORT);
    }
  });
});

describe("partition transaction index", () => {
  it("holds the last stable offset at the first offset of the oldest open transaction", () => {
    const ix = new PartitionTxnIndex();
    ix.observe(data(1n, false), 0n);
    expect(ix.lastStableOffset(1n)).toBe(1n);
    ix.observe(data(2n, true), 1n);
    ix.observe(data(3n, true), 2n);
    ix.observe(data(2n, true), 3n);
    expect(ix.lastStableOffset(4n)).toBe(1n);
    ix.observe(marker(2n), 4n, CONTROL_TYPE_COMMIT);
    expect(ix.lastStableOffset(5n)).toBe(2n);
    ix.observe(marker(3n), 5n, CONTROL_TYPE_ABORT);
    expect(ix.lastStableOffset(6n)).toBe(6n);
    expect(ix.abortedBetween(0n, 6n)).toEqual([{ producerId: 3n, firstOffset: 2n, lastOffset: 5n }]);
  });

  it("returns only aborted ranges that overlap the fetched range", () => {
    const ix = new PartitionTxnIndex();
    ix.observe(data(1n, true), 10n);
    ix.observe(marker(1n), 12n, CONTROL_TYPE_ABORT);
    ix.observe(data(1n, true), 20n);
    ix.observe(marker(1n), 21n, CONTROL_TYPE_ABORT);
    expect(ix.abortedBetween(13n, 20n)).toEqual([]);
    expect(ix.abortedBetween(12n, 13n).map((a) => a.firstOffset)).toEqual([10n]);
    expect(ix.abortedBetween(0n, 100n).map((a) => a.firstOffset)).toEqual([10n, 20n]);
    ix.truncateBelow(13n);
    expect(ix.abortedBetween(0n, 100n).map((a) => a.firstOffset)).toEqual([20n]);
  });

  it("ignores a marker with no open transaction (a retried EndTxn)", () => {
    const ix = new PartitionTxnIndex();
    ix.observe(marker(4n), 0n, CONTROL_TYPE_ABORT);
    expect(ix.abortedBetween(0n, 10n)).toEqual([]);
    expect(ix.lastStableOffset(1n)).toBe(1n);
  });

  it("reopens a transaction whose abort marker was rewound", () => {
    const ix = new PartitionTxnIndex();
    ix.observe(data(1n, true), 0n);
    ix.observe(marker(1n), 1n, CONTROL_TYPE_ABORT);
    ix.rewind(1n);
    expect(ix.hasOpen(1n)).toBe(true);
    expect(ix.abortedBetween(0n, 10n)).toEqual([]);
    ix.rewind(0n);
    expect(ix.hasOpen(1n)).toBe(false);
  });

  it("never puts the LSO above the high watermark or past an open transaction (property)", () => {
    const step = fc.record({ pid: fc.integer({ min: 1, max: 4 }), kind: fc.constantFrom("data", "commit", "abort") });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const ix = new PartitionTxnIndex();
        const open = new Map<bigint, bigint>();
        let offset = 0n;
        for (const s of steps) {
          const pid = BigInt(s.pid);
          if (s.kind === "data") {
            ix.observe(data(pid, true), offset);
            if (!open.has(pid)) open.set(pid, offset);
          } else {
            ix.observe(marker(pid), offset, s.kind === "commit" ? CONTROL_TYPE_COMMIT : CONTROL_TYPE_ABORT);
            open.delete(pid);
          }
          offset++;
          const expected = [...open.values()].reduce((a, b) => (b < a ? b : a), offset);
          expect(ix.lastStableOffset(offset)).toBe(expected);
        }
      }),
    );
  });

  it("folding the events of any split of the log into commits equals observing every batch (property)", () => {
    const step = fc.record({ pid: fc.integer({ min: -1, max: 3 }), kind: fc.constantFrom("data", "data", "commit", "abort") });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 50 }), fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }), (steps, cuts) => {
        // Batches with offsets assigned, as the log store holds them; pid -1 is a plain batch.
        let offset = 0n;
        const batches = steps.map((s) => {
          const pid = BigInt(s.pid);
          const b =
            s.kind === "data" || pid < 0n
              ? buildRecordBatch([{ key: null, value: Buffer.from("x") }], pid < 0n ? {} : { producerId: pid, producerEpoch: 0, baseSequence: 0, attributes: Attr.transactional })
              : buildControlBatch(pid, 0, s.kind === "commit", 0, 1n);
          b.writeBigInt64BE(offset++, 0);
          return b;
        });
        const live = new PartitionTxnIndex();
        for (const b of batches) live.observeBatch(b);
        // The same batches cut into commit ranges of varying sizes, then snapshotted and restored.
        const committed = new PartitionTxnIndex();
        let at = 0;
        for (let i = 0; at < batches.length; i++) {
          const n = cuts[i % cuts.length]!;
          for (const e of txnEventsOf(batches.slice(at, at + n))) committed.observeEvent(e);
          at += n;
        }
        expect(committed.toTuples()).toEqual(live.toTuples());
        expect(PartitionTxnIndex.fromTuples(committed.toTuples()).clone().toTuples()).toEqual(live.toTuples());
        expect(committed.lastStableOffset(offset)).toBe(live.lastStableOffset(offset));
      }),
    );
  });
});
