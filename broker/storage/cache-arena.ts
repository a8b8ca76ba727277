/**
 * Memory for the tail cache's batches, in slabs that are reused instead of freed.
 *
 * Why: a batch stays cached for seconds (until uploaded, then until evicted), so its buffer
 * outlives V8's young generation and dies in the old one. V8 counts every buffer's bytes as
 * external memory and starts a full mark-compact whenever that has grown by 64 MiB since
 * the last one: at 20 MiB/s of produce that was every ~3 s (`--trace-incremental-marking`:
 * "external memory pressure"), each stalling every request for 5-15 ms. Batches copied
 * into long-lived slabs leave the request's own buffer to die young, and the slabs' memory
 * is counted once.
 *
 * A slab is reused only when nothing can still read it: none of its batches is in its
 * partition's cache any more (however it left: evicted, rolled back, partition dropped),
 * no append of its batches is still waiting on the WAL, and no upload is reading it. So a
 * batch's bytes never change under a reader; readers that keep bytes past the moment they
 * read them (fetch responses) copy them out.
 *
 * When every slab is in use up to the bound, a batch keeps its own buffer (as before the
 * arena): memory stays bounded by the cache's own rules, never by the arena.
 */
import type { CachedBatch, PartitionLog } from "./partition-log.js";

const MiB = 1024 * 1024;
/** How many of the oldest slabs a new slab may be taken from. */
const REUSE_CANDIDATES = 8;

/** One slab; batches carved from it point to it (`CachedBatch.slab`). */
export interface ArenaSlab {
  readonly buf: Buffer;
  used: number;
  /** Every batch carved from it since its last reuse, with the partition whose cache held it. */
  readonly batches: { part: PartitionLog; batch: CachedBatch }[];
  /** Appends waiting on the WAL, and uploads, reading its bytes. */
  pins: number;
}

/** A claim on slabs' bytes while they are read outside the cache; release() exactly once. */
export interface ArenaPin {
  release(): void;
}

export class CacheArena {
  private readonly slabs: ArenaSlab[] = [];
  private current: ArenaSlab | null = null;
  private readonly slabBytes: number;
  private readonly slabsMax: number;
  private readonly batchBytesMax: number;
  /** Batches that kept their own buffer because every slab was in use (or they were too large). */
  fallbacks = 0;

  /**
   * `alive(part, batch)`: whether the batch is still in the partition's cache (the store's
   * view; a dropped partition's batches are not).
   */
  constructor(
    bytesMax: number,
    private readonly alive: (part: PartitionLog, batch: CachedBatch) => boolean,
  ) {
    // 4 MiB slabs for a production-sized cache; smaller ones for a small bound, so that it
    // still spans enough slabs to reuse them one at a time.
    this.slabBytes = Math.min(4 * MiB, Math.max(64 * 1024, Math.floor(bytesMax / 64)));
    this.slabsMax = Math.max(0, Math.floor(bytesMax / this.slabBytes));
    // A quarter slab at most: larger batches would waste the rest of a slab.
    this.batchBytesMax = Math.floor(this.slabBytes / 4);
  }

  /** Bytes of the slabs allocated so far (they are kept for reuse). */
  get bytes(): number {
    return this.slabs.length * this.slabBytes;
  }

  /**
   * A copy of `bytes` in a slab, or null when no slab has room (the caller keeps its own
   * buffer). The caller then records the batch it made of it with track(), in the same
   * synchronous run.
   */
  copy(bytes: Buffer): { bytes: Buffer; slab: ArenaSlab } | null {
    const slab = bytes.length <= this.batchBytesMax ? this.slabWithRoom(bytes.length) : null;
    if (!slab) {
      this.fallbacks++;
      return null;
    }
    const at = slab.used;
    bytes.copy(slab.buf, at);
    slab.used += bytes.length;
    return { bytes: slab.buf.subarray(at, at + bytes.length), slab };
  }

  /** Records that `batch` (of `part`) lives in `slab`: the slab is not reused while the cache holds it. */
  track(slab: ArenaSlab, part: PartitionLog, batch: CachedBatch): void {
    slab.batches.push({ part, batch });
  }

  /** Pins the slabs until the pin is released (null entries: batches outside the arena; a slab listed twice is pinned twice). */
  pin(slabs: readonly (ArenaSlab | null)[]): ArenaPin {
    for (const s of slabs) if (s) s.pins++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const s of slabs) if (s) s.pins--;
      },
    };
  }

  private slabWithRoom(n: number): ArenaSlab | null {
    if (this.current && this.current.used + n <= this.slabBytes) return this.current;
    // The oldest slabs free up first: batches leave the cache roughly in the order they came,
    // so only the few oldest are looked at (each look may walk a slab's batches).
    for (let i = 0; i < Math.min(this.slabs.length, REUSE_CANDIDATES); i++) {
      const slab = this.slabs[i]!;
      if (slab === this.current || !this.reusable(slab)) continue;
      slab.used = 0;
      slab.batches.length = 0;
      this.slabs.splice(i, 1);
      this.slabs.push(slab);
      return (this.current = slab);
    }
    if (this.slabs.length >= this.slabsMax) return null;
    const slab: ArenaSlab = { buf: Buffer.allocUnsafeSlow(this.slabBytes), used: 0, batches: [], pins: 0 };
    this.slabs.push(slab);
    return (this.current = slab);
  }

  private reusable(slab: ArenaSlab): boolean {
    if (slab.pins > 0) return false;
    // Newest first: if any batch is still cached, the newest most likely is.
    for (let i = slab.batches.length - 1; i >= 0; i--) {
      const { part, batch } = slab.batches[i]!;
      if (this.alive(part, batch)) return false;
    }
    return true;
  }
}
