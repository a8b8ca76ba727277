import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { crc32c } from "../protocol/crc32c.js";
import type { BatchHeader } from "../protocol/record-batch.js";
import { splitBatches } from "./batch.js";
import { ManualClock } from "./clock.js";
import { FileWal } from "./file-wal.js";
import { LocalObjectStore } from "./local-object-store.js";
import { LogStore, ObjectCorruptError, OffsetOutOfRangeError, UnknownPartitionError, type LogStoreOptions } from "./log-store.js";
import { MemoryObjectStore } from "./memory-object-store.js";
import { MetadataLog } from "./metadata-log.js";
import type { ObjectStore } from "./object-store.js";
import { WalFullError, WalWriteError, type Wal } from "./wal.js";

const T = "topic-id-0001";

/** A magic-2 batch with `count` records of opaque bytes (storage never parses records). */
function batch(count: number, opts: { ts?: bigint; maxTs?: bigint; producerId?: bigint; seq?: number; fill?: number; payloadBytes?: number } = {}): Buffer {
  const payload = Buffer.alloc(opts.payloadBytes ?? 20, opts.fill ?? 7);
  const b = Buffer.alloc(61 + payload.length);
  b.writeBigInt64BE(-1n, 0); // overwritten by the log store
  b.writeInt32BE(b.length - 12, 8);
  b.writeInt32BE(0, 12);
  b.writeInt8(2, 16);
  b.writeInt16BE(0, 21);
  b.writeInt32BE(count - 1, 23);
  b.writeBigInt64BE(opts.ts ?? 1000n, 27);
  b.writeBigInt64BE(opts.maxTs ?? opts.ts ?? 1000n, 35);
  b.writeBigInt64BE(opts.producerId ?? -1n, 43);
  b.writeInt16BE(opts.producerId !== undefined ? 0 : -1, 51);
  b.writeInt32BE(opts.seq ?? -1, 53);
  b.writeInt32BE(count, 57);
  payload.copy(b, 61);
  b.writeUInt32BE(crc32c(b, 21, b.length), 17);
  return b;
}

const offsetsOf = (buf: Buffer) => splitBatches(buf).map((b) => b.readBigInt64BE(0));

const dirs: string[] = [];
const open: LogStore[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

let epochCounter = 0;
interface Stack {
  dir: string;
  store: ObjectStore;
  log: LogStore;
  wal: FileWal;
  recovered: { topicId: string; partition: number; header: BatchHeader }[];
}

async function openStack(dir: string, opts: { store?: ObjectStore; wal?: (w: FileWal) => Wal; walMaxBytes?: number } & Omit<Partial<LogStoreOptions>, "wal" | "objectStore"> = {}): Promise<Stack> {
  const store = opts.store ?? new LocalObjectStore(path.join(dir, "objects"));
  const metadata = await MetadataLog.open({ store });
  const epoch = ++epochCounter;
  const fileWal = await FileWal.open({ dir: path.join(dir, "wal"), epoch, segmentBytes: 4096, maxBytes: opts.walMaxBytes ?? 1024 * 1024 });
  const recovered: Stack["recovered"] = [];
  const log = await LogStore.open({
    uploadIntervalMs: 3_600_000, // tests upload explicitly with flush()
    ...opts,
    objectStore: store,
    wal: opts.wal ? opts.wal(fileWal) : fileWal,
    metadata,
    epoch,
    onRecoveredBatch: (topicId, partition, header) => recovered.push({ topicId, partition, header }),
  });
  open.push(log);
  return { dir, store, log, wal: fileWal, recovered };
}

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "floe-log-"));
  dirs.push(d);
  return d;
}

