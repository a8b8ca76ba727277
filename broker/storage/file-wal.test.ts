import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { nodeDisk, writeDurablyInSteps, type Disk, type DiskFile } from "./disk.js";
import { decodeFrame, encodeFrame, encodeFrameParts, frameChecksum, FileWal, WAL_RECORD_HEADER_BYTES, WalFormatError } from "./file-wal.js";
import { crc32c } from "../protocol/crc32c.js";
import { WalFencedError, WalFullError, WalWriteError, type Wal } from "./wal.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "floe-wal-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function collect(wal: Wal): Promise<{ position: bigint; record: string }[]> {
  const out: { position: bigint; record: string }[] = [];
  for await (const r of wal.recover()) out.push({ position: r.position, record: r.record.toString() });
  return out;
}

function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort();
}

/** One turn of the event loop: appends before and after it are not in the same synchronous run. */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A disk that counts syncs, can slow them down, and fails writes on demand (ENOSPC-style, after writing part). */
function shimDisk(opts: { syncDelayMs?: number } = {}) {
  // skipWritesBeforeFail: this many writes succeed before the failWrites ones fail.
  const state = { datasyncs: 0, failWrites: 0, skipWritesBeforeFail: 0, failCode: "ENOSPC", syncsInFlight: 0, syncsInFlightMax: 0 };
  const disk: Disk = {
    ...nodeDisk,
    async open(file) {
      const f = await nodeDisk.open(file);
      const wrapped: DiskFile = {
        ...f,
        async write(buf, position) {
          if (state.failWrites > 0 && state.skipWritesBeforeFail-- <= 0) {
            state.failWrites--;
            // A torn, partial write lands before the error, as a real full disk may leave it.
            await f.write(buf.subarray(0, Math.floor(buf.length / 2)), position);
            throw Object.assign(new Error("no space left on device"), { code: state.failCode });
          }
          return f.write(buf, position);
        },
        async datasync() {
          state.datasyncs++;
          state.syncsInFlightMax = Math.max(state.syncsInFlightMax, ++state.syncsInFlight);
          try {
            if (opts.syncDelayMs) await new Promise((r) => setTimeout(r, opts.syncDelayMs));
            return await f.datasync();
          } finally {
            state.syncsInFlight--;
          }
        },
        // The steps one by one, so the counts and failures above apply to every group commit.
        writeDurably: (buf, position, probe) => writeDurablyInSteps(wrapped, disk, buf, position, probe),
      };
      return wrapped;
    },
  };
  return { disk, state };
}

