import { CLUSTER_RECORD_TYPES, ClusterState, type ClusterRecord } from "../cluster/cluster-state.js";
import type { MetadataRecord } from "./metadata-log.js";
import { PartitionLog, type BlockRef } from "./partition-log.js";
import type { SsoBlock } from "./stream-set-object.js";
import { PartitionTxnIndex, type TxnEventTuple } from "../txn/partition-txn-index.js";

/**
 * The object index of the log store, as the storage records of the metadata log build it:
 * per partition the block list, log start and uploaded end; per object how many blocks
 * reference it; and which unreferenced objects await deletion (with the time they became
 * unreferenced, so the garbage collector can wait a grace period for in-flight reads).
 *
 * The live path and replay apply the same records through `apply`, so a restart rebuilds
 * exactly the view the running broker had. `compactStorageRecords` folds the records into
 * one `storage-state` record for metadata snapshots.
 *
 * Records (all JSON, bigints as strings):
 *  - object-committed   a stream-set object: per partition its offset range, blocks, producer tails,
 *                       transaction events (opens, commit/abort markers; ADR 0004)
 *  - object-compacted   a stream object replaces the blocks of [start, end) of one partition;
 *                       only applied if the partition's blocks there are exactly `replaced`
 *  - log-start-advanced blocks wholly below `offset` leave the index (retention, DeleteRecords)
 *  - partition-deleted  every block of the partition leaves the index
 *  - objects-deleted    the collector deleted these unreferenced objects
 *  - storage-state      snapshot form of all of the above
 *
 * With several brokers every leader commits its own objects (ADR 0003), so the index also
 * follows the cluster records (`cluster` below) and takes a commit's partition range only
 * if, at the commit's place in the log, it was written under the partition's current
 * leader epoch and continues the partition's objects. Anything else (a deposed leader
 * waking up late, a gap) is ignored by every reader alike, and its object becomes garbage.
 */
export const PRODUCER_BATCHES_KEPT = 5;

/** [baseOffset, lastOffset, maxTimestamp, position, length, crc] */
export type BlockTuple = [string, string, string, number, number, number];

export interface ObjectCommittedRecord extends MetadataRecord {
  type: "object-committed";
  key: string;
  epoch: number;
  size: number;
  /** Commit time (absent in records written before compaction existed). */
  atMs?: number;
  streams: {
    topicId: string;
    partition: number;
    start: string;
    end: string;
    blocks: BlockTuple[];
    /** Headers (61 bytes, base64) of the last batches of each idempotent producer in this range. */
    producers: string[];
    /** The leader epoch the range was written under (absent before multi-broker leadership). */
    leaderEpoch?: number;
    /** Transaction events of the range (absent before transactions, or when it has none). */
    txn?: TxnEventTuple[];
  }[];
}

export interface ObjectCompactedRecord extends MetadataRecord {
  type: "object-compacted";
  key: string;
  epoch: number;
  size: number;
  atMs: number;
  topicId: string;
  partition: number;
  start: string;
  end: string;
  blocks: BlockTuple[];
  /** The blocks being replaced, as `key#position`, in offset order: the optimistic check. */
  replaced: string[];
}

export interface StorageStateRecord extends MetadataRecord {
  type: "storage-state";
  /** [key, size, committedAtMs] of every referenced or pending object. */
  objects: [string, number, number][];
  partitions: {
    topicId: string;
    partition: number;
    logStart: string;
    end: string;
    /** [object index, ...BlockTuple] */
    blocks: [number, ...BlockTuple][];
    producers: string[];
    /** Open transactions `[pid, firstOffset]` and aborted ranges `[pid, first, last]` at `end`. */
    txnOpen?: [string, string][];
    txnAborted?: [string, string, string][];
  }[];
  deleted: [string, number][];
  /** [object index, unreferenced since ms] */
  pending: [number, number][];
}

export const STORAGE_RECORD_TYPES = new Set(["object-committed", "object-compacted", "partition-deleted", "log-start-advanced", "objects-deleted", "storage-state"]);

export interface ObjectInfo {
  size: number;
  refs: number;
  committedAtMs: number;
}

export const keyOf = (topicId: string, partition: number) => `${topicId}:${partition}`;
export const blockId = (b: { key: string; position: number }) => `${b.key}#${b.position}`;

export function blockToTuple(b: SsoBlock): BlockTuple {
  return [b.baseOffset.toString(), b.lastOffset.toString(), b.maxTimestamp.toString(), b.position, b.length, b.crc];
}

