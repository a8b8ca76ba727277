import { describe, expect, it } from "vitest";
import { CacheArena } from "./cache-arena.js";
import { PartitionLog, type CachedBatch } from "./partition-log.js";

const KiB = 1024;
const part = new PartitionLog("t-id", "t", 0);

function cachedBatch(bytes: Buffer, slab: CachedBatch["slab"]): CachedBatch {
  return { baseOffset: 0n, lastOffset: 0n, maxTimestamp: 0n, bytes, durable: true, uploaded: false, slab };
}

describe("CacheArena", () => {
  it("copies batches into slabs, and reuses a slab only once no batch of it is cached and no reader pins it", () => {
    const cached = new Set<CachedBatch>();
    // 64 slabs of 64 KiB at this bound; each batch takes a quarter slab.
    const arena = new CacheArena(64 * 64 * KiB, (_part, b) => cached.has(b));
    const put = (fill: number) => {
      const src = Buffer.alloc(16 * KiB, fill);
      const placed = arena.copy(src)!;
      expect(placed.bytes.equals(src)).toBe(true);
      expect(placed.bytes.buffer).not.toBe(src.buffer);
      const b = cachedBatch(placed.bytes, placed.slab);
      arena.track(placed.slab, part, b);
      cached.add(b);
      return b;
    };
    const first = [put(1), put(2), put(3), put(4)];
    expect(new Set(first.map((b) => b.slab)).size).toBe(1);
    const slab = first[0]!.slab!;
    expect(arena.bytes).toBe(64 * KiB);
    // The first slab is full: the next batch needs another, and the first is still cached.
    const fifth = put(5);
    expect(fifth.slab).not.toBe(slab);
    expect(arena.bytes).toBe(128 * KiB);
    for (const fill of [6, 7, 8]) put(fill);
    // Every batch of the first slab leaves the cache, but an upload still reads one of them.
    for (const b of first) cached.delete(b);
    const upload = arena.pin([first[0]!.slab, null]);
    const ninth = put(9);
    expect(ninth.slab).not.toBe(slab);
    expect(first[0]!.bytes.every((x) => x === 1)).toBe(true);
    upload.release();
    upload.release(); // twice is harmless
    for (const fill of [10, 11, 12]) put(fill);
    // Now the first slab is free: it is reused instead of a new one.
    const reused = put(13);
    expect(reused.slab).toBe(slab);
    expect(arena.bytes).toBe(192 * KiB);
    expect(arena.fallbacks).toBe(0);
  });

  it("hands back null when every slab is in use up to its bound, or for a batch over a quarter slab", () => {
    const arena = new CacheArena(2 * 64 * KiB, () => true);
    expect(arena.copy(Buffer.alloc(16 * KiB + 1))).toBeNull();
    for (let i = 0; i < 8; i++) {
      const placed = arena.copy(Buffer.alloc(16 * KiB, i))!;
      arena.track(placed.slab, part, cachedBatch(placed.bytes, placed.slab));
    }
    expect(arena.copy(Buffer.alloc(1))).toBeNull();
    expect(arena.fallbacks).toBe(2);
    expect(arena.bytes).toBe(2 * 64 * KiB);
  });
});
