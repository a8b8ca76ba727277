import type { LogStore } from "../storage/log-store.js";
import { buildRecordBatch, decodeRecords } from "../protocol/records.js";
import { batchesOf } from "../protocol/record-batch.js";
import type { TopicInfo } from "./topics.js";

/**
 * Committed offsets live in the internal `__consumer_offsets` topic, written through the
 * WAL like any data, so they are exactly as durable as records and move with their
 * partition. A group's records go to partition `abs(javaHash(groupId)) % partitions`, the
 * same rule Kafka uses, so the owner of that partition is the group's coordinator.
 *
 * Record layout (JSON, versioned): key `{"v":1,"k":"offset","g","t","p"}` with value
 * `{"o":"<offset>","e":epoch,"m":metadata,"ts":ms}` (null value: offset deleted), or key
 * `{"v":1,"k":"group-deleted","g"}`.
 */
export interface OffsetCommitRecord {
  topic: string;
  partition: number;
  offset: bigint;
  leaderEpoch: number;
  metadata: string | null;
  commitTimestampMs: number;
}

/** Java's String.hashCode, so group placement matches Kafka's. */
export function javaStringHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

export function offsetsPartitionFor(groupId: string, partitions: number): number {
  // Kafka's Utils.abs maps MIN_VALUE to 0 rather than overflowing.
  const h = javaStringHash(groupId);
  return (h === -2147483648 ? 0 : Math.abs(h)) % partitions;
}

export interface OffsetsReplayVisitor {
  offsets(groupId: string, commits: OffsetCommitRecord[]): void;
  offsetsDeleted(groupId: string, partitions: { topic: string; partition: number }[]): void;
  deleted(groupId: string): void;
}

export class OffsetsTopic {
  constructor(private readonly log: LogStore, readonly topic: TopicInfo) {}

  partitionFor(groupId: string): number {
    return offsetsPartitionFor(groupId, this.topic.partitions);
  }

  async persist(groupId: string, commits: OffsetCommitRecord[]): Promise<void> {
    if (commits.length === 0) return;
    const records = commits.map((c) => ({
      key: Buffer.from(JSON.stringify({ v: 1, k: "offset", g: groupId, t: c.topic, p: c.partition })),
      value: Buffer.from(JSON.stringify({ o: c.offset.toString(), e: c.leaderEpoch, m: c.metadata, ts: c.commitTimestampMs })),
    }));
    await this.log.append(this.topic.topicId, this.partitionFor(groupId), [buildRecordBatch(records)]);
  }

  /** Tombstones: the offset record's key with a null value (OffsetDelete). */
  async persistOffsetsDeleted(groupId: string, partitions: { topic: string; partition: number }[]): Promise<void> {
    if (partitions.length === 0) return;
    const records = partitions.map((p) => ({ key: Buffer.from(JSON.stringify({ v: 1, k: "offset", g: groupId, t: p.topic, p: p.partition })), value: null }));
    await this.log.append(this.topic.topicId, this.partitionFor(groupId), [buildRecordBatch(records)]);
  }

  async persistGroupDeleted(groupId: string): Promise<void> {
    const key = Buffer.from(JSON.stringify({ v: 1, k: "group-deleted", g: groupId }));
    await this.log.append(this.topic.topicId, this.partitionFor(groupId), [buildRecordBatch([{ key, value: null }])]);
  }

  /** Reads every partition from its start and reports each group's records in log order. */
  async replay(visit: OffsetsReplayVisitor): Promise<void> {
    for (let p = 0; p < this.topic.partitions; p++) {
      let offset = this.log.logStartOffset(this.topic.topicId, p);
      const end = this.log.highWatermark(this.topic.topicId, p);
      while (offset < end) {
        const chunk = await this.log.read(this.topic.topicId, p, offset, 4 * 1024 * 1024);
        if (chunk.length === 0) break;
        const before = offset;
        for (const { bytes, header } of batchesOf(chunk)) {
          const last = header.baseOffset + BigInt(header.lastOffsetDelta);
          if (last < offset) continue;
          for (const r of decodeRecords(bytes)) replayRecord(r.key, r.value, visit);
          offset = last + 1n;
        }
        if (offset === before) throw new Error(`__consumer_offsets-${p}: no progress replaying at offset ${offset}`);
      }
    }
  }
}

function replayRecord(key: Buffer | null, value: Buffer | null, visit: OffsetsReplayVisitor): void {
  if (!key) return;
  const k = JSON.parse(key.toString("utf8")) as { v: number; k: string; g: string; t?: string; p?: number };
  if (k.k === "group-deleted") visit.deleted(k.g);
  else if (k.k === "offset" && !value) visit.offsetsDeleted(k.g, [{ topic: k.t!, partition: k.p! }]);
  else if (k.k === "offset" && value) {
    const v = JSON.parse(value.toString("utf8")) as { o: string; e: number; m: string | null; ts: number };
    visit.offsets(k.g, [{ topic: k.t!, partition: k.p!, offset: BigInt(v.o), leaderEpoch: v.e, metadata: v.m, commitTimestampMs: v.ts }]);
  }
}
