import { baseOffsetOf, lastOffsetDeltaOf, splitBatches } from "./batch.js";
import type { ObjectInfo } from "./log-store-index.js";
import type { ObjectStore } from "./object-store.js";
import type { BlockRef, PartitionLog } from "./partition-log.js";
import { ObjectCorruptError, verifyBlock } from "./stream-set-object.js";

/**
 * Compaction: the blocks one partition holds in many small stream-set objects are copied
 * (ranged GETs of just that partition's bytes) into one stream object
 * `objects/streams/<topicId>/<partition>/<baseOffset, 20 digits>-<writerId>-<seq>.so` in the
 * same format, with one partition. The swap is one `object-compacted` metadata record,
 * applied only if the partition's index still holds exactly the blocks that were copied.
 * A stream-set object whose every block has been compacted away (or dropped by retention)
 * is unreferenced and goes to the garbage collector, which waits a grace period first.
 */
export const STREAM_OBJECT_PREFIX = "objects/streams/";

export interface CompactionOptions {
  /** Compact once a partition holds this many bytes in stream-set objects... */
  minBytes: number;
  /** ...or its blocks are spread over this many stream-set objects... */
  minObjects: number;
  /** ...or its oldest stream-set block was committed this long ago. */
  maxAgeMs: number;
  /** Bound on the bytes read and written by one compaction (memory held while it runs). */
  bytesMax: number;
}

export interface CompactionPlan {
  part: PartitionLog;
  blocks: BlockRef[];
  start: bigint;
  end: bigint;
  bytes: number;
}

export const isStreamObject = (key: string) => key.startsWith(STREAM_OBJECT_PREFIX);

export function streamObjectKey(topicId: string, partition: number, baseOffset: bigint, writerId: string, seq: number): string {
  return `${STREAM_OBJECT_PREFIX}${topicId}/${partition}/${baseOffset.toString().padStart(20, "0")}-${writerId}-${seq}.so`;
}

/**
 * The first run of consecutive stream-set blocks of `part` that meets a threshold, cut to
 * `bytesMax` (at least one block). Null when no run qualifies.
 */
export function planCompaction(part: PartitionLog, objects: ReadonlyMap<string, ObjectInfo>, opts: CompactionOptions, nowMs: number): CompactionPlan | null {
  const blocks = part.blocks;
  let i = 0;
  while (i < blocks.length) {
    if (isStreamObject(blocks[i]!.key)) {
      i++;
      continue;
    }
    let j = i;
    let bytes = 0;
    const keys = new Set<string>();
    let oldest = Number.POSITIVE_INFINITY;
    while (j < blocks.length && !isStreamObject(blocks[j]!.key)) {
      const b = blocks[j]!;
      bytes += b.length;
      keys.add(b.key);
      const at = objects.get(b.key)?.committedAtMs ?? 0;
      if (at < oldest) oldest = at;
      j++;
    }
    if (bytes >= opts.minBytes || keys.size >= opts.minObjects || nowMs - oldest >= opts.maxAgeMs) {
      const taken: BlockRef[] = [];
      let takenBytes = 0;
      for (let k = i; k < j; k++) {
        const b = blocks[k]!;
        if (taken.length > 0 && takenBytes + b.length > opts.bytesMax) break;
        taken.push(b);
        takenBytes += b.length;
      }
      return { part, blocks: taken, start: taken[0]!.baseOffset, end: taken[taken.length - 1]!.lastOffset + 1n, bytes: takenBytes };
    }
    i = j;
  }
  return null;
}

/**
 * Reads the planned blocks with as few ranged GETs as the layout allows (a partition's
 * blocks are adjacent inside a stream-set object), checks every block's CRC and offsets,
 * and returns the batches in offset order. Throws ObjectCorruptError on any mismatch.
 */
export async function readPlannedBatches(store: ObjectStore, blocks: readonly BlockRef[]): Promise<{ batches: Buffer[]; gets: number }> {
  const batches: Buffer[] = [];
  let gets = 0;
  let i = 0;
  while (i < blocks.length) {
    let j = i + 1;
    while (j < blocks.length && blocks[j]!.key === blocks[i]!.key && blocks[j]!.position === blocks[j - 1]!.position + blocks[j - 1]!.length) j++;
    const first = blocks[i]!;
    const last = blocks[j - 1]!;
    const got = await store.get(first.key, { start: first.position, end: last.position + last.length - 1 });
    gets++;
    if (!got) throw new ObjectCorruptError(`object ${first.key} is missing`);
    for (let k = i; k < j; k++) {
      const b = blocks[k]!;
      const bytes = got.body.subarray(b.position - first.position, b.position - first.position + b.length);
      verifyBlock(bytes, b, b.key);
      const split = splitBatches(bytes);
      const lastBatch = split[split.length - 1];
      if (!lastBatch || baseOffsetOf(split[0]!) !== b.baseOffset || baseOffsetOf(lastBatch) + BigInt(lastOffsetDeltaOf(lastBatch)) !== b.lastOffset) {
        throw new ObjectCorruptError(`${b.key}@${b.position}: batches do not match the indexed offsets`);
      }
      batches.push(...split);
    }
    i = j;
  }
  return { batches, gets };
}