export function tupleToBlock(topicId: string, partition: number, t: BlockTuple): SsoBlock {
  const [base, last, maxTs, position, length, crc] = t;
  return { topicId, partition, baseOffset: BigInt(base), lastOffset: BigInt(last), maxTimestamp: BigInt(maxTs), position, length, crc };
}

export class StorageIndex {
  /** Brokers and partition leaders, from the cluster records in the same log, in the same order. */
  readonly cluster = new ClusterState();
  readonly partitions = new Map<string, PartitionLog>();
  readonly deleted = new Set<string>();
  readonly objects = new Map<string, ObjectInfo>();
  /** Unreferenced objects awaiting deletion: key → since (ms). */
  readonly pending = new Map<string, number>();
  /** Producer tails from objects, per partition (recovery rebuilds producer state from them). */
  readonly producerTails = new Map<string, Map<bigint, Buffer[]>>();
  onError: ((msg: string, details: Record<string, unknown>) => void) | undefined;

  /** Applies one storage record; other types are ignored. `nowMs` stands in for records without a time. */
  apply(r: MetadataRecord, nowMs: number): void {
    if (CLUSTER_RECORD_TYPES.has(r.type)) {
      this.cluster.apply(r as unknown as ClusterRecord);
      return;
    }
    switch (r.type) {
      case "object-committed":
        return this.applyCommitted(r as ObjectCommittedRecord, nowMs);
      case "object-compacted":
        this.applyCompacted(r as ObjectCompactedRecord);
        return;
      case "log-start-advanced": {
        const part = this.partitions.get(keyOf(r.topicId as string, r.partition as number));
        if (part) this.advanceLogStart(part, BigInt(r.offset as string), typeof r.atMs === "number" ? r.atMs : nowMs);
        return;
      }
      case "partition-deleted": {
        const k = keyOf(r.topicId as string, r.partition as number);
        this.deletePartition(k, typeof r.atMs === "number" ? r.atMs : nowMs);
        return;
      }
      case "objects-deleted":
        for (const key of r.keys as string[]) {
          this.pending.delete(key);
          if ((this.objects.get(key)?.refs ?? 0) === 0) this.objects.delete(key);
        }
        return;
      case "storage-state":
        this.applyState(r as StorageStateRecord);
        return;
      default:
        return;
    }
  }

  partitionFor(topicId: string, partition: number): PartitionLog {
    const k = keyOf(topicId, partition);
    let part = this.partitions.get(k);
    if (!part) {
      part = new PartitionLog(topicId, "", partition);
      this.partitions.set(k, part);
    }
    return part;
  }

  noteObject(key: string, size: number, atMs: number): void {
    if (!this.objects.has(key)) this.objects.set(key, { size, refs: 0, committedAtMs: atMs });
  }

  /** Appends blocks of object `key` to the partition's index (blocks below the log start are not kept). */
  addBlocks(part: PartitionLog, key: string, blocks: SsoBlock[]): void {
    const kept = blocks.filter((b) => b.lastOffset >= part.logStartOffset);
    part.addBlocks(key, kept);
    const info = this.objects.get(key);
    if (info) info.refs += kept.length;
  }

  /** Drops references; objects left without any become pending deletion since `atMs`. */
  release(blocks: readonly { key: string }[], atMs: number): void {
    for (const b of blocks) {
      const info = this.objects.get(b.key);
      if (!info) continue;
      info.refs--;
      if (info.refs <= 0) this.markPending(b.key, atMs);
    }
  }

  markPending(key: string, atMs: number): void {
    const info = this.objects.get(key);
    if (info && info.refs > 0) return;
    if (!this.pending.has(key)) this.pending.set(key, atMs);
  }

  advanceLogStart(part: PartitionLog, offset: bigint, atMs: number): void {
    if (offset <= part.logStartOffset) return;
    part.logStartOffset = offset;
    part.txnCommitted.truncateBelow(offset);
    part.txn.truncateBelow(offset);
    this.release(part.dropBlocksBelow(offset), atMs);
  }

  deletePartition(k: string, atMs: number): void {
    const part = this.partitions.get(k);
    this.partitions.delete(k);
    this.deleted.add(k);
    this.producerTails.delete(k);
    if (part) this.release(part.blocks.splice(0), atMs);
  }

