import { describe, expect, it } from "vitest";
import { batchesOf, setBaseOffset } from "../protocol/record-batch.js";
import type { InternalTopicLog } from "../cluster/internal-topic-replay.js";
import { ErrorCode } from "../protocol/errors.js";
import { TxnStateMachine } from "./txn-state.js";
import { TxnTopic } from "./txn-topic.js";

/** Just enough of a log: partitions of assigned-offset batches, read back from any offset. */
class MemoryLog implements InternalTopicLog {
  readonly parts = new Map<string, { base: bigint; bytes: Buffer }[]>();
  private list(topicId: string, p: number) {
    const k = `${topicId}/${p}`;
    let l = this.parts.get(k);
    if (!l) this.parts.set(k, (l = []));
    return l;
  }
  async append(topicId: string, partition: number, batches: Buffer[]) {
    const l = this.list(topicId, partition);
    const baseOffset = this.highWatermark(topicId, partition);
    let next = baseOffset;
    for (const b of batches) {
      setBaseOffset(b, next);
      l.push({ base: next, bytes: b });
      next += BigInt(b.readInt32BE(23) + 1);
    }
    return { baseOffset, logAppendTimeMs: -1n };
  }
  async read(topicId: string, partition: number, fetchOffset: bigint) {
    return Buffer.concat(this.list(topicId, partition).filter((e) => e.base + BigInt(e.bytes.readInt32BE(23)) >= fetchOffset).map((e) => e.bytes));
  }
  logStartOffset() {
    return 0n;
  }
  highWatermark(topicId: string, partition: number) {
    let n = 0n;
    for (const e of this.list(topicId, partition)) for (const { header } of batchesOf(e.bytes)) n = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
    return n;
  }
}

const topic = { topicId: "tid-txn", name: "__transaction_state", partitions: 4, configs: {}, internal: true };

describe("__transaction_state", () => {
  it("persists each transition and replays to the same coordinator state", async () => {
    const log = new MemoryLog();
    const txnTopic = new TxnTopic(log, topic);
    const live = new TxnStateMachine(900_000);
    let next = 1n;
    const alloc = () => next++;
    for (const id of ["a", "b", "c", "d", "e"]) {
      const d = live.initProducerId(id, 60_000, null, 0, alloc, ErrorCode.PRODUCER_FENCED);
      if (d.kind !== "ok" || !d.record) throw new Error("init failed");
      await txnTopic.persist(d.record);
      live.apply(d.record);
      const who = { producerId: d.record.producerId, producerEpoch: 0 };
      const add = live.add(id, who, [{ topic: "out", partition: 0 }], ["g"], 1, ErrorCode.PRODUCER_FENCED);
      if (add.kind !== "ok" || !add.record) throw new Error("add failed");
      await txnTopic.persist(add.record);
      live.apply(add.record);
    }
    const end = live.endTxn("a", { producerId: 1n, producerEpoch: 0 }, true, 2, ErrorCode.PRODUCER_FENCED);
    if (end.kind !== "ok" || !end.record) throw new Error("end failed");
    await txnTopic.persist(end.record);
    live.apply(end.record);

    // Records of one id stay on one partition, so their order survives.
    const used = [...log.parts.keys()];
    expect(used.length).toBeGreaterThan(1);

    const replayed = new TxnStateMachine(900_000);
    await new TxnTopic(log, topic).replay(replayed);
    const byId = (m: TxnStateMachine) => m.all().sort((x, y) => x.transactionalId.localeCompare(y.transactionalId));
    expect(byId(replayed)).toEqual(byId(live));
    expect(replayed.unfinished().map((t) => [t.transactionalId, t.status])).toEqual([["a", "PrepareCommit"]]);
  });
});
