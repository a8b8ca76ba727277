import type { BlockRef } from "./partition-log.js";

export interface ReadAheadOptions {
  /** Blocks to prefetch past the one just read (0 turns read-ahead off). */
  blocks: number;
  /** Bound on prefetch bytes in flight for one partition. */
  bytesPerPartition: number;
  /** Bound on prefetch bytes in flight for the whole broker. */
  bytesMax: number;
}

/**
 * Read-ahead for catch-up consumers: when a partition is read sequentially from object
 * blocks (a fetch starts where the previous one from objects ended), the next few blocks
 * are fetched into the block cache so the consumer's next fetch hits memory instead of
 * waiting for a ranged GET. Bytes in flight are bounded per partition and in total; what
 * arrives is bounded by the block cache like any other block.
 */
export class ReadAhead {
  private readonly lastEnd = new Map<string, bigint>();
  private readonly perPartition = new Map<string, number>();
  private inFlight = 0;
  blocksIssued = 0;

  constructor(private readonly opts: ReadAheadOptions) {}

  get bytesInFlight(): number {
    return this.inFlight;
  }

  /**
   * True when a read at `fetchOffset` continues the previous read from objects of this
   * partition, or is the partition's first read from objects (a consumer starting a catch-up).
   */
  isSequential(partitionKey: string, fetchOffset: bigint): boolean {
    const last = this.lastEnd.get(partitionKey);
    return last === undefined || last === fetchOffset;
  }

  /** Records where a read from objects ended. */
  noteRead(partitionKey: string, endOffset: bigint): void {
    this.lastEnd.set(partitionKey, endOffset);
  }

  forget(partitionKey: string): void {
    this.lastEnd.delete(partitionKey);
  }

  /**
   * Picks up to `blocks` blocks after index `after` that `wanted` accepts (not cached, not
   * loading) and fit the byte bounds, reserving their bytes; call `release` for each when
   * its load settles.
   */
  plan(partitionKey: string, blocks: readonly BlockRef[], after: number, wanted: (b: BlockRef) => boolean): BlockRef[] {
    if (this.opts.blocks <= 0) return [];
    const out: BlockRef[] = [];
    let mine = this.perPartition.get(partitionKey) ?? 0;
    for (let i = after + 1; i < blocks.length && i <= after + this.opts.blocks; i++) {
      const b = blocks[i]!;
      if (!wanted(b)) continue;
      if (mine + b.length > this.opts.bytesPerPartition || this.inFlight + b.length > this.opts.bytesMax) break;
      mine += b.length;
      this.inFlight += b.length;
      out.push(b);
    }
    if (out.length > 0) this.perPartition.set(partitionKey, mine);
    this.blocksIssued += out.length;
    return out;
  }

  release(partitionKey: string, bytes: number): void {
    this.inFlight -= bytes;
    const left = (this.perPartition.get(partitionKey) ?? 0) - bytes;
    if (left > 0) this.perPartition.set(partitionKey, left);
    else this.perPartition.delete(partitionKey);
  }
}
