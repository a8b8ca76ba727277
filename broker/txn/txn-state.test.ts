import { describe, expect, it } from "vitest";
import { ErrorCode } from "../protocol/errors.js";
import { decodeTxnRecord, encodeTxnRecord, PRODUCER_EPOCH_MAX, TxnStateMachine, type TxnDecision, type TxnRecord } from "./txn-state.js";

const FENCED = ErrorCode.PRODUCER_FENCED;

function ids(): () => bigint {
  let next = 1000n;
  return () => next++;
}

function ok(d: TxnDecision): TxnRecord | null {
  if (d.kind !== "ok") throw new Error(`expected ok, got error ${d.errorCode}: ${d.message}`);
  return d.record;
}

function code(d: TxnDecision): number {
  return d.kind === "error" ? d.errorCode : ErrorCode.NONE;
}

/** Applies a decision's record, as the coordinator does once it is durable. */
function run(m: TxnStateMachine, d: TxnDecision): TxnRecord | null {
  const r = ok(d);
  if (r) m.apply(r);
  return r;
}

describe("transaction state machine", () => {
  it("walks Empty -> Ongoing -> PrepareCommit -> CompleteCommit and back to Ongoing", () => {
    const m = new TxnStateMachine(60_000);
    const alloc = ids();
    const init = run(m, m.initProducerId("t", 10_000, null, 0, alloc, FENCED))!;
    expect(init).toMatchObject({ producerId: 1000n, producerEpoch: 0, status: "Empty" });
    const who = { producerId: 1000n, producerEpoch: 0 };
    run(m, m.add("t", who, [{ topic: "a", partition: 0 }, { topic: "a", partition: 0 }], [], 5, FENCED));
    expect(m.get("t")).toMatchObject({ status: "Ongoing", partitions: [{ topic: "a", partition: 0 }], startMs: 5 });
    expect(ok(m.add("t", who, [{ topic: "a", partition: 0 }], [], 6, FENCED))).toBeNull();
    run(m, m.add("t", who, [], ["g"], 7, FENCED));
    expect(m.get("t")!.groups).toEqual(["g"]);
    const prep = run(m, m.endTxn("t", who, true, 8, FENCED))!;
    expect(prep.status).toBe("PrepareCommit");
    expect(m.unfinished().map((t) => t.transactionalId)).toEqual(["t"]);
    expect(code(m.add("t", who, [{ topic: "b", partition: 1 }], [], 9, FENCED))).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    m.apply(m.complete(prep, 10));
    expect(m.get("t")).toMatchObject({ status: "CompleteCommit", partitions: [], groups: [], startMs: -1 });
    // A retried EndTxn(commit) succeeds; an abort of the committed transaction does not.
    expect(ok(m.endTxn("t", who, true, 11, FENCED))).toBeNull();
    expect(code(m.endTxn("t", who, false, 11, FENCED))).toBe(ErrorCode.INVALID_TXN_STATE);
    run(m, m.add("t", who, [{ topic: "b", partition: 1 }], [], 12, FENCED));
    expect(m.get("t")).toMatchObject({ status: "Ongoing", partitions: [{ topic: "b", partition: 1 }], startMs: 12 });
  });

  it("refuses EndTxn with nothing open and timeouts over the broker maximum", () => {
    const m = new TxnStateMachine(60_000);
    const alloc = ids();
    expect(code(m.initProducerId("t", 60_001, null, 0, alloc, FENCED))).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    expect(code(m.initProducerId("t", 0, null, 0, alloc, FENCED))).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    run(m, m.initProducerId("t", 1000, null, 0, alloc, FENCED));
    expect(code(m.endTxn("t", { producerId: 1000n, producerEpoch: 0 }, true, 1, FENCED))).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(code(m.endTxn("other", { producerId: 1000n, producerEpoch: 0 }, true, 1, FENCED))).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(code(m.add("t", { producerId: 5n, producerEpoch: 0 }, [], ["g"], 1, FENCED))).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
  });

  it("fences the old producer when a new one initialises, aborting its open transaction", () => {
    const m = new TxnStateMachine(60_000);
    const alloc = ids();
    run(m, m.initProducerId("t", 1000, null, 0, alloc, FENCED));
    const zombie = { producerId: 1000n, producerEpoch: 0 };
    run(m, m.add("t", zombie, [{ topic: "a", partition: 0 }], [], 1, FENCED));
    const abort = run(m, m.initProducerId("t", 1000, null, 2, alloc, FENCED))!;
    expect(abort).toMatchObject({ status: "PrepareAbort", producerId: 1000n, producerEpoch: 1, lastProducerEpoch: 0, partitions: [{ topic: "a", partition: 0 }] });
    // While the abort runs, a new InitProducerId must wait.
    expect(code(m.initProducerId("t", 1000, null, 3, alloc, FENCED))).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    m.apply(m.complete(abort, 4));
    const again = run(m, m.initProducerId("t", 1000, null, 5, alloc, FENCED))!;
    expect(again).toMatchObject({ status: "Empty", producerEpoch: 2 });
    expect(code(m.add("t", zombie, [{ topic: "a", partition: 1 }], [], 6, FENCED))).toBe(FENCED);
    expect(code(m.endTxn("t", zombie, true, 6, ErrorCode.INVALID_PRODUCER_EPOCH))).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  });

  it("lets a producer that holds the current epoch re-initialise (KIP-360) and fences one that does not", () => {
    const m = new TxnStateMachine(60_000);
    const alloc = ids();
    run(m, m.initProducerId("t", 1000, null, 0, alloc, FENCED));
    const bumped = run(m, m.initProducerId("t", 1000, { producerId: 1000n, producerEpoch: 0 }, 1, alloc, FENCED))!;
    expect(bumped.producerEpoch).toBe(1);
    // The same request again (its response was lost) succeeds without another bump.
    expect(ok(m.initProducerId("t", 1000, { producerId: 1000n, producerEpoch: 0 }, 2, alloc, FENCED))).toBeNull();
    expect(code(m.initProducerId("t", 1000, { producerId: 999n, producerEpoch: 1 }, 2, alloc, FENCED))).toBe(FENCED);
  });

  it("moves to a new producer id when the epoch runs out", () => {
    const m = new TxnStateMachine(60_000);
    const alloc = ids();
    const first = run(m, m.initProducerId("t", 1000, null, 0, alloc, FENCED))!;
    m.apply({ ...first, producerEpoch: PRODUCER_EPOCH_MAX - 1 });
    const next = run(m, m.initProducerId("t", 1000, null, 1, alloc, FENCED))!;
    expect(next).toMatchObject({ producerId: 1001n, producerEpoch: 0 });
  });

  it("aborts transactions past their timeout at a bumped epoch", () => {
    const m = new TxnStateMachine(60_000);
    const alloc = ids();
    run(m, m.initProducerId("slow", 100, null, 0, alloc, FENCED));
    run(m, m.initProducerId("fast", 10_000, null, 0, alloc, FENCED));
    run(m, m.add("slow", { producerId: 1000n, producerEpoch: 0 }, [{ topic: "a", partition: 0 }], [], 10, FENCED));
    run(m, m.add("fast", { producerId: 1001n, producerEpoch: 0 }, [{ topic: "a", partition: 0 }], [], 10, FENCED));
    expect(m.expired(109, alloc)).toEqual([]);
    const expired = m.expired(110, alloc);
    expect(expired).toHaveLength(1);
    expect(expired[0]).toMatchObject({ transactionalId: "slow", status: "PrepareAbort", producerEpoch: 1 });
  });

  it("holds TxnOffsetCommit offsets for added groups only, newest per partition, until the end", () => {
    const m = new TxnStateMachine(60_000);
    const alloc = ids();
    run(m, m.initProducerId("t", 1000, null, 0, alloc, FENCED));
    const who = { producerId: 1000n, producerEpoch: 0 };
    const off = (groupId: string, offset: bigint) => ({ groupId, topic: "in", partition: 0, offset, leaderEpoch: -1, metadata: null });
    expect(code(m.commitOffsets("t", who, [off("g", 1n)], 1, FENCED))).toBe(ErrorCode.INVALID_TXN_STATE);
    run(m, m.add("t", who, [], ["g"], 1, FENCED));
    expect(code(m.commitOffsets("t", who, [off("other", 1n)], 2, FENCED))).toBe(ErrorCode.INVALID_TXN_STATE);
    run(m, m.commitOffsets("t", who, [off("g", 5n)], 2, FENCED));
    run(m, m.commitOffsets("t", who, [off("g", 9n)], 3, FENCED));
    expect(m.get("t")!.offsets).toEqual([off("g", 9n)]);
    const prep = run(m, m.endTxn("t", who, true, 4, FENCED))!;
    expect(prep.offsets).toEqual([off("g", 9n)]);
    m.apply(m.complete(prep, 5));
    expect(m.get("t")!.offsets).toEqual([]);
  });

  it("rebuilds the same state from its encoded records", () => {
    const m = new TxnStateMachine(60_000);
    const alloc = ids();
    const log: { key: Buffer; value: Buffer }[] = [];
    const persist = (d: TxnDecision) => {
      const r = run(m, d);
      if (r) log.push(encodeTxnRecord(r));
    };
    persist(m.initProducerId("t", 1000, null, 0, alloc, FENCED));
    persist(m.add("t", { producerId: 1000n, producerEpoch: 0 }, [{ topic: "a", partition: 2 }], ["g"], 1, FENCED));
    persist(m.commitOffsets("t", { producerId: 1000n, producerEpoch: 0 }, [{ groupId: "g", topic: "in", partition: 1, offset: 42n, leaderEpoch: 3, metadata: "m" }], 2, FENCED));
    persist(m.endTxn("t", { producerId: 1000n, producerEpoch: 0 }, false, 2, FENCED));
    const replayed = new TxnStateMachine(60_000);
    for (const { key, value } of log) replayed.apply(decodeTxnRecord(key, value));
    expect(replayed.all()).toEqual(m.all());
    expect(replayed.unfinished().map((t) => t.status)).toEqual(["PrepareAbort"]);
    expect(() => decodeTxnRecord(Buffer.from('{"v":2,"t":"t"}'), log[0]!.value)).toThrow(/version 2/);
  });
});
