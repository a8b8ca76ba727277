import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { crc32c } from "../protocol/crc32c.js";
import { splitBatches } from "./batch.js";
import { ManualClock } from "./clock.js";
import { isStreamObject } from "./compaction.js";
import { FileWal } from "./file-wal.js";
import { compactStorageRecords, LogStore, OffsetOutOfRangeError, type LogStoreOptions } from "./log-store.js";
import { MemoryObjectStore } from "./memory-object-store.js";
import { MetadataLog } from "./metadata-log.js";
import type { ByteRange, ObjectStore } from "./object-store.js";
import { decodeStreamSetObject } from "./stream-set-object.js";

const T = "topic-lifecycle";

function batch(count: number, opts: { ts?: bigint; payloadBytes?: number; fill?: number } = {}): Buffer {
  const payload = Buffer.alloc(opts.payloadBytes ?? 100, opts.fill ?? 3);
  const b = Buffer.alloc(61 + payload.length);
  b.writeBigInt64BE(-1n, 0);
  b.writeInt32BE(b.length - 12, 8);
  b.writeInt8(2, 16);
  b.writeInt32BE(count - 1, 23);
  b.writeBigInt64BE(opts.ts ?? 1000n, 27);
  b.writeBigInt64BE(opts.ts ?? 1000n, 35);
  b.writeBigInt64BE(-1n, 43);
  b.writeInt16BE(-1, 51);
  b.writeInt32BE(-1, 53);
  b.writeInt32BE(count, 57);
  payload.copy(b, 61);
  b.writeUInt32BE(crc32c(b, 21, b.length), 17);
  return b;
}

const offsetsOf = (buf: Buffer) => splitBatches(buf).map((b) => b.readBigInt64BE(0));

/** Counts every GET (with its range) and can hold GETs of chosen keys until released. */
class CountingStore implements ObjectStore {
  gets: { key: string; range: ByteRange | undefined }[] = [];
  private held = new Map<string, { release: () => void; promise: Promise<void> }>();
  constructor(readonly inner: ObjectStore) {}
  hold(key: string): void {
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.held.set(key, { release, promise });
    this.releases.set(key, release);
  }
  private releases = new Map<string, () => void>();
  release(key: string): void {
    this.releases.get(key)?.();
  }
  put: ObjectStore["put"] = (k, b, o) => this.inner.put(k, b, o);
  async get(key: string, range?: ByteRange) {
    this.gets.push({ key, range });
    const h = this.held.get(key);
    if (h) {
      this.held.delete(key); // holds only the next GET of the key
      await h.promise;
    }
    return this.inner.get(key, range);
  }
  head: ObjectStore["head"] = (k) => this.inner.head(k);
  delete: ObjectStore["delete"] = (k) => this.inner.delete(k);
  list: ObjectStore["list"] = (p, o) => this.inner.list(p, o);
}

const dirs: string[] = [];
const opened: LogStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

let epoch = 100;
async function openLog(dir: string, store: ObjectStore, clock: ManualClock, opts: Partial<LogStoreOptions> & { snapshotEvery?: number } = {}) {
  const metadata = await MetadataLog.open({ store, compact: compactStorageRecords, snapshotEveryEntries: opts.snapshotEvery ?? 1000 });
  const e = ++epoch;
  const wal = await FileWal.open({ dir: path.join(dir, "wal"), epoch: e, segmentBytes: 64 * 1024, maxBytes: 8 * 1024 * 1024 });
  const log = await LogStore.open({
    uploadIntervalMs: 3_600_000,
    compactionIntervalMs: 0,
    retentionIntervalMs: 0,
    gcIntervalMs: 0,
    compactionMinObjects: 3,
    compactionMinBytes: 1 << 30,
    compactionMaxAgeMs: 3_600_000,
    gcGraceMs: 1000,
    orphanGraceMs: 5000,
    ...opts,
    objectStore: store,
    wal,
    metadata,
    epoch: e,
    clock,
  });
  opened.push(log);
  return { log, metadata };
}

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "floe-lifecycle-"));
  dirs.push(d);
  return d;
}

