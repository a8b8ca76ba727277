import type { ArenaSlab } from "./cache-arena.js";
import type { SsoBlock } from "./stream-set-object.js";
import { PartitionTxnIndex } from "../txn/partition-txn-index.js";

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A batch held in memory: the tail of the partition, and everything not yet in an object. */
export interface CachedBatch {
  baseOffset: bigint;
  lastOffset: bigint;
  maxTimestamp: bigint;
  bytes: Buffer;
  /** In the WAL (acknowledged); until then it is invisible to readers. */
  durable: boolean;
  /** In a committed object; only then may the cache drop it. */
  uploaded: boolean;
  /** The tail cache's slab holding `bytes`, or null if they are a buffer of their own (recovery, a full arena). */
  slab: ArenaSlab | null;
}

/** One block of a committed stream-set object, as the partition's index sees it. */
export interface BlockRef extends SsoBlock {
  key: string;
  /** Largest maxTimestamp of this and every earlier block: makes timestamp lookup a binary search. */
  maxTimestampSoFar: bigint;
}

/**
 * The state of one partition. Offsets, in order:
 *
 *   logStartOffset <= (blocks: objects) < uploadedEnd <= highWatermark <= nextOffset
 *
 * with the in-memory `cache` covering [cache[0].baseOffset, nextOffset) and always
 * including [uploadedEnd, nextOffset). Batches at or above the high watermark have offsets
 * but are not durable yet; readers never see them.
 */
export class PartitionLog {
  nextOffset = 0n;
  highWatermark = 0n;
  logStartOffset = 0n;
  uploadedEnd = 0n;
  readonly blocks: BlockRef[] = [];
  cache: CachedBatch[] = [];
  readonly listeners = new Set<() => void>();
  /**
   * Transactions as the committed objects left them (folded from the commits' events, up to
   * `uploadedEnd`): what a restart or a new leader starts from (ADR 0004).
   */
  txnCommitted = new PartitionTxnIndex();
  /** Transactions up to `nextOffset`: the committed view plus every batch appended since. Serves LSO and aborted ranges. */
  txn = new PartitionTxnIndex();

  constructor(
    readonly topicId: string,
    public topic: string,
    readonly partition: number,
  ) {}

  /** First offset held in memory. */
  cacheStart(): bigint {
    return this.cache[0]?.baseOffset ?? this.nextOffset;
  }

  /** Index of the cached batch that contains `offset`, or -1. */
  cacheIndexOf(offset: bigint): number {
    return containing(this.cache, offset);
  }

  /** Index of the object block that contains `offset`, or -1. */
  blockIndexOf(offset: bigint): number {
    return containing(this.blocks, offset);
  }

  addBlocks(key: string, blocks: SsoBlock[]): void {
    for (const b of blocks) {
      const prev = this.blocks[this.blocks.length - 1];
      const soFar = prev && prev.maxTimestampSoFar > b.maxTimestamp ? prev.maxTimestampSoFar : b.maxTimestamp;
      this.blocks.push({ ...b, key, maxTimestampSoFar: soFar });
    }
  }

  /** Replaces blocks [from, to) with `fresh` blocks of object `key`; returns the removed ones. */
  replaceBlocks(from: number, to: number, key: string, fresh: SsoBlock[]): BlockRef[] {
    const removed = this.blocks.splice(from, to - from, ...fresh.map((b) => ({ ...b, key, maxTimestampSoFar: b.maxTimestamp })));
    for (let i = from; i < this.blocks.length; i++) {
      const prev = this.blocks[i - 1];
      const b = this.blocks[i]!;
      b.maxTimestampSoFar = prev && prev.maxTimestampSoFar > b.maxTimestamp ? prev.maxTimestampSoFar : b.maxTimestamp;
    }
    return removed;
  }

  /** Index of the first block whose running max timestamp reaches `timestampMs`, or -1. */
  firstBlockReaching(timestampMs: bigint): number {
    let lo = 0;
    let hi = this.blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.blocks[mid]!.maxTimestampSoFar >= timestampMs) hi = mid;
      else lo = mid + 1;
    }
    return lo < this.blocks.length ? lo : -1;
  }

  /** Drops object blocks wholly below the log start (their objects become garbage once no partition needs them). */
  dropBlocksBelow(offset: bigint): BlockRef[] {
    let n = 0;
    while (n < this.blocks.length && this.blocks[n]!.lastOffset < offset) n++;
    return this.blocks.splice(0, n);
  }

  notify(): void {
    for (const l of [...this.listeners]) l();
  }
}

/** Binary search over ranges sorted by baseOffset and contiguous. */
function containing(ranges: readonly { baseOffset: bigint; lastOffset: bigint }[], offset: bigint): number {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid]!;
    if (offset < r.baseOffset) hi = mid - 1;
    else if (offset > r.lastOffset) lo = mid + 1;
    else return mid;
  }
  return -1;
}