describe("FileWal", () => {
  it("appends, then replays the same records and positions after reopen", async () => {
    const dir = tempDir();
    const wal = await FileWal.open({ dir, epoch: 1 });
    const positions = [];
    for (const s of ["alpha", "beta", "gamma"]) positions.push(await wal.append(Buffer.from(s)));
    expect(positions).toEqual([0n, BigInt(WAL_RECORD_HEADER_BYTES + 5), BigInt(2 * WAL_RECORD_HEADER_BYTES + 9)]);
    await wal.close();
    const again = await FileWal.open({ dir, epoch: 2 });
    expect(await collect(again)).toEqual([
      { position: positions[0], record: "alpha" },
      { position: positions[1], record: "beta" },
      { position: positions[2], record: "gamma" },
    ]);
    const next = await again.append(Buffer.from("delta"));
    expect(next).toBe(again.tail() - BigInt(WAL_RECORD_HEADER_BYTES + 5));
    await again.close();
  });

  it("group commit (one group in flight): appends arriving during a sync share the next write and sync; acks in order", async () => {
    const dir = tempDir();
    const { disk, state } = shimDisk({ syncDelayMs: 20 });
    const wal = await FileWal.open({ dir, epoch: 1, disk, groupsInFlightMax: 1 });
    const before = state.datasyncs;
    const order: number[] = [];
    const append = (i: number) => wal.append(Buffer.from(`r${i}`)).then((pos) => (order.push(i), pos));
    const all = [append(0)];
    await nextMacrotask();
    for (let i = 1; i < 100; i++) all.push(append(i));
    const positions = await Promise.all(all);
    // The first append goes out alone; the other 99 queue behind its sync and go out together.
    expect(state.datasyncs - before).toBe(2);
    expect(wal.stats.groups).toBe(2);
    expect(order).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (let i = 1; i < positions.length; i++) expect(positions[i]! > positions[i - 1]!).toBe(true);
    await wal.close();
  });

  it("appends made in one synchronous run (the partitions of one produce request) share one write and sync", async () => {
    const dir = tempDir();
    const { disk, state } = shimDisk({ syncDelayMs: 5 });
    const wal = await FileWal.open({ dir, epoch: 1, disk });
    const before = state.datasyncs;
    const positions = await Promise.all(Array.from({ length: 8 }, (_, i) => wal.append(Buffer.from(`p${i}`))));
    expect(state.datasyncs - before).toBe(1);
    expect(wal.stats.groups).toBe(1);
    for (let i = 1; i < positions.length; i++) expect(positions[i]! > positions[i - 1]!).toBe(true);
    await wal.close();
  });

  it("group size is bounded by groupRecordsMax", async () => {
    const dir = tempDir();
    const { disk, state } = shimDisk({ syncDelayMs: 5 });
    const wal = await FileWal.open({ dir, epoch: 1, disk, groupRecordsMax: 10, groupsInFlightMax: 1 });
    const before = state.datasyncs;
    await Promise.all(Array.from({ length: 41 }, (_, i) => wal.append(Buffer.from(`r${i}`))));
    expect(state.datasyncs - before).toBe(5); // 10 + 10 + 10 + 10 + 1
    await wal.close();
  });

  it("pipelined group commit (default 3 in flight): appends on separate turns start their own groups at once, the rest share", async () => {
    const dir = tempDir();
    const { disk, state } = shimDisk({ syncDelayMs: 20 });
    const wal = await FileWal.open({ dir, epoch: 1, disk });
    const before = state.datasyncs;
    const order: number[] = [];
    const all: Promise<number>[] = [];
    for (let i = 0; i < 3; i++) {
      all.push(wal.append(Buffer.from(`r${i}`)).then(() => order.push(i)));
      await nextMacrotask();
    }
    for (let i = 3; i < 100; i++) all.push(wal.append(Buffer.from(`r${i}`)).then(() => order.push(i)));
    await Promise.all(all);
    // r0, r1 and r2, each appended on its own turn of the event loop, go out alone while the
    // WAL has room in flight; the other 97 queue behind them and share one sync.
    expect(state.datasyncs - before).toBe(4);
    expect(state.syncsInFlightMax).toBe(3);
    expect(order).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await wal.close();
  });

  it("pipelined groups: several syncs in flight at once, acks still strictly in append order", async () => {
    const dir = tempDir();
    const { disk, state } = shimDisk({ syncDelayMs: 15 });
    const wal = await FileWal.open({ dir, epoch: 1, disk, groupRecordsMax: 5, groupsInFlightMax: 3 });
    const order: number[] = [];
    const positions = await Promise.all(Array.from({ length: 60 }, (_, i) => wal.append(Buffer.from(`r${i}`)).then((pos) => (order.push(i), pos))));
    expect(state.syncsInFlightMax).toBe(3);
    expect(order).toEqual(Array.from({ length: 60 }, (_, i) => i));
    for (let i = 1; i < positions.length; i++) expect(positions[i]! > positions[i - 1]!).toBe(true);
    // Groups synced while an earlier one waited are acknowledged with it, under one fence check.
    expect(wal.stats.fenceChecks).toBeLessThan(wal.stats.groups);
    await wal.close();
    const again = await FileWal.open({ dir, epoch: 2 });
    expect((await collect(again)).map((r) => r.record)).toEqual(Array.from({ length: 60 }, (_, i) => `r${i}`));
    await again.close();
  });

  it("groupsInFlightMax 1: one write + sync at a time", async () => {
    const dir = tempDir();
    const { disk, state } = shimDisk({ syncDelayMs: 5 });
    const wal = await FileWal.open({ dir, epoch: 1, disk, groupRecordsMax: 5, groupsInFlightMax: 1 });
    await Promise.all(Array.from({ length: 30 }, (_, i) => wal.append(Buffer.from(`r${i}`))));
    expect(state.syncsInFlightMax).toBe(1);
    await wal.close();
  });

  it("a failed write in the middle of the pipeline fails that group and every later one, even those whose own sync succeeded", async () => {
    const dir = tempDir();
    const { disk, state } = shimDisk({ syncDelayMs: 10 });
    const wal = await FileWal.open({ dir, epoch: 1, disk, groupRecordsMax: 2, groupsInFlightMax: 3 });
    await wal.append(Buffer.from("first"));
    // Six appends in one run go out as three groups at once: [a0 a1] fails, [a2 a3] and
    // [a4 a5] are written and synced fine behind it.
    state.failWrites = 1;
    const settled = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => wal.append(Buffer.from(`a${i}`))));
    expect(settled.map((r) => r.status)).toEqual(Array.from({ length: 6 }, () => "rejected"));
    for (const r of settled) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WalWriteError);
    expect(state.syncsInFlightMax).toBe(2);
    await wal.append(Buffer.from("after"));
    await wal.close();
    const again = await FileWal.open({ dir, epoch: 1 });
    expect((await collect(again)).map((r) => r.record)).toEqual(["first", "after"]);
    expect(again.recoveryReport.truncatedBytes).toBe(0);
    await again.close();
  });

  it("trim returns during sustained appends (the writer loop never idles) and deletes the freed segments", async () => {
    const dir = tempDir();
    const { disk } = shimDisk({ syncDelayMs: 3 });
    const wal = await FileWal.open({ dir, epoch: 1, disk, segmentBytes: 1024, maxBytes: 64 * 1024 * 1024 });
    const positions: bigint[] = [];
    for (let i = 0; i < 20; i++) positions.push(await wal.append(Buffer.alloc(200, i)));
    let appending = true;
    // Appends arrive on a timer, whether or not earlier ones are done (many producers), so a
    // group is always queued or in flight and the writer loop never idles.
    const pending: Promise<unknown>[] = [];
    const timer = setInterval(() => {
      for (let i = 0; i < 4; i++) pending.push(wal.append(Buffer.alloc(100, 1)));
    }, 1);
    await new Promise((r) => setTimeout(r, 30));
    const deletedBefore = wal.stats.segmentsDeleted;
    const trimmed = await Promise.race([wal.trim(positions[15]! + 1n).then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
    const stillAppending = appending;
    appending = false;
    clearInterval(timer);
    await Promise.all(pending);
    expect(trimmed).toBe(true);
    expect(stillAppending).toBe(true);
    expect(wal.stats.segmentsDeleted).toBeGreaterThan(deletedBefore);
    await wal.close();
  });

  it("a torn tail (file cut mid-record) is detected and truncated; appends continue after it", async () => {
    const dir = tempDir();
    const wal = await FileWal.open({ dir, epoch: 1 });
    for (const s of ["one", "two", "three"]) await wal.append(Buffer.from(s));
    await wal.close();
    const file = path.join(dir, segmentFiles(dir)[0]!);
    const full = fs.statSync(file).size;
    fs.truncateSync(file, full - 3);
    const again = await FileWal.open({ dir, epoch: 1 });
    expect(again.recoveryReport.truncatedBytes).toBe(WAL_RECORD_HEADER_BYTES + 5 - 3);
    expect((await collect(again)).map((r) => r.record)).toEqual(["one", "two"]);
    expect(fs.statSync(file).size).toBe(2 * WAL_RECORD_HEADER_BYTES + 6);
    await again.append(Buffer.from("four"));
    await again.close();
    const third = await FileWal.open({ dir, epoch: 1 });
    expect((await collect(third)).map((r) => r.record)).toEqual(["one", "two", "four"]);
    await third.close();
  });

  it("a flipped byte ends the log at that record, and later segments are set aside", async () => {
    const dir = tempDir();
    const wal = await FileWal.open({ dir, epoch: 1, segmentBytes: 1024, maxBytes: 64 * 1024 });
    const payload = (i: number) => Buffer.from(`record-${i}-`.padEnd(200, "x"));
    for (let i = 0; i < 12; i++) await wal.append(payload(i));
    await wal.close();
    const segs = segmentFiles(dir);
    expect(segs.length).toBeGreaterThan(2);
    const first = path.join(dir, segs[0]!);
    const bytes = fs.readFileSync(first);
    const second = WAL_RECORD_HEADER_BYTES + 200; // start of record 1
    bytes[second + WAL_RECORD_HEADER_BYTES + 3]! ^= 0x01;
    fs.writeFileSync(first, bytes);
    const again = await FileWal.open({ dir, epoch: 1, segmentBytes: 1024, maxBytes: 64 * 1024 });
    expect((await collect(again)).map((r) => r.record.slice(0, 9))).toEqual(["record-0-"]);
    expect(again.recoveryReport.segmentsSetAside).toEqual(segs.slice(1));
    expect(fs.readdirSync(dir).filter((n) => n.endsWith(".corrupt"))).toHaveLength(segs.length - 1);
    await again.close();
  });

  it("crash without close: a new instance recovers everything that was acknowledged", async () => {
    const dir = tempDir();
    const wal = await FileWal.open({ dir, epoch: 1 });
    const acked = await Promise.all(["a", "b", "c", "d"].map((s) => wal.append(Buffer.from(s))));
    // No close(): the process "dies" here.
    const again = await FileWal.open({ dir, epoch: 2 });
    expect((await collect(again)).map((r) => r.position)).toEqual(acked);
    await again.close();
    await wal.close(); // only to release the descriptor

  });

  it("trim deletes whole segments below the trim point, including a fully trimmed active one", async () => {
    const dir = tempDir();
    const wal = await FileWal.open({ dir, epoch: 1, segmentBytes: 1024, maxBytes: 64 * 1024 });
    const positions = [];
    for (let i = 0; i < 20; i++) positions.push(await wal.append(Buffer.alloc(200, i)));
    const before = segmentFiles(dir).length;
    expect(before).toBeGreaterThanOrEqual(4);
    await wal.trim(positions[10]!);
    const mid = segmentFiles(dir);
    expect(mid.length).toBeLessThan(before);
    expect((await collect(wal))[0]!.position).toBeLessThanOrEqual(positions[10]!);
    await wal.trim(positions[19]! + 1n);
    expect(segmentFiles(dir)).toHaveLength(1);
    expect(wal.usedBytes()).toBe(0);
    expect(await collect(wal)).toEqual([]);
    const p = await wal.append(Buffer.from("after"));
    expect(p).toBe(positions[19]! + BigInt(WAL_RECORD_HEADER_BYTES + 200));
    await wal.close();
    const again = await FileWal.open({ dir, epoch: 1, segmentBytes: 1024, maxBytes: 64 * 1024 });
    expect(await collect(again)).toEqual([{ position: p, record: "after" }]);
    await again.close();
  });

  it("acknowledges appends while a trimmed segment is still being deleted (an unlink never holds back acks)", async () => {
    const dir = tempDir();
    let releaseUnlinks!: () => void;
    const unlinksHeld = new Promise<void>((r) => (releaseUnlinks = r));
    let unlinksStarted = 0;
    const disk: Disk = { ...nodeDisk, unlink: async (f) => (unlinksStarted++, await unlinksHeld, nodeDisk.unlink(f)) };
    const wal = await FileWal.open({ dir, epoch: 1, disk, segmentBytes: 1024, maxBytes: 64 * 1024 });
    const positions = [];
    for (let i = 0; i < 20; i++) positions.push(await wal.append(Buffer.alloc(200, i)));
    const before = segmentFiles(dir).length;
    let trimmed = false;
    const trim = wal.trim(positions[15]!).then(() => (trimmed = true));
    while (unlinksStarted === 0) await nextMacrotask();
    // The deletion waits on the disk; appends go on being written, synced and acknowledged.
    const later = [];
    for (let i = 0; i < 10; i++) later.push(await wal.append(Buffer.alloc(200, 100 + i)));
    expect(later[9]! > positions[19]!).toBe(true);
    expect(trimmed).toBe(false);
    expect(segmentFiles(dir).length).toBeGreaterThan(before);
    releaseUnlinks();
    await trim;
    expect(wal.stats.segmentsDeleted).toBeGreaterThan(0);
    expect((await collect(wal))[0]!.position).toBeLessThanOrEqual(positions[15]!);
    await wal.close();
    const again = await FileWal.open({ dir, epoch: 1, segmentBytes: 1024, maxBytes: 64 * 1024 });
    expect((await collect(again)).map((r) => r.position).slice(-10)).toEqual(later);
    await again.close();
  });

  it("full: append rejects with WalFullError, and succeeds again after trim", async () => {
    const dir = tempDir();
    const wal = await FileWal.open({ dir, epoch: 1, segmentBytes: 1024, maxBytes: 4096 });
    const positions: bigint[] = [];
    let full: unknown = null;
    for (let i = 0; i < 100 && !full; i++) {
      try {
        positions.push(await wal.append(Buffer.alloc(100, i)));
      } catch (err) {
        full = err;
      }
    }
    expect(full).toBeInstanceOf(WalFullError);
    expect(wal.usedBytes()).toBeLessThanOrEqual(4096);
    await wal.trim(positions[positions.length - 1]! + 1n);
    await expect(wal.append(Buffer.alloc(100, 1))).resolves.toBeTypeOf("bigint");
    await wal.close();
  });

  it("a failed write (ENOSPC) fails the group with WalWriteError, rolls the file back, and later appends succeed", async () => {
    const dir = tempDir();
    const { disk, state } = shimDisk();
    const wal = await FileWal.open({ dir, epoch: 1, disk });
    await wal.append(Buffer.from("good-1"));
    state.failWrites = 1;
    const failed = await Promise.allSettled([wal.append(Buffer.from("lost-1")), wal.append(Buffer.from("lost-2"))]);
    for (const r of failed) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WalWriteError);
      expect(String((r as PromiseRejectedResult).reason.message)).toContain("ENOSPC");
    }
    expect(fs.statSync(path.join(dir, segmentFiles(dir)[0]!)).size).toBe(WAL_RECORD_HEADER_BYTES + 6);
    await wal.append(Buffer.from("good-2"));
    await wal.close();
    const again = await FileWal.open({ dir, epoch: 1 });
    expect((await collect(again)).map((r) => r.record)).toEqual(["good-1", "good-2"]);
    expect(again.recoveryReport.truncatedBytes).toBe(0);
    await again.close();
  });

  it("a frame whose checksum comes from the caller's payload checksum is the frame a full pass gives", () => {
    const pieces = [Buffer.from("head"), Buffer.alloc(70_000, 3), Buffer.from("tail")];
    const derived = encodeFrameParts(pieces, 9, crc32c(Buffer.concat(pieces)));
    expect(Buffer.concat(derived)).toEqual(Buffer.concat(encodeFrameParts(pieces, 9)));
    expect(frameChecksum(derived)).toBe(crc32c(Buffer.concat(derived)));
    expect(decodeFrame(Buffer.concat(derived), 0, 1 << 20)?.payload).toEqual(Buffer.concat(pieces));
  });

  it("refuses an intact record of a newer format instead of cutting it off as torn", () => {
    const frame = encodeFrame(Buffer.from("payload"), 1);
    frame.writeUInt8(2, 8);
    frame.writeUInt32BE(crc32c(frame, 8, frame.length), 4);
    expect(() => decodeFrame(frame, 0, 1024)).toThrow(WalFormatError);
    frame.writeUInt32BE(0, 4); // a bad checksum is a torn record, not a format question
    expect(decodeFrame(frame, 0, 1024)).toBeNull();
  });

  it("refuses to open a WAL written by a newer epoch", async () => {
    const dir = tempDir();
    const wal = await FileWal.open({ dir, epoch: 7 });
    await wal.append(Buffer.from("x"));
    await wal.close();
    await expect(FileWal.open({ dir, epoch: 6 })).rejects.toBeInstanceOf(WalFencedError);
  });

  it.each(["read", "stat"] as const)("fence check by %s: a newer epoch taking the folder over stops the old instance at its next group; stat checks read the file only when it changed", async (fenceCheck) => {
    const dir = tempDir();
    let reads = 0;
    const disk: Disk = { ...nodeDisk, readFile: (f) => (reads++, nodeDisk.readFile(f)) };
    const old = await FileWal.open({ dir, epoch: 1, disk, fenceCheck });
    for (let i = 0; i < 10; i++) await old.append(Buffer.from(`a${i}`));
    const readsWhileOwner = reads;
    // A takeover (a second process on the same folder) raises the fence.
    const next = await FileWal.open({ dir, epoch: 2 });
    await expect(old.append(Buffer.from("zombie"))).rejects.toBeInstanceOf(WalFencedError);
    expect(old.stats.fenceChecks).toBe(11);
    // Opening reads the fence once; `read` reads it again at every group, `stat` only at the first.
    expect(readsWhileOwner).toBe(fenceCheck === "read" ? 11 : 2);
    expect((await collect(next)).map((r) => r.record)).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`));
    await next.close();
    await old.close();
  });

  it("property: whatever byte the file is cut at, recovery yields a prefix of what was written", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { minLength: 1, maxLength: 12 }), fc.nat(), async (records, cutSeed) => {
        const dir = tempDir();
        const wal = await FileWal.open({ dir, epoch: 1 });
        for (const r of records) await wal.append(Buffer.from(r));
        await wal.close();
        const file = path.join(dir, segmentFiles(dir)[0]!);
        const size = fs.statSync(file).size;
        fs.truncateSync(file, cutSeed % (size + 1));
        const again = await FileWal.open({ dir, epoch: 1 });
        const got = (await collect2(again)).map((b) => Buffer.from(b));
        await again.close();
        expect(got.length).toBeLessThanOrEqual(records.length);
        got.forEach((g, i) => expect(g.equals(Buffer.from(records[i]!))).toBe(true));
      }),
      { numRuns: 40 },
    );
  });
});

async function collect2(wal: Wal): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const r of wal.recover()) out.push(r.record);
  return out;
}