/** `objects` uploads; each holds `perObject` batches of 5 records in partitions 0 and 1. */
async function fill(log: LogStore, objects: number, perObject: number, ts: (i: number) => bigint = () => 1000n, parts = [0, 1]): Promise<void> {
  let i = 0;
  for (let o = 0; o < objects; o++) {
    for (let b = 0; b < perObject; b++, i++) {
      if (parts.includes(0)) await log.append(T, 0, [batch(5, { ts: ts(i), fill: i & 0xff })]);
      if (parts.includes(1)) await log.append(T, 1, [batch(2, { ts: ts(i) })]);
    }
    await log.flush();
  }
}

const view = (log: LogStore, p: number) => ({
  start: log.logStartOffset(T, p),
  hw: log.highWatermark(T, p),
  blocks: log.objectBlocks(T, p).map((b) => [b.key, b.baseOffset, b.lastOffset]),
});

describe("LogStore object lifecycle", () => {
  it("compaction preserves every batch and offset, frees stream-set objects, and the GC waits its grace period", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const store = new MemoryObjectStore();
    const clock = new ManualClock(10_000);
    const { log } = await openLog(dir, store, clock, { blockBytesMax: 400 });
    log.ensurePartition(T, "t", 0);
    log.ensurePartition(T, "t", 1);
    await fill(log, 4, 5);
    const before0 = await log.read(T, 0, 0n, 1 << 20);
    const before1 = await log.read(T, 1, 0n, 1 << 20);
    const ssoKeys = (await store.list("objects/")).map((o) => o.key);
    expect(ssoKeys).toHaveLength(4);

    const r0 = await log.compactOnce();
    expect(r0).toMatchObject({ applied: true, start: 0n, end: 100n });
    expect(r0!.key).toMatch(/^objects\/streams\/topic-lifecycle\/\d\/0{20}-\d+-\d+\.so$/);
    const r1 = await log.compactOnce();
    expect(r1).toMatchObject({ applied: true, start: 0n, end: 40n });
    expect(await log.compactOnce()).toBeNull(); // nothing left to compact
    for (const p of [0, 1]) expect(log.objectBlocks(T, p).every((b) => isStreamObject(b.key))).toBe(true);
    expect((await log.read(T, 0, 0n, 1 << 20)).equals(before0)).toBe(true);
    expect((await log.read(T, 1, 0n, 1 << 20)).equals(before1)).toBe(true);
    expect(offsetsOf(await log.read(T, 0, 37n, 1))).toEqual([35n]);
    // The stream object holds exactly one partition, in the same block format.
    const so = await store.get(r0!.key);
    expect(new Set(decodeStreamSetObject(so!.body).map((b) => `${b.topicId}:${b.partition}`))).toEqual(new Set([`${T}:0`]));

    // All four stream-set objects are unreferenced now, but kept until the grace period passes.
    expect([...log.pendingDeletions().keys()].sort()).toEqual(ssoKeys);
    expect((await log.collectGarbage()).deleted).toEqual([]);
    clock.advance(999);
    expect((await log.collectGarbage()).deleted).toEqual([]);
    clock.advance(1);
    expect((await log.collectGarbage()).deleted.sort()).toEqual(ssoKeys);
    expect((await store.list("objects/")).every((o) => isStreamObject(o.key))).toBe(true);
    expect(log.statsSnapshot()).toMatchObject({ compactionsRun: 2, objectsPendingDeletion: 0, objectsDeleted: 4, objectsReferenced: 2 });
    expect(log.statsSnapshot().bytesCompacted).toBeGreaterThan(0);
    expect((await log.read(T, 0, 0n, 1 << 20)).equals(before0)).toBe(true);
  });

  it("a partly compacted stream-set object stays while another partition still uses it", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const store = new MemoryObjectStore();
    const clock = new ManualClock(10_000);
    const { log } = await openLog(dir, store, clock, { gcGraceMs: 0 });
    log.ensurePartition(T, "t", 0);
    log.ensurePartition(T, "t", 1);
    await fill(log, 3, 2);
    await log.compactOnce(); // partition 0 only
    expect(log.pendingDeletions().size).toBe(0);
    expect((await log.collectGarbage()).deleted).toEqual([]);
    expect(await store.list("objects/")).toHaveLength(4);
    expect(offsetsOf(await log.read(T, 1, 0n, 1 << 20))).toHaveLength(6);
  });

  it("reads racing a compaction: an old block reference still reads, and retries in the new index once the old object is gone", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const store = new CountingStore(new MemoryObjectStore());
    const clock = new ManualClock(10_000);
    const { log } = await openLog(dir, store, clock, { gcGraceMs: 0, cacheBytesMax: 0, blockCacheBytesMax: 0, readAheadBlocks: 0 });
    log.ensurePartition(T, "t", 0);
    await fill(log, 3, 3, undefined, [0]);
    const expected = offsetsOf(await log.read(T, 0, 0n, 1 << 20));
    const firstKey = log.objectBlocks(T, 0)[0]!.key;

    // 1. A read holding a block of the old object finishes after the swap (the object is still there).
    store.hold(firstKey);
    const slow = log.read(T, 0, 0n, 1 << 20);
    await new Promise((r) => setTimeout(r, 10));
    const done = await log.compactOnce();
    expect(done?.applied).toBe(true);
    store.release(firstKey);
    expect(offsetsOf(await slow)).toEqual(expected);

    // 2. Same, but the collector deletes the old object before the read's GET answers: the read retries with the new index.
    await fill(log, 3, 3, undefined, [0]);
    const all = offsetsOf(await log.read(T, 0, 0n, 1 << 20));
    const oldKey = log.objectBlocks(T, 0).find((b) => !isStreamObject(b.key))!.key;
    const from = log.objectBlocks(T, 0).find((b) => b.key === oldKey)!.baseOffset;
    store.hold(oldKey);
    const racing = log.read(T, 0, from, 1 << 20);
    await new Promise((r) => setTimeout(r, 10));
    expect((await log.compactOnce())?.applied).toBe(true);
    expect((await log.collectGarbage()).deleted).toContain(oldKey);
    store.release(oldKey);
    expect(offsetsOf(await racing)).toEqual(all.filter((o) => o >= from));
    expect(log.stats.readRetries).toBe(1);
  });

  it("a compaction whose blocks changed meanwhile is not applied; its object becomes garbage", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const store = new CountingStore(new MemoryObjectStore());
    const clock = new ManualClock(10_000);
    const { log } = await openLog(dir, store, clock);
    log.ensurePartition(T, "t", 0);
    await fill(log, 3, 2, undefined, [0]);
    const firstKey = log.objectBlocks(T, 0)[0]!.key;
    store.hold(firstKey); // the compaction's read of the first object waits
    const compaction = log.compactOnce();
    await new Promise((r) => setTimeout(r, 10));
    await log.deleteRecordsBefore(T, 0, 10n); // retention drops the first object's blocks meanwhile
    store.release(firstKey);
    const result = await compaction;
    expect(result?.applied).toBe(false);
    expect(log.statsSnapshot().compactionsAborted).toBe(1);
    expect(log.pendingDeletions().has(result!.key)).toBe(true);
    expect(log.objectBlocks(T, 0).every((b) => !isStreamObject(b.key))).toBe(true);
    expect(offsetsOf(await log.read(T, 0, 10n, 1 << 20))).toEqual([10n, 15n, 20n, 25n]);
  });

  it("time retention deletes whole blocks from the front by their max timestamps", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const store = new MemoryObjectStore();
    const clock = new ManualClock(100_000);
    const { log } = await openLog(dir, store, clock, { blockBytesMax: 200 });
    log.ensurePartition(T, "t", 0);
    log.ensurePartition(T, "t", 1);
    // Batch i of partition 0 has timestamp 1000*i; one block per batch.
    await fill(log, 2, 5, (i) => BigInt(1000 * i));
    expect(log.objectBlocks(T, 0)).toHaveLength(10);
    const policy = { retentionMs: 5500, retentionBytes: -1 };
    // now 10_000: batches with ts < 4500 (i = 0..4) are older than 5500 ms.
    expect(await log.applyRetention(T, 0, policy, 10_000)).toMatchObject({ logStartOffset: 25n, blocks: 5 });
    await expect(log.read(T, 0, 20n, 100)).rejects.toBeInstanceOf(OffsetOutOfRangeError);
    expect(offsetsOf(await log.read(T, 0, 25n, 1))).toEqual([25n]);
    // Everything expired, but data not yet uploaded stays: the log start stops at the end of the objects.
    await log.append(T, 0, [batch(5, { ts: 0n })]);
    expect(await log.applyRetention(T, 0, policy, 1_000_000)).toMatchObject({ logStartOffset: 50n });
    expect(log.highWatermark(T, 0)).toBe(55n);
    expect(offsetsOf(await log.read(T, 0, 50n, 100))).toEqual([50n]);
    expect(await log.applyRetention(T, 0, { retentionMs: -1, retentionBytes: -1 }, 1_000_000)).toMatchObject({ blocks: 0 });
    // The first object now holds only partition 1's blocks; the partition-1 data keeps it referenced.
    expect(log.pendingDeletions().size).toBe(0);
    await log.applyRetention(T, 1, policy, 1_000_000);
    expect(log.pendingDeletions().size).toBe(2);
    expect(log.statsSnapshot().retentionDeletions).toBe(20);
  });

  it("size retention keeps the newest retention.bytes, deleting only from the front, never past the high watermark", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const store = new MemoryObjectStore();
    const clock = new ManualClock(100_000);
    const { log } = await openLog(dir, store, clock, { blockBytesMax: 200 });
    log.ensurePartition(T, "t", 0);
    log.ensurePartition(T, "t", 1);
    await fill(log, 2, 5);
    const size = batch(5).length; // one block per batch
    expect(await log.applyRetention(T, 0, { retentionMs: -1, retentionBytes: 3 * size }, 0)).toMatchObject({ logStartOffset: 35n, blocks: 7 });
    expect(await log.applyRetention(T, 0, { retentionMs: -1, retentionBytes: 3 * size }, 0)).toMatchObject({ logStartOffset: 35n, blocks: 0 });
    // Tail data counts toward the size but is never deleted.
    await log.append(T, 0, [batch(5)]);
    await log.append(T, 0, [batch(5)]);
    expect(await log.applyRetention(T, 0, { retentionMs: -1, retentionBytes: 0 }, 0)).toMatchObject({ logStartOffset: 50n, blocks: 3 });
    expect(log.highWatermark(T, 0)).toBe(60n);
    expect(offsetsOf(await log.read(T, 0, 50n, 1 << 20))).toEqual([50n, 55n]);
  });

  it("the retention loop takes per-topic policies from the broker's callback", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const store = new MemoryObjectStore();
    const clock = new ManualClock(100_000);
    const { log } = await openLog(dir, store, clock, { retentionPolicy: (id) => (id === T ? { retentionMs: 1000, retentionBytes: -1 } : null) });
    log.ensurePartition(T, "t", 0);
    log.ensurePartition(T, "t", 1);
    log.ensurePartition("other", "o", 0);
    await fill(log, 1, 2);
    await log.append("other", 0, [batch(1)]);
    await log.flush();
    expect(await log.applyRetentionAll()).toBeGreaterThan(0);
    expect(log.logStartOffset(T, 0)).toBe(10n);
    expect(log.logStartOffset("other", 0)).toBe(0n);
  });

  it("orphans (put without commit) are collected after their grace period; committed and in-flight objects never", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const store = new MemoryObjectStore();
    const clock = new ManualClock(100_000);
    const { log } = await openLog(dir, store, clock);
    log.ensurePartition(T, "t", 0);
    await fill(log, 2, 1, undefined, [0]);
    const live = (await store.list("objects/")).map((o) => o.key);
    await store.put("objects/1/0000000007.sso", Buffer.from("crashed before commit"));
    await store.put("objects/streams/x/0/00000000000000000000-1-0.so", Buffer.from("aborted compaction"));
    await store.put("meta/other", Buffer.from("not data"));
    expect((await log.collectGarbage()).orphans).toEqual([]); // first sighting
    clock.advance(4999);
    expect((await log.collectGarbage()).orphans).toEqual([]);
    clock.advance(1);
    expect((await log.collectGarbage()).orphans.sort()).toEqual(["objects/1/0000000007.sso", "objects/streams/x/0/00000000000000000000-1-0.so"]);
    expect((await store.list("objects/")).map((o) => o.key)).toEqual(live);
    expect(await store.head("meta/other")).not.toBeNull();
    expect(log.statsSnapshot().orphansDeleted).toBe(2);
    expect(offsetsOf(await log.read(T, 0, 0n, 1 << 20))).toEqual([0n, 5n]);
  });

  it("the collector is bounded per run and resumes its listing", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const store = new MemoryObjectStore();
    const clock = new ManualClock(100_000);
    const { log } = await openLog(dir, store, clock, { gcListPerRun: 3, gcDeletesPerRun: 2, orphanGraceMs: 0 });
    for (let i = 0; i < 7; i++) await store.put(`objects/9/${String(i).padStart(10, "0")}.sso`, Buffer.from("x"));
    let runs = 0;
    while ((await store.list("objects/")).length > 0 && runs < 20) {
      const { orphans } = await log.collectGarbage();
      expect(orphans.length).toBeLessThanOrEqual(2);
      runs++;
    }
    expect(await store.list("objects/")).toEqual([]);
  });

  it("restart after compaction, retention and GC (with metadata snapshots) rebuilds the same view", { timeout: 30_000 }, async () => {
    const dir = tempDir();
    const store = new MemoryObjectStore();
    const clock = new ManualClock(100_000);
    const a = await openLog(dir, store, clock, { snapshotEvery: 4, blockBytesMax: 400 });
    a.log.ensurePartition(T, "t", 0);
    a.log.ensurePartition(T, "t", 1);
    a.log.ensurePartition(T, "t", 2);
    await fill(a.log, 4, 3);
    await a.log.append(T, 2, [batch(1)]);
    await a.log.flush();
    await a.log.compactOnce();
    await a.log.deleteRecordsBefore(T, 0, 12n);
    await a.log.applyRetention(T, 1, { retentionMs: -1, retentionBytes: 3 * batch(2).length }, clock.nowMs());
    await a.log.deletePartition(T, 2);
    clock.advance(2000);
    await a.log.collectGarbage();
    await a.log.applyRetention(T, 1, { retentionMs: -1, retentionBytes: 0 }, clock.nowMs()); // leaves objects pending deletion
    await a.log.append(T, 0, [batch(5)]); // WAL only
    const views = [0, 1].map((p) => view(a.log, p));
    const data = await Promise.all([0, 1].map(async (p) => a.log.read(T, p, a.log.logStartOffset(T, p), 1 << 20)));
    const pending = [...a.log.pendingDeletions().keys()].sort();
    expect(pending.length).toBeGreaterThan(0);
    await a.log.close();
    await a.metadata.idle();
    expect((await store.list("meta/snapshot/")).length).toBeGreaterThan(0);
    // The newest snapshot holds one folded storage-state record instead of the history.
    const snaps = await store.list("meta/snapshot/");
    const snap = JSON.parse((await store.get(snaps[snaps.length - 1]!.key))!.body.toString()) as { records: { type: string }[] };
    expect(snap.records.filter((r) => r.type === "storage-state")).toHaveLength(1);
    expect(snap.records.some((r) => r.type === "object-committed")).toBe(false);

    const b = await openLog(dir, store, clock, { snapshotEvery: 4, blockBytesMax: 400 });
    expect([0, 1].map((p) => view(b.log, p))).toEqual(views);
    expect(b.log.hasPartition(T, 2)).toBe(false);
    for (const p of [0, 1]) expect((await b.log.read(T, p, b.log.logStartOffset(T, p), 1 << 20)).equals(data[p]!)).toBe(true);
    expect([...b.log.pendingDeletions().keys()].sort()).toEqual(pending);
    // Pending deletions survive the restart and are collected; nothing referenced is touched.
    clock.advance(2000);
    await b.log.collectGarbage();
    expect(b.log.pendingDeletions().size).toBe(0);
    const referenced = new Set([0, 1].flatMap((p) => b.log.objectBlocks(T, p).map((x) => x.key)));
    expect(new Set((await store.list("objects/")).map((o) => o.key))).toEqual(referenced);
    for (const p of [0, 1]) expect((await b.log.read(T, p, b.log.logStartOffset(T, p), 1 << 20)).equals(data[p]!)).toBe(true);
  });

  it("catch-up reads use ranged GETs of single blocks, never whole objects, and read-ahead makes most reads hit the cache", { timeout: 30_000 }, async () => {
    const dir = tempDir();
    const inner = new MemoryObjectStore();
    const store = new CountingStore(inner);
    const clock = new ManualClock(100_000);
    const { log } = await openLog(dir, store, clock, {
      cacheBytesMax: 0,
      blockBytesMax: 400,
      blockCacheBytesMax: 64 * 1024,
      readAheadBlocks: 4,
      readAheadBytesPerPartition: 2048,
      readAheadBytesMax: 4096,
    });
    log.ensurePartition(T, "t", 0);
    log.ensurePartition(T, "t", 1);
    await fill(log, 10, 6); // 10 multi-partition objects, 60 batches in partition 0
    const sizes = new Map((await inner.list("objects/")).map((o) => [o.key, o.size]));
    store.gets = [];
    let offset = 0n;
    let reads = 0;
    while (offset < log.highWatermark(T, 0)) {
      const got = splitBatches(await log.read(T, 0, offset, 1));
      const last = got[got.length - 1]!;
      offset = last.readBigInt64BE(0) + BigInt(last.readInt32BE(23)) + 1n;
      reads++;
      await new Promise((r) => setImmediate(r)); // let read-ahead loads land, as between fetches
    }
    expect(reads).toBe(60);
    const dataGets = store.gets.filter((g) => g.key.startsWith("objects/"));
    expect(dataGets.length).toBeGreaterThan(0);
    for (const g of dataGets) {
      expect(g.range).toBeDefined();
      expect(g.range!.end - g.range!.start + 1).toBeLessThanOrEqual(400);
      expect(g.range!.end - g.range!.start + 1).toBeLessThan(sizes.get(g.key)!);
    }
    const s = log.statsSnapshot();
    expect(s.blockCacheHits).toBeGreaterThan(s.blockCacheMisses * 4);
    expect(s.readAheadBlocks).toBeGreaterThan(0);
    expect(s.readAheadBytesInFlight).toBe(0);
    expect(s.blockCacheBytes).toBeLessThanOrEqual(64 * 1024);

    // Without read-ahead, every block is a miss.
    const plain = await openLog(tempDir(), store, clock, { cacheBytesMax: 0, blockCacheBytesMax: 64 * 1024, readAheadBlocks: 0 });
    offset = 0n;
    while (offset < plain.log.highWatermark(T, 0)) {
      const got = splitBatches(await plain.log.read(T, 0, offset, 1));
      const last = got[got.length - 1]!;
      offset = last.readBigInt64BE(0) + BigInt(last.readInt32BE(23)) + 1n;
    }
    expect(plain.log.statsSnapshot().blockCacheMisses).toBe(log.objectBlocks(T, 0).length);
  });

  it("the block cache stays within its byte bound", { timeout: 20_000 }, async () => {
    const dir = tempDir();
    const store = new MemoryObjectStore();
    const clock = new ManualClock(100_000);
    const { log } = await openLog(dir, store, clock, { cacheBytesMax: 0, blockBytesMax: 400, blockCacheBytesMax: 1000, readAheadBlocks: 2 });
    log.ensurePartition(T, "t", 0);
    log.ensurePartition(T, "t", 1);
    await fill(log, 5, 4);
    for (let o = 0n; o < 100n; o += 5n) {
      await log.read(T, 0, o, 1);
      expect(log.statsSnapshot().blockCacheBytes).toBeLessThanOrEqual(1000);
    }
  });
});
