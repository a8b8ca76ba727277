import { describe, expect, it } from "vitest";
import { ErrorCode } from "../protocol/errors.js";
import { ManualClock } from "../storage/clock.js";
import { TxnCoordinator, type TxnCoordinatorDeps } from "./coordinator.js";
import type { TxnOffset, TxnPartition, TxnRecord } from "./txn-state.js";

const FENCED = ErrorCode.PRODUCER_FENCED;

/** A broker around the coordinator: a durable record list, marker and offset logs, and a crash switch. */
function world() {
  const clock = new ManualClock(1000);
  const records: TxnRecord[] = [];
  const markers: { partitions: TxnPartition[]; producerId: bigint; producerEpoch: number; commit: boolean }[] = [];
  const offsets: TxnOffset[] = [];
  let next = 100n;
  let failMarkers = false;
  const deps: TxnCoordinatorDeps = {
    clock,
    maxTimeoutMs: 60_000,
    allocateProducerId: async () => next++,
    persist: async (r) => {
      records.push(r);
    },
    writeMarkers: async (partitions, producerId, producerEpoch, commit) => {
      if (failMarkers) throw new Error("disk full");
      markers.push({ partitions, producerId, producerEpoch, commit });
    },
    commitOffsets: async (o) => {
      offsets.push(...o);
    },
  };
  /** A new coordinator that has replayed every durable record, as after a restart. */
  const restart = () => {
    const c = new TxnCoordinator(deps);
    for (const r of records) c.state.apply(r);
    return c;
  };
  return { clock, records, markers, offsets, deps, restart, setFailMarkers: (v: boolean) => (failMarkers = v) };
}

const p0 = { topic: "out", partition: 0 };
const offset = (o: bigint): TxnOffset => ({ groupId: "g", topic: "in", partition: 0, offset: o, leaderEpoch: -1, metadata: null });

/** Initialises "t", adds partition p0 and group g, and holds one offset for g. */
async function openWithOffset(c: TxnCoordinator, at: bigint) {
  const { producerId } = await c.initProducerId("t", 10_000, null, FENCED);
  const who = { producerId, producerEpoch: 0 };
  await c.addPartitions("t", who, [p0], FENCED);
  await c.addOffsets("t", who, "g", FENCED);
  await c.txnOffsetCommit("t", who, [offset(at)], FENCED);
  return who;
}

