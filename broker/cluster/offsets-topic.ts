import { buildRecordBatch } from "../protocol/records.js";
import { replayInternalTopic, type InternalTopicLog } from "./internal-topic-replay.js";
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
  /** `log.append` should be the gated one (PartitionManager.appendInternal) once partitions can move. */
  constructor(private readonly log: InternalTopicLog, readonly topic: TopicInfo) {}

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

  /** Reads every partition (or just `partition`) from its start and reports each group's records in log order. */
  async replay(visit: OffsetsReplayVisitor, partition?: number): Promise<void> {
    await replayInternalTopic(this.log, this.topic, (key, value) => replayRecord(key, value, visit), partition);
  }
}

function replayRecord(key: Buffer, value: Buffer | null, visit: OffsetsReplayVisitor): void {
  const k = JSON.parse(key.toString("utf8")) as { v: number; k: string; g: string; t?: string; p?: number };
  if (k.k === "group-deleted") visit.deleted(k.g);
  else if (k.k === "offset" && !value) visit.offsetsDeleted(k.g, [{ topic: k.t!, partition: k.p! }]);
  else if (k.k === "offset" && value) {
    const v = JSON.parse(value.toString("utf8")) as { o: string; e: number; m: string | null; ts: number };
    visit.offsets(k.g, [{ topic: k.t!, partition: k.p!, offset: BigInt(v.o), leaderEpoch: v.e, metadata: v.m, commitTimestampMs: v.ts }]);
  }
}