  /**
   * The blocks of `part` that lie within [start, end), if they exactly tile it; else null.
   * A compaction is applied only when its `replaced` list still matches this.
   */
  blocksInRange(part: PartitionLog, start: bigint, end: bigint): { from: number; to: number } | null {
    const from = part.blockIndexOf(start);
    if (from < 0 || part.blocks[from]!.baseOffset !== start) return null;
    let to = from;
    while (to < part.blocks.length && part.blocks[to]!.lastOffset < end) to++;
    if (to === from || part.blocks[to - 1]!.lastOffset !== end - 1n) return null;
    return { from, to };
  }

  /** Returns false (and changes nothing) if the partition's index no longer holds exactly the replaced blocks. */
  applyCompacted(r: ObjectCompactedRecord): boolean {
    const k = keyOf(r.topicId, r.partition);
    const part = this.partitions.get(k);
    if (!part || this.deleted.has(k)) {
      this.noteObject(r.key, r.size, r.atMs);
      this.markPending(r.key, r.atMs);
      return false;
    }
    const range = this.blocksInRange(part, BigInt(r.start), BigInt(r.end));
    const current = range ? part.blocks.slice(range.from, range.to).map(blockId) : [];
    if (!range || current.length !== r.replaced.length || current.some((id, i) => id !== r.replaced[i])) {
      this.onError?.("compaction does not match the partition's index; not applied", { key: r.key, topicId: r.topicId, partition: r.partition });
      this.noteObject(r.key, r.size, r.atMs);
      this.markPending(r.key, r.atMs);
      return false;
    }
    this.noteObject(r.key, r.size, r.atMs);
    const fresh = r.blocks.map((t) => tupleToBlock(r.topicId, r.partition, t)).filter((b) => b.lastOffset >= part.logStartOffset);
    const removed = part.replaceBlocks(range.from, range.to, r.key, fresh);
    this.objects.get(r.key)!.refs += fresh.length;
    this.pending.delete(r.key);
    this.release(removed, r.atMs);
    if (fresh.length === 0) this.markPending(r.key, r.atMs);
    return true;
  }

  private applyCommitted(rec: ObjectCommittedRecord, nowMs: number): void {
    const atMs = rec.atMs ?? nowMs;
    this.noteObject(rec.key, rec.size, atMs);
    for (const s of rec.streams) {
      const k = keyOf(s.topicId, s.partition);
      if (this.deleted.has(k)) continue;
      const part = this.partitionFor(s.topicId, s.partition);
      const start = BigInt(s.start);
      const end = BigInt(s.end);
      if (end <= part.uploadedEnd) continue; // already applied (a replayed duplicate, or the same WAL data recovered twice)
      const current = this.cluster.leaderOf(s.topicId, s.partition)?.leaderEpoch;
      // Under cluster leadership every range must name the current epoch (one without any predates leadership).
      if (current !== undefined && s.leaderEpoch !== current) {
        this.onError?.("object commit from a leader epoch that is no longer current; ignored", { key: rec.key, topicId: s.topicId, partition: s.partition, leaderEpoch: s.leaderEpoch, currentLeaderEpoch: current });
        continue;
      }
      if (start > part.uploadedEnd) {
        this.onError?.("object commit leaves a gap after the partition's objects; ignored", { key: rec.key, topicId: s.topicId, partition: s.partition, start: s.start, objectsEnd: part.uploadedEnd.toString() });
        continue;
      }
      // Overlap (two brokers uploading the same recovered WAL data): only the part past the end counts.
      const from = part.uploadedEnd;
      this.addBlocks(part, rec.key, s.blocks.map((t) => tupleToBlock(s.topicId, s.partition, t)).filter((b) => b.lastOffset >= from));
      part.uploadedEnd = end;
      this.addProducers(k, s.producers);
      for (const e of s.txn ?? []) if (BigInt(e[1]) >= from) part.txnCommitted.observeEvent(e);
    }
    if ((this.objects.get(rec.key)?.refs ?? 0) === 0) this.markPending(rec.key, atMs);
  }

  addProducers(k: string, producers: string[]): void {
    let tails = this.producerTails.get(k);
    if (!tails) this.producerTails.set(k, (tails = new Map()));
    for (const h64 of producers) {
      const h = Buffer.from(h64, "base64");
      const pid = h.readBigInt64BE(43);
      const list = tails.get(pid) ?? [];
      list.push(h);
      if (list.length > PRODUCER_BATCHES_KEPT) list.splice(0, list.length - PRODUCER_BATCHES_KEPT);
      tails.set(pid, list);
    }
  }