describe("LogStore", () => {
  it("assigns offsets per partition in call order, rewriting only baseOffset (of its own copy)", async () => {
    const { log } = await openStack(tempDir(), { clock: new ManualClock(42) });
    log.ensurePartition(T, "orders", 0);
    log.ensurePartition(T, "orders", 1);
    const b1 = batch(3);
    const before = Buffer.from(b1);
    const p1 = log.append(T, 0, [b1]);
    expect(log.nextOffset(T, 0)).toBe(3n); // synchronous, before durability
    const p2 = log.append(T, 0, [batch(2), batch(1)]);
    const p3 = log.append(T, 1, [batch(5)]);
    expect(await p1).toEqual({ baseOffset: 0n, logAppendTimeMs: 42n });
    expect((await p2).baseOffset).toBe(3n);
    expect((await p3).baseOffset).toBe(0n);
    // The stored copy differs from the batch only in its baseOffset; the caller's buffer is left alone.
    const stored = await log.read(T, 0, 0n, b1.length);
    expect(stored.subarray(8).equals(before.subarray(8))).toBe(true);
    expect(stored.readBigInt64BE(0)).toBe(0n);
    expect(b1.equals(before)).toBe(true);
    expect(log.highWatermark(T, 0)).toBe(6n);
    expect(log.highWatermark(T, 1)).toBe(5n);
    expect(log.logStartOffset(T, 0)).toBe(0n);
    expect(() => log.highWatermark(T, 9)).toThrow(UnknownPartitionError);
  });

  it("reads whole batches from the one containing the offset, at least one, up to maxBytes", async () => {
    const { log } = await openStack(tempDir());
    log.ensurePartition(T, "t", 0);
    for (let i = 0; i < 4; i++) await log.append(T, 0, [batch(10)]);
    const size = batch(10).length;
    expect(offsetsOf(await log.read(T, 0, 0n, 1 << 20))).toEqual([0n, 10n, 20n, 30n]);
    expect(offsetsOf(await log.read(T, 0, 15n, 1 << 20))).toEqual([10n, 20n, 30n]);
    expect(offsetsOf(await log.read(T, 0, 15n, 2 * size))).toEqual([10n, 20n]);
    expect(offsetsOf(await log.read(T, 0, 15n, 1))).toEqual([10n]);
    expect((await log.read(T, 0, 40n, 100)).length).toBe(0);
    await expect(log.read(T, 0, 41n, 100)).rejects.toBeInstanceOf(OffsetOutOfRangeError);
  });

  it("wakes long-poll listeners when data becomes durable", async () => {
    const { log } = await openStack(tempDir());
    log.ensurePartition(T, "t", 0);
    let woken = 0;
    const off = log.onAppend(T, 0, () => woken++);
    await log.append(T, 0, [batch(1)]);
    off();
    await log.append(T, 0, [batch(1)]);
    expect(woken).toBe(1);
  });

  it("restart after a clean close (nothing uploaded): the WAL replays the same data and offsets", async () => {
    const dir = tempDir();
    const a = await openStack(dir);
    a.log.ensurePartition(T, "t", 0);
    await a.log.append(T, 0, [batch(2, { fill: 1 })]);
    await a.log.append(T, 0, [batch(3, { fill: 2 })]);
    const before = await a.log.read(T, 0, 0n, 1 << 20);
    await a.log.close();
    expect(await a.store.list("objects/")).toEqual([]);
    const b = await openStack(dir);
    b.log.ensurePartition(T, "t", 0);
    expect(b.log.highWatermark(T, 0)).toBe(5n);
    expect((await b.log.read(T, 0, 0n, 1 << 20)).equals(before)).toBe(true);
    expect((await b.log.append(T, 0, [batch(1)])).baseOffset).toBe(5n);
    expect(b.recovered.map((r) => r.header.baseOffset)).toEqual([0n, 2n]);
  });

  it("crash (no close): everything acknowledged is back after reopening the same folder", async () => {
    const dir = tempDir();
    const a = await openStack(dir);
    a.log.ensurePartition(T, "t", 0);
    a.log.ensurePartition(T, "t", 1);
    await Promise.all([a.log.append(T, 0, [batch(2)]), a.log.append(T, 1, [batch(4)]), a.log.append(T, 0, [batch(1)])]);
    open.splice(open.indexOf(a.log), 1); // the process "dies": no close, no upload
    const b = await openStack(dir);
    expect(b.log.highWatermark(T, 0)).toBe(3n);
    expect(b.log.highWatermark(T, 1)).toBe(4n);
    expect(offsetsOf(await b.log.read(T, 0, 0n, 1 << 20))).toEqual([0n, 2n]);
    await a.wal.close(); // release the descriptor of the "dead" process
  });

  it("upload commits an object and trims the WAL; after restart reads come from the object", async () => {
    const dir = tempDir();
    const a = await openStack(dir);
    a.log.ensurePartition(T, "t", 0);
    a.log.ensurePartition("other-topic", "u", 3);
    for (let i = 0; i < 20; i++) await a.log.append(T, 0, [batch(5, { fill: i, payloadBytes: 100 })]);
    await a.log.append("other-topic", 3, [batch(1)]);
    const before = await a.log.read(T, 0, 0n, 1 << 20);
    await a.log.flush();
    expect(a.wal.usedBytes()).toBe(0);
    const objects = await a.store.list("objects/");
    expect(objects).toHaveLength(1);
    expect(objects[0]!.key).toMatch(/^objects\/\d+\/0000000000\.sso$/);
    await a.log.close();
    const b = await openStack(dir);
    expect(b.wal.recoveryReport.records).toBe(0);
    expect(b.log.highWatermark(T, 0)).toBe(100n);
    expect(b.log.highWatermark("other-topic", 3)).toBe(1n);
    expect((await b.log.read(T, 0, 0n, 1 << 20)).equals(before)).toBe(true);
    expect(offsetsOf(await b.log.read(T, 0, 52n, 1))).toEqual([50n]);
    expect((await b.log.append(T, 0, [batch(1)])).baseOffset).toBe(100n);
  });

  it("flush uploads what was acknowledged before it and finishes while appends keep coming", async () => {
    const dir = tempDir();
    const a = await openStack(dir, { uploadBytesMax: 2048 });
    a.log.ensurePartition(T, "t", 0);
    for (let i = 0; i < 10; i++) await a.log.append(T, 0, [batch(2, { payloadBytes: 200 })]);
    const acknowledgedEnd = a.log.highWatermark(T, 0);
    // A steady producer that never lets the queue run empty.
    let producing = true;
    const load = (async () => {
      while (producing) await a.log.append(T, 0, [batch(2, { payloadBytes: 200 })]);
    })();
    await a.log.flush();
    producing = false;
    await load;
    const blocks = a.log.objectBlocks(T, 0);
    expect(blocks.at(-1)!.lastOffset + 1n).toBeGreaterThanOrEqual(acknowledgedEnd);
  });

  it("reads span objects and the in-memory tail, with small blocks and an evicting cache", async () => {
    const dir = tempDir();
    const a = await openStack(dir, { cacheBytesMax: 0, blockBytesMax: 300, blockCacheBytesMax: 600 });
    a.log.ensurePartition(T, "t", 0);
    for (let i = 0; i < 10; i++) await a.log.append(T, 0, [batch(2, { payloadBytes: 80 })]);
    await a.log.flush();
    expect(a.log.objectBlocks(T, 0).length).toBeGreaterThan(3);
    for (let i = 0; i < 5; i++) await a.log.append(T, 0, [batch(2, { payloadBytes: 80 })]);
    await a.log.flush();
    for (let i = 0; i < 3; i++) await a.log.append(T, 0, [batch(2, { payloadBytes: 80 })]); // only in memory
    const all = await a.log.read(T, 0, 0n, 1 << 20);
    expect(offsetsOf(all)).toEqual(Array.from({ length: 18 }, (_, i) => BigInt(i * 2)));
    expect(offsetsOf(await a.log.read(T, 0, 27n, 3 * 141))).toEqual([26n, 28n, 30n]);
    expect(a.log.stats.blockCacheMisses).toBeGreaterThan(0);
    await a.log.read(T, 0, 0n, 1);
    await a.log.read(T, 0, 0n, 1);
    expect(a.log.stats.blockCacheHits).toBeGreaterThan(0);
  });

  it("reuses the cache's slabs as batches leave it, without changing a byte anyone reads", async () => {
    // A 64 KiB cache and 64 KiB uploads: an arena of three 64 KiB slabs, reused over and over.
    const { log } = await openStack(tempDir(), { cacheBytesMax: 64 * 1024, uploadBytesMax: 64 * 1024, walMaxBytes: 8 * 1024 * 1024 });
    log.ensurePartition(T, "t", 0);
    const count = 600;
    const one = batch(1, { payloadBytes: 1000 }).length;
    let held: Buffer | null = null;
    for (let i = 0; i < count; i++) {
      const b = batch(1, { payloadBytes: 1000, fill: i % 251 });
      const offset = (await log.append(T, 0, [b])).baseOffset;
      if (i === 300) held = await log.read(T, 0, offset, one); // from the cache
      if (i % 50 === 49) await log.flush();
    }
    await log.flush();
    const stats = log.statsSnapshot();
    expect(stats.tailCacheArenaBytes).toBeLessThanOrEqual(192 * 1024);
    expect(stats.tailCacheArenaFallbacks).toBeLessThan(count / 4);
    // A read taken from the cache is a copy: its slab has been reused since.
    expect(held!.readBigInt64BE(0)).toBe(300n);
    expect(held!.subarray(61).every((x) => x === 300 % 251)).toBe(true);
    // Every batch reads back as it was written, from objects and from the cache.
    const all = [];
    for (let at = 0n; at < BigInt(count); ) {
      const got = splitBatches(await log.read(T, 0, at, 64 * 1024));
      all.push(...got);
      at = got[got.length - 1]!.readBigInt64BE(0) + 1n;
    }
    expect(all.map((b) => b.readBigInt64BE(0))).toEqual(Array.from({ length: count }, (_, i) => BigInt(i)));
    all.forEach((b, i) => expect(b.subarray(61).every((x) => x === i % 251)).toBe(true));
  });

  it("an upload's bytes stay as they were while it is put, even if its batches leave the cache meanwhile", async () => {
    // The object store holds the first object's put until released, as a slow S3 would.
    const inner = new MemoryObjectStore();
    let releasePut!: () => void;
    const putHeld = new Promise<void>((r) => (releasePut = r));
    let putStarted!: () => void;
    const putSeen = new Promise<void>((r) => (putStarted = r));
    const store: ObjectStore = Object.assign(Object.create(inner) as ObjectStore, {
      put: async (key: string, body: Parameters<ObjectStore["put"]>[1], opts: Parameters<ObjectStore["put"]>[2]) => {
        if (key.startsWith("objects/")) {
          putStarted();
          await putHeld;
        }
        return inner.put(key, body, opts);
      },
    });
    // A 64 KiB cache and uploads: three 64 KiB slabs.
    const { log } = await openStack(tempDir(), { store, cacheBytesMax: 64 * 1024, uploadBytesMax: 64 * 1024, walMaxBytes: 8 * 1024 * 1024 });
    log.ensurePartition(T, "a", 0);
    log.ensurePartition(T, "b", 1);
    const size = batch(1, { payloadBytes: 1000 }).length;
    const perSlab = Math.floor((64 * 1024) / size);
    // Partition 0 fills the first slab exactly; its upload starts and is held.
    const expected: Buffer[] = [];
    for (let i = 0; i < perSlab; i++) {
      const b = batch(1, { payloadBytes: 1000, fill: 0xaa });
      await log.append(T, 0, [b]);
      const stored = Buffer.from(b);
      stored.writeBigInt64BE(BigInt(i), 0);
      expected.push(stored);
    }
    const flushed = log.flush();
    await putSeen;
    // The partition is taken over from objects: its batches leave the cache while the put waits.
    log.continueFromObjects(T, 0);
    // Enough appends elsewhere to want a slab back: the held upload's must not be the one.
    for (let i = 0; i < 3 * perSlab; i++) await log.append(T, 1, [batch(1, { payloadBytes: 1000, fill: 0x55 })]);
    releasePut();
    await flushed;
    const keys = (await inner.list("objects/")).map((o) => o.key);
    const first = (await inner.get(keys.sort()[0]!))!.body;
    for (const b of expected) expect(first.indexOf(b)).toBeGreaterThanOrEqual(0);
  });

  it("an append's bytes stay as they were until the WAL has them, even if its batches leave the cache meanwhile", async () => {
    let releaseAppend!: () => void;
    const appendHeld = new Promise<void>((r) => (releaseAppend = r));
    let holdNext = false;
    const written: Buffer[] = [];
    const gated = (w: FileWal): Wal => ({
      append: async (record, checksum) => {
        const held = holdNext;
        holdNext = false;
        if (held) await appendHeld;
        // What the WAL is handed to write, as it is when it writes it.
        if (held) written.push(Buffer.concat(Array.isArray(record) ? record : [record]));
        return w.append(record, checksum);
      },
      recover: () => w.recover(),
      trim: (upTo) => w.trim(upTo),
      usedBytes: () => w.usedBytes(),
      fencedBy: () => w.fencedBy(),
      close: () => w.close(),
    });
    const { log } = await openStack(tempDir(), { wal: gated, cacheBytesMax: 64 * 1024, uploadBytesMax: 64 * 1024, walMaxBytes: 8 * 1024 * 1024 });
    log.ensurePartition(T, "a", 0);
    log.ensurePartition(T, "b", 1);
    const size = batch(1, { payloadBytes: 1000 }).length;
    const perSlab = Math.floor((64 * 1024) / size);
    // Partition 0 fills the first slab; the WAL holds its last append.
    for (let i = 0; i < perSlab - 1; i++) await log.append(T, 0, [batch(1, { payloadBytes: 1000, fill: 0xaa })]);
    holdNext = true;
    const last = batch(1, { payloadBytes: 1000, fill: 0xaa });
    const pending = log.append(T, 0, [last]).catch((err: unknown) => err);
    // Its batches leave the cache while the WAL waits (a takeover from objects), and every
    // batch uploaded meanwhile leaves it too: slabs are wanted back.
    log.continueFromObjects(T, 0);
    for (let i = 0; i < 4 * perSlab; i++) {
      await log.append(T, 1, [batch(1, { payloadBytes: 1000, fill: 0x55 })]);
      if (i % perSlab === perSlab - 1) await log.flush();
    }
    releaseAppend();
    await pending;
    expect(written).toHaveLength(1);
    expect(written[0]!.subarray(written[0]!.length - (last.length - 8)).equals(last.subarray(8))).toBe(true);
  });

  it("a damaged object block is reported, never served", async () => {
    const dir = tempDir();
    const store = new MemoryObjectStore();
    const a = await openStack(dir, { store });
    a.log.ensurePartition(T, "t", 0);
    await a.log.append(T, 0, [batch(3)]);
    await a.log.flush();
    await a.log.close();
    const [obj] = await store.list("objects/");
    store.corrupt(obj!.key, 70);
    const b = await openStack(dir, { store });
    await expect(b.log.read(T, 0, 0n, 1 << 20)).rejects.toBeInstanceOf(ObjectCorruptError);
  });

  it("a torn WAL tail loses only the unfinished record", async () => {
    const dir = tempDir();
    const a = await openStack(dir);
    a.log.ensurePartition(T, "t", 0);
    for (let i = 0; i < 3; i++) await a.log.append(T, 0, [batch(4)]);
    await a.log.close();
    const walDir = path.join(dir, "wal");
    const seg = path.join(walDir, fs.readdirSync(walDir).filter((n) => n.endsWith(".wal")).sort().pop()!);
    fs.truncateSync(seg, fs.statSync(seg).size - 10);
    const b = await openStack(dir);
    expect(b.wal.recoveryReport.truncatedBytes).toBeGreaterThan(0);
    expect(b.log.highWatermark(T, 0)).toBe(8n);
    expect((await b.log.append(T, 0, [batch(1)])).baseOffset).toBe(8n);
  });

  it("a refused WAL append rolls the partition's offsets back, leaving no hole", async () => {
    const dir = tempDir();
    let failNext = 0;
    const a = await openStack(dir, {
      wal: (w) => ({
        append: (r) => (failNext-- > 0 ? Promise.reject(new WalWriteError("disk full (test)")) : w.append(r)),
        recover: () => w.recover(),
        trim: (p) => w.trim(p),
        usedBytes: () => w.usedBytes(),
        close: () => w.close(),
      }),
    });
    a.log.ensurePartition(T, "t", 0);
    await a.log.append(T, 0, [batch(2)]);
    failNext = 1;
    await expect(a.log.append(T, 0, [batch(3)])).rejects.toBeInstanceOf(WalWriteError);
    expect(a.log.nextOffset(T, 0)).toBe(2n);
    expect((await a.log.append(T, 0, [batch(1)])).baseOffset).toBe(2n);
    expect(offsetsOf(await a.log.read(T, 0, 0n, 1 << 20))).toEqual([0n, 2n]);
  });

  it("a full WAL refuses appends (retriable) until an upload trims it", async () => {
    const dir = tempDir();
    const a = await openStack(dir, { walMaxBytes: 8192, uploadBytesMin: 1 << 30 });
    a.log.ensurePartition(T, "t", 0);
    let refused: unknown = null;
    for (let i = 0; i < 100 && !refused; i++) {
      try {
        await a.log.append(T, 0, [batch(1, { payloadBytes: 500 })]);
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toBeInstanceOf(WalFullError);
    const hw = a.log.highWatermark(T, 0);
    expect(a.log.nextOffset(T, 0)).toBe(hw);
    await a.log.flush();
    expect((await a.log.append(T, 0, [batch(1, { payloadBytes: 500 })])).baseOffset).toBe(hw);
  });

  it("producer state is rebuildable after restart, from objects and from the WAL", async () => {
    const dir = tempDir();
    const a = await openStack(dir);
    a.log.ensurePartition(T, "t", 0);
    for (let s = 0; s < 7; s++) await a.log.append(T, 0, [batch(1, { producerId: 77n, seq: s })]);
    await a.log.append(T, 0, [batch(1)]); // not idempotent
    await a.log.flush();
    await a.log.append(T, 0, [batch(1, { producerId: 77n, seq: 7 })]);
    await a.log.close();
    const b = await openStack(dir);
    // The last 5 batches of producer 77 from the object, then the WAL tail.
    expect(b.recovered.map((r) => [r.header.producerId, r.header.baseSequence, r.header.baseOffset])).toEqual([
      [77n, 2, 2n],
      [77n, 3, 3n],
      [77n, 4, 4n],
      [77n, 5, 5n],
      [77n, 6, 6n],
      [77n, 7, 8n],
    ]);
  });

  it("offsetForTimestamp finds the first batch reaching the time, in objects or in memory", async () => {
    const dir = tempDir();
    const a = await openStack(dir, { blockBytesMax: 200 });
    a.log.ensurePartition(T, "t", 0);
    for (let i = 0; i < 6; i++) await a.log.append(T, 0, [batch(2, { ts: BigInt(1000 + i * 100) })]);
    await a.log.flush();
    for (let i = 6; i < 9; i++) await a.log.append(T, 0, [batch(2, { ts: BigInt(1000 + i * 100) })]);
    expect(await a.log.offsetForTimestamp(T, 0, 0n)).toMatchObject({ offset: 0n, timestamp: 1000n });
    expect(await a.log.offsetForTimestamp(T, 0, 1250n)).toMatchObject({ offset: 6n, timestamp: 1300n });
    expect(await a.log.offsetForTimestamp(T, 0, 1700n)).toMatchObject({ offset: 14n, timestamp: 1700n });
    expect(await a.log.offsetForTimestamp(T, 0, 1801n)).toBeNull();
  });

  it("deleteRecordsBefore moves the log start durably; deletePartition survives restart", async () => {
    const dir = tempDir();
    const a = await openStack(dir);
    a.log.ensurePartition(T, "t", 0);
    a.log.ensurePartition(T, "t", 1);
    for (let i = 0; i < 4; i++) await a.log.append(T, 0, [batch(5)]);
    await a.log.append(T, 1, [batch(5)]);
    await a.log.flush();
    expect(await a.log.deleteRecordsBefore(T, 0, 12n)).toBe(12n);
    await expect(a.log.read(T, 0, 5n, 100)).rejects.toBeInstanceOf(OffsetOutOfRangeError);
    expect(offsetsOf(await a.log.read(T, 0, 12n, 1))).toEqual([10n]);
    await a.log.deletePartition(T, 1);
    expect(a.log.hasPartition(T, 1)).toBe(false);
    await a.log.close();
    const b = await openStack(dir);
    expect(b.log.logStartOffset(T, 0)).toBe(12n);
    expect(b.log.highWatermark(T, 0)).toBe(20n);
    expect(b.log.hasPartition(T, 1)).toBe(false);
  });

  it("a background upload runs on its own once enough bytes wait", async () => {
    const dir = tempDir();
    const a = await openStack(dir, { uploadBytesMin: 1000 });
    a.log.ensurePartition(T, "t", 0);
    for (let i = 0; i < 5; i++) await a.log.append(T, 0, [batch(1, { payloadBytes: 300 })]);
    for (let i = 0; i < 50 && a.log.stats.objectsUploaded === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(a.log.stats.objectsUploaded).toBeGreaterThan(0);
  });

  it("a failed object put leaves the data in memory and the WAL, and the next upload succeeds", async () => {
    const dir = tempDir();
    const inner = new MemoryObjectStore();
    let failPuts = 1;
    const flaky: ObjectStore = {
      put: (k, b, o) => (k.startsWith("objects/") && failPuts-- > 0 ? Promise.reject(new Error("503 SlowDown (test)")) : inner.put(k, b, o)),
      get: (k, r) => inner.get(k, r),
      head: (k) => inner.head(k),
      delete: (k) => inner.delete(k),
      list: (p, o) => inner.list(p, o),
    };
    const a = await openStack(dir, { store: flaky });
    a.log.ensurePartition(T, "t", 0);
    await a.log.append(T, 0, [batch(3)]);
    await expect(a.log.flush()).rejects.toThrow("SlowDown");
    expect(a.wal.usedBytes()).toBeGreaterThan(0);
    expect(offsetsOf(await a.log.read(T, 0, 0n, 100))).toEqual([0n]);
    await a.log.flush();
    expect(a.wal.usedBytes()).toBe(0);
    await a.log.close();
    const b = await openStack(dir, { store: inner });
    expect(offsetsOf(await b.log.read(T, 0, 0n, 100))).toEqual([0n]);
  });
});