describe("transaction coordinator", () => {
  it("commits: markers on every partition, then the offsets, then CompleteCommit", async () => {
    const w = world();
    const c = new TxnCoordinator(w.deps);
    const init = await c.initProducerId("t", 10_000, null, FENCED);
    expect(init).toMatchObject({ errorCode: ErrorCode.NONE, producerEpoch: 0 });
    const who = { producerId: init.producerId, producerEpoch: 0 };
    expect((await c.addPartitions("t", who, [p0, { topic: "out", partition: 1 }], FENCED)).errorCode).toBe(ErrorCode.NONE);
    expect((await c.addOffsets("t", who, "g", FENCED)).errorCode).toBe(ErrorCode.NONE);
    expect((await c.txnOffsetCommit("t", who, [offset(7n)], FENCED)).errorCode).toBe(ErrorCode.NONE);
    expect(w.offsets).toEqual([]);
    expect((await c.endTxn("t", who, true, FENCED)).errorCode).toBe(ErrorCode.NONE);
    expect(w.markers).toEqual([{ partitions: [p0, { topic: "out", partition: 1 }], producerId: init.producerId, producerEpoch: 0, commit: true }]);
    expect(w.offsets).toEqual([offset(7n)]);
    expect(w.records.map((r) => r.status)).toEqual(["Empty", "Ongoing", "Ongoing", "Ongoing", "PrepareCommit", "CompleteCommit"]);
  });

  it("aborts without committing offsets", async () => {
    const w = world();
    const c = new TxnCoordinator(w.deps);
    const who = await openWithOffset(c, 7n);
    await c.endTxn("t", who, false, FENCED);
    expect(w.markers.map((m) => m.commit)).toEqual([false]);
    expect(w.offsets).toEqual([]);
  });

  it("fences a zombie: a new producer aborts its open transaction and takes a higher epoch", async () => {
    const w = world();
    const c = new TxnCoordinator(w.deps);
    const first = await c.initProducerId("t", 10_000, null, FENCED);
    const zombie = { producerId: first.producerId, producerEpoch: first.producerEpoch };
    await c.addPartitions("t", zombie, [p0], FENCED);
    const retry = await c.initProducerId("t", 10_000, null, FENCED);
    expect(retry.errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(w.markers).toEqual([{ partitions: [p0], producerId: first.producerId, producerEpoch: 1, commit: false }]);
    const second = await c.initProducerId("t", 10_000, null, FENCED);
    expect(second).toMatchObject({ errorCode: ErrorCode.NONE, producerId: first.producerId, producerEpoch: 2 });
    expect((await c.endTxn("t", zombie, true, FENCED)).errorCode).toBe(FENCED);
    expect((await c.addPartitions("t", zombie, [p0], ErrorCode.INVALID_PRODUCER_EPOCH)).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  });

  it("aborts a transaction that outlives its timeout and fences its producer", async () => {
    const w = world();
    const c = new TxnCoordinator(w.deps);
    const { producerId } = await c.initProducerId("t", 500, null, FENCED);
    const who = { producerId, producerEpoch: 0 };
    await c.addPartitions("t", who, [p0], FENCED);
    w.clock.advance(499);
    await c.tick();
    expect(w.markers).toEqual([]);
    w.clock.advance(1);
    await c.tick();
    expect(w.markers).toEqual([{ partitions: [p0], producerId, producerEpoch: 1, commit: false }]);
    expect(c.state.get("t")!.status).toBe("CompleteAbort");
    expect((await c.endTxn("t", who, true, FENCED)).errorCode).toBe(FENCED);
  });

  it("finishes after a restart a commit that crashed between PrepareCommit and the markers", async () => {
    const w = world();
    const c = new TxnCoordinator(w.deps);
    const who = await openWithOffset(c, 3n);
    const { producerId } = who;
    w.setFailMarkers(true);
    await expect(c.endTxn("t", who, true, FENCED)).rejects.toThrow(/disk full/);
    expect(w.records.at(-1)!.status).toBe("PrepareCommit");
    w.setFailMarkers(false);
    const after = w.restart();
    expect((await after.endTxn("t", who, true, FENCED)).errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    await after.resume();
    expect(w.markers).toEqual([{ partitions: [p0], producerId, producerEpoch: 0, commit: true }]);
    expect(w.offsets).toEqual([offset(3n)]);
    expect(after.state.get("t")!.status).toBe("CompleteCommit");
    // The producer's retried EndTxn now succeeds.
    expect((await after.endTxn("t", who, true, FENCED)).errorCode).toBe(ErrorCode.NONE);
  });

  it("runs one request at a time per transactional id", async () => {
    const w = world();
    const c = new TxnCoordinator(w.deps);
    const { producerId } = await c.initProducerId("t", 10_000, null, FENCED);
    const who = { producerId, producerEpoch: 0 };
    const parts = Array.from({ length: 20 }, (_, i) => ({ topic: "out", partition: i }));
    await Promise.all(parts.map((p) => c.addPartitions("t", who, [p], FENCED)));
    expect(c.state.get("t")!.partitions).toHaveLength(20);
  });

  it("an id whose partition moved away mid-call: the durable record stays for the new owner, the call fails, and the ticker leaves the id alone", async () => {
    const w = world();
    let owned = true;
    const c = new TxnCoordinator({ ...w.deps, owns: () => owned });
    const who = await openWithOffset(c, 5n);
    const persist = w.deps.persist;
    // The partition moves while the PrepareCommit record is being written.
    const moving = { ...w.deps, owns: () => owned, persist: async (r: TxnRecord) => {
      await persist(r);
      owned = false;
    } };
    const moved = new TxnCoordinator(moving);
    for (const r of w.records) moved.state.apply(r);
    await expect(moved.endTxn("t", who, true, FENCED)).rejects.toThrow(/moved to another coordinator/);
    // Not applied here, and no marker written by the old owner.
    expect(moved.state.get("t")!.status).toBe("Ongoing");
    expect(w.markers).toHaveLength(0);
    // The ticker neither resumes nor times out ids it does not own.
    w.clock.advance(60_000);
    await moved.tick();
    expect(w.markers).toHaveLength(0);
    // The new owner replays the durable PrepareCommit and finishes it.
    const next = w.restart();
    expect(next.state.get("t")!.status).toBe("PrepareCommit");
    await next.resume();
    expect(next.state.get("t")!.status).toBe("CompleteCommit");
    expect(w.offsets.map((o) => o.offset)).toEqual([5n]);
  });
});