  private applyState(s: StorageStateRecord): void {
    const keys = s.objects.map(([key, size, at]) => {
      this.noteObject(key, size, at);
      return key;
    });
    for (const [topicId, partition] of s.deleted) this.deletePartition(keyOf(topicId, partition), 0);
    for (const p of s.partitions) {
      const k = keyOf(p.topicId, p.partition);
      const part = this.partitionFor(p.topicId, p.partition);
      this.deleted.delete(k);
      part.logStartOffset = BigInt(p.logStart);
      part.uploadedEnd = BigInt(p.end);
      part.txnCommitted = PartitionTxnIndex.fromTuples({ open: p.txnOpen, aborted: p.txnAborted });
      for (const [obj, ...t] of p.blocks) {
        const key = keys[obj]!;
        part.addBlocks(key, [tupleToBlock(p.topicId, p.partition, t as BlockTuple)]);
        this.objects.get(key)!.refs++;
      }
      this.addProducers(k, p.producers);
    }
    for (const [obj, since] of s.pending) this.markPending(keys[obj]!, since);
  }

  /** The whole index as one record (for snapshots). */
  toStateRecord(): StorageStateRecord {
    const objectIndex = new Map<string, number>();
    const objects: StorageStateRecord["objects"] = [];
    const idx = (key: string): number => {
      let i = objectIndex.get(key);
      if (i === undefined) {
        const info = this.objects.get(key);
        i = objects.length;
        objects.push([key, info?.size ?? 0, info?.committedAtMs ?? 0]);
        objectIndex.set(key, i);
      }
      return i;
    };
    const partitions: StorageStateRecord["partitions"] = [];
    for (const [k, part] of this.partitions) {
      const tails = this.producerTails.get(k);
      partitions.push({
        topicId: part.topicId,
        partition: part.partition,
        logStart: part.logStartOffset.toString(),
        end: part.uploadedEnd.toString(),
        blocks: part.blocks.map((b) => [idx(b.key), ...blockToTuple(b)]),
        producers: tails ? [...tails.values()].flat().map((h) => h.toString("base64")) : [],
        ...txnTuplesOf(part.txnCommitted),
      });
    }
    const pending: StorageStateRecord["pending"] = [...this.pending].map(([key, since]) => [idx(key), since]);
    const deleted: [string, number][] = [...this.deleted].map((k) => {
      const at = k.lastIndexOf(":");
      return [k.slice(0, at), Number(k.slice(at + 1))];
    });
    return { type: "storage-state", objects, partitions, deleted, pending };
  }
}

function txnTuplesOf(ix: PartitionTxnIndex): Pick<StorageStateRecord["partitions"][number], "txnOpen" | "txnAborted"> {
  const { open, aborted } = ix.toTuples();
  return { ...(open.length > 0 ? { txnOpen: open } : {}), ...(aborted.length > 0 ? { txnAborted: aborted } : {}) };
}

/**
 * Folds the storage records into one `storage-state` record and the cluster records into
 * one `cluster-state` record (placed where the first storage record was); every other
 * record is kept, in order. Replaying the result gives the
 * same index: same blocks, log starts, ends, producer tails and pending deletions, and the
 * same commits ignored for a stale leader epoch.
 */
export function compactStorageRecords(records: MetadataRecord[]): MetadataRecord[] {
  const index = new StorageIndex();
  const out: MetadataRecord[] = [];
  let at = -1;
  let clusterSeen = false;
  for (const r of records) {
    if (STORAGE_RECORD_TYPES.has(r.type)) {
      if (at < 0) at = out.length;
      index.apply(r, 0);
    } else if (CLUSTER_RECORD_TYPES.has(r.type)) {
      // Applied in log order with the storage records, so a commit counts in the fold exactly when it counted live.
      index.apply(r, 0);
      clusterSeen = true;
    } else {
      out.push(r);
    }
  }
  // Both folds go where the storage records began: the storage state is already validated, and
  // the cluster state is what the next records build on (deleted partitions' leaders dropped).
  const folded: MetadataRecord[] = [];
  if (at >= 0) folded.push(index.toStateRecord());
  if (clusterSeen) folded.push(index.cluster.toRecord((topicId, partition) => !index.deleted.has(keyOf(topicId, partition))) as unknown as MetadataRecord);
  out.splice(at >= 0 ? at : out.length, 0, ...folded);
  return out;
}
