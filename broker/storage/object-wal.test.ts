import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LocalObjectStore } from "./local-object-store.js";
import { MemoryObjectStore } from "./memory-object-store.js";
import { decodeWalObject, encodeWalObject, ObjectWal, splitWalObjectPosition, walFenceKey, walObjectKey, walObjectPosition, type ObjectWalOptions } from "./object-wal.js";
import { encodeFrame, WalFormatError } from "./file-wal.js";
import type { ObjectStore, PutOptions } from "./object-store.js";
import { walConformance } from "./wal.conformance.js";
import { WalFencedError, WalFullError, WalWriteError, type Wal } from "./wal.js";
import { crc32c } from "../protocol/crc32c.js";

const small = { flushIntervalMs: 5, flushBytes: 64 * 1024 };

walConformance(
  "s3 (memory store)",
  async () => {
    const store = new MemoryObjectStore();
    return {
      open: ({ epoch, tiny }) => ObjectWal.open({ store, brokerId: 5, epoch, ...small, maxBytes: tiny ? 16 * 1024 : 64 * 1024 * 1024, objectBytesMax: tiny ? 8 * 1024 : undefined }),
      cleanup: async () => undefined,
    };
  },
  { unitRecordBytes: 3000 },
);

walConformance(
  "s3 (local folder store)",
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-owal-"));
    const store = new LocalObjectStore(dir);
    return {
      open: ({ epoch, tiny }) => ObjectWal.open({ store, brokerId: 5, epoch, ...small, maxBytes: tiny ? 16 * 1024 : 64 * 1024 * 1024, objectBytesMax: tiny ? 8 * 1024 : undefined }),
      cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  },
  { unitRecordBytes: 3000 },
);

/** A store whose puts can be held, reordered and failed by key. */
class ControlledStore implements ObjectStore {
  readonly inner = new MemoryObjectStore();
  hold: ((key: string) => Promise<void> | undefined) | null = null;
  failPut: ((key: string) => boolean) | null = null;
  failDelete = false;
  puts: string[] = [];
  async put(key: string, body: Buffer, opts?: PutOptions) {
    this.puts.push(key);
    const wait = this.hold?.(key);
    if (wait) await wait;
    if (this.failPut?.(key)) throw Object.assign(new Error("SlowDown: please reduce your request rate"), { name: "SlowDown" });
    return this.inner.put(key, body, opts);
  }
  get = (key: string, range?: { start: number; end: number }) => this.inner.get(key, range);
  head = (key: string) => this.inner.head(key);
  async delete(key: string) {
    if (this.failDelete) throw new Error("delete refused");
    return this.inner.delete(key);
  }
  list = (prefix: string, opts?: { startAfter?: string; limit?: number }) => this.inner.list(prefix, opts);
}

async function records(wal: Wal): Promise<string[]> {
  const out: string[] = [];
  for await (const r of wal.recover()) out.push(r.record.toString());
  return out;
}

const opened: ObjectWal[] = [];
async function open(opts: ObjectWalOptions): Promise<ObjectWal> {
  const w = await ObjectWal.open(opts);
  opened.push(w);
  return w;
}
afterEach(async () => {
  for (const w of opened.splice(0)) await w.close().catch(() => undefined);
});

describe("ObjectWal", () => {
  it("object format round trip; a flipped byte or a newer version is detected", () => {
    const frames = [encodeFrame(Buffer.from("a"), 3), encodeFrame(Buffer.from("bb"), 3)];
    const encoded = encodeWalObject(3, 42n, frames);
    const body = Buffer.concat(encoded.pieces);
    expect(encoded.size).toBe(body.length);
    expect(encoded.checksum).toBe(crc32c(body));
    expect(decodeWalObject(body)).toEqual({ epoch: 3, sequence: 42n, records: [{ epoch: 3, payload: Buffer.from("a") }, { epoch: 3, payload: Buffer.from("bb") }] });
    for (let i = 0; i < body.length; i++) {
      const bad = Buffer.from(body);
      bad[i] = bad[i]! ^ 0x01;
      expect(decodeWalObject(bad)).toBeNull();
    }
    expect(decodeWalObject(body.subarray(0, body.length - 1))).toBeNull();
    const newer = Buffer.from(body);
    newer.writeUInt8(2, 4);
    newer.writeUInt32BE(crc32c(newer, 0, newer.length - 8), newer.length - 8);
    expect(() => decodeWalObject(newer)).toThrow(WalFormatError);
    expect(splitWalObjectPosition(walObjectPosition(7n, 3))).toEqual({ sequence: 7n, index: 3 });
    expect(walObjectKey(2, 9, 12n)).toBe("wal/2/0000000009/00000000000000000012");
  });

  it("flushes on the interval or at flushBytes, whichever comes first", async () => {
    const store = new MemoryObjectStore();
    const wal = await open({ store, brokerId: 1, epoch: 1, flushIntervalMs: 60_000, flushBytes: 1000 });
    const t0 = Date.now();
    // 10 x 113-byte frames pass 1000 bytes at the 9th append: one object, no waiting for the timer.
    const ps = Array.from({ length: 9 }, () => wal.append(Buffer.alloc(100)));
    await Promise.all(ps);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(wal.stats.objectsPut).toBe(1);
    const timed = await open({ store: new MemoryObjectStore(), brokerId: 1, epoch: 1, flushIntervalMs: 30, flushBytes: 1 << 20 });
    const t1 = Date.now();
    await Promise.all([timed.append(Buffer.from("x")), timed.append(Buffer.from("y"))]);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(25);
    expect(timed.stats.objectsPut).toBe(1);
    expect(timed.stats.putLatencyCount).toBe(1);
  });

  it("flushes early once appends pause, never sooner than flushIntervalMinMs after the last flush", async () => {
    const store = new MemoryObjectStore();
    const wal = await open({ store, brokerId: 1, epoch: 1, flushIntervalMs: 60_000, flushIntervalMinMs: 80, flushBytes: 1 << 20 });
    // A lone append (the writer then waits for its ack): put after the pause, not after the minute.
    let t = Date.now();
    await wal.append(Buffer.from("first"));
    expect(Date.now() - t).toBeLessThan(2000);
    const firstAckAt = Date.now();
    // The next one right after its ack waits out the minimum interval since the first flush.
    await wal.append(Buffer.from("second"));
    expect(Date.now() - firstAckAt).toBeGreaterThanOrEqual(60);
    expect(wal.stats.objectsPut).toBe(2);
    // Appends that keep coming every 2 ms for 400 ms: at most one object per minimum interval.
    const before = wal.stats.objectsPut;
    const acks: Promise<unknown>[] = [];
    t = Date.now();
    while (Date.now() - t < 400) {
      acks.push(wal.append(Buffer.from("steady")));
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(acks);
    expect(wal.stats.objectsPut - before).toBeLessThanOrEqual(Math.ceil((Date.now() - t) / 80) + 1);
    await wal.close();

    // At or above the interval there are no early flushes: a lone append waits the whole interval.
    const steady = await open({ store: new MemoryObjectStore(), brokerId: 1, epoch: 1, flushIntervalMs: 200, flushIntervalMinMs: 200, flushBytes: 1 << 20 });
    t = Date.now();
    await steady.append(Buffer.from("x"));
    expect(Date.now() - t).toBeGreaterThanOrEqual(190);
    await steady.close();
  });

  it("a later object finishing first waits for the earlier one: acks in sequence order", async () => {
    const store = new ControlledStore();
    const wal = await open({ store, brokerId: 1, epoch: 1, flushIntervalMs: 1, flushBytes: 10, inFlightMax: 4 });
    let releaseFirst!: () => void;
    const first = new Promise<void>((r) => (releaseFirst = r));
    store.hold = (key) => (key.endsWith("00000000000000000000") ? first : undefined);
    const order: string[] = [];
    const a = wal.append(Buffer.from("first-object")).then(() => order.push("a"));
    await new Promise((r) => setTimeout(r, 10));
    const b = wal.append(Buffer.from("second-object")).then(() => order.push("b"));
    await new Promise((r) => setTimeout(r, 30));
    expect(await store.inner.head(walObjectKey(1, 1, 1n))).not.toBeNull(); // second object is stored...
    expect(order).toEqual([]); // ...but not acknowledged before the first
    releaseFirst();
    await Promise.all([a, b]);
    expect(order).toEqual(["a", "b"]);
  });

  it("bounds puts in flight", async () => {
    const store = new ControlledStore();
    let inFlight = 0;
    let peak = 0;
    store.hold = () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      return new Promise<void>((r) => setTimeout(() => (inFlight--, r()), 5));
    };
    const wal = await open({ store, brokerId: 1, epoch: 1, flushIntervalMs: 1, flushBytes: 50, inFlightMax: 2 });
    await Promise.all(Array.from({ length: 30 }, (_, i) => wal.append(Buffer.alloc(60, i))));
    expect(peak).toBeLessThanOrEqual(2);
    expect(wal.stats.objectsPut).toBe(30);
  });

  it("a failed put fails its batch and everything after it; later appends work and recovery has no hole", async () => {
    const store = new ControlledStore();
    const wal = await open({ store, brokerId: 1, epoch: 1, flushIntervalMs: 1, flushBytes: 10, inFlightMax: 4 });
    await wal.append(Buffer.from("good-1"));
    let releaseLater!: () => void;
    const later = new Promise<void>((r) => (releaseLater = r));
    // Object 1 fails (once, after a delay); object 2 is stored successfully, but only after that failure.
    let failed = false;
    store.failPut = (key) => {
      if (failed || !key.endsWith("00000000000000000001")) return false;
      failed = true;
      return true;
    };
    store.hold = (key) => (key.endsWith("00000000000000000001") && !failed ? new Promise((r) => setTimeout(r, 30)) : key.endsWith("00000000000000000002") ? later : undefined);
    const lost1 = wal.append(Buffer.from("lost-1"));
    await new Promise((r) => setTimeout(r, 5));
    const lost2 = wal.append(Buffer.from("lost-2"));
    await expect(lost1).rejects.toBeInstanceOf(WalWriteError);
    await expect(lost2).rejects.toBeInstanceOf(WalWriteError);
    await expect(lost1).rejects.toThrow(/SlowDown/);
    const good2 = wal.append(Buffer.from("good-2"));
    await new Promise((r) => setTimeout(r, 20));
    store.hold = null;
    releaseLater();
    await good2;
    expect(await store.inner.head(walObjectKey(1, 1, 2n))).toBeNull(); // the late object of the failed range was cleared
    expect(wal.stats.retries).toBe(1);
    await wal.close();
    const again = await open({ store, brokerId: 1, epoch: 2 });
    expect(await records(again)).toEqual(["good-1", "good-2"]);
    expect(again.recoveryReport.stoppedAt).toBeNull();
  });

  it("while the store refuses, appends fail with WalWriteError; they succeed once it answers again", async () => {
    const store = new ControlledStore();
    const wal = await open({ store, brokerId: 1, epoch: 1, flushIntervalMs: 1, flushBytes: 10 });
    store.failPut = () => true;
    store.failDelete = true;
    await expect(wal.append(Buffer.from("a"))).rejects.toBeInstanceOf(WalWriteError);
    await expect(wal.append(Buffer.from("b"))).rejects.toBeInstanceOf(WalWriteError);
    store.failPut = null;
    store.failDelete = false;
    await wal.append(Buffer.from("c"));
    await wal.close();
    expect(await records(await open({ store, brokerId: 1, epoch: 2 }))).toEqual(["c"]);
  });

  it("recovery keeps the continuous checksummed prefix and reports a gap or a corrupt object", async () => {
    const store = new MemoryObjectStore();
    const wal = await open({ store, brokerId: 1, epoch: 1, flushIntervalMs: 1 });
    for (const r of ["r0", "r1", "r2", "r3"]) await wal.append(Buffer.from(r));
    await wal.close();
    store.corrupt(walObjectKey(1, 1, 2n), 30);
    const reader = await ObjectWal.openForRecovery({ store, brokerId: 1 });
    expect(await records(reader)).toEqual(["r0", "r1"]);
    expect(reader.recoveryReport.stoppedAt?.sequence).toBe("2");
    expect(reader.recoveryReport.notReplayed).toEqual([walObjectKey(1, 1, 2n), walObjectKey(1, 1, 3n)]);
    await store.delete(walObjectKey(1, 1, 1n));
    const gap = await ObjectWal.openForRecovery({ store, brokerId: 1 });
    expect(await records(gap)).toEqual(["r0"]);
    expect(gap.recoveryReport.stoppedAt?.reason).toMatch(/sequence 1 is missing/);
  });

  it("read-only recovery by another broker writes nothing; with fenceEpoch it stops the zombie owner", async () => {
    const store = new MemoryObjectStore();
    const owner = await open({ store, brokerId: 4, epoch: 2, flushIntervalMs: 1 });
    for (const r of ["a", "b"]) await owner.append(Buffer.from(r));
    const keysBefore = (await store.list("")).map((o) => o.key);
    const fenceBefore = (await store.head(walFenceKey(4)))!.etag;
    const reader = await ObjectWal.openForRecovery({ store, brokerId: 4 });
    expect(await records(reader)).toEqual(["a", "b"]);
    await expect(reader.append(Buffer.from("x"))).rejects.toThrow(/read-only/);
    expect((await store.list("")).map((o) => o.key)).toEqual(keysBefore);
    expect((await store.head(walFenceKey(4)))!.etag).toBe(fenceBefore);
    await owner.append(Buffer.from("c")); // not fenced by a plain reader
    const recoverer = await ObjectWal.openForRecovery({ store, brokerId: 4, fenceEpoch: 3 });
    expect(await records(recoverer)).toEqual(["a", "b", "c"]);
    await expect(owner.append(Buffer.from("zombie"))).rejects.toBeInstanceOf(WalFencedError);
    // The broker id's new owner (epoch 3, the recoverer's) continues; the zombie's late object is ignored and deleted.
    const next = await open({ store, brokerId: 4, epoch: 3, flushIntervalMs: 1 });
    expect(next.recoveryReport.fencedLeftovers).toEqual([walObjectKey(4, 2, 3n)]);
    expect(await store.head(walObjectKey(4, 2, 3n))).toBeNull();
    expect(await records(next)).toEqual(["a", "b", "c"]);
    await next.append(Buffer.from("d"));
    await next.trim(walObjectPosition(2n, 0)); // old epoch's objects go once uploaded
    await next.close();
    const check = await ObjectWal.openForRecovery({ store, brokerId: 4 });
    expect(await records(check)).toEqual(["c", "d"]);
    expect((await store.list("wal/4/0000000002/")).map((o) => o.key)).toEqual([walObjectKey(4, 2, 2n)]);
  });

  it("bounds bytes not yet acknowledged (WalFullError), reports stats", async () => {
    const store = new ControlledStore();
    const wal = await open({ store, brokerId: 1, epoch: 1, flushIntervalMs: 1, flushBytes: 1024, objectBytesMax: 4096, pendingBytesMax: 8192 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    store.hold = () => gate;
    const results = Array.from({ length: 20 }, () => wal.append(Buffer.alloc(1000)).then(() => "ok" as const, (e: unknown) => e));
    await new Promise((r) => setTimeout(r, 20));
    expect(wal.usedBytes()).toBeLessThanOrEqual(8192);
    release();
    const settled = await Promise.all(results);
    const refused = settled.filter((r) => r instanceof WalFullError);
    // 7 frames of 1013 bytes plus the headers of their objects fit in 8192 bytes; the rest is refused.
    const ok = settled.filter((r) => r === "ok").length;
    expect(ok).toBe(7);
    expect(settled.slice(0, ok)).toEqual(Array(ok).fill("ok"));
    expect(refused.length).toBe(20 - ok);
    expect(String(refused[0])).toMatch(/WAL queue full/);
    expect(wal.stats.bytesPut).toBeGreaterThan(7 * 1013);
    expect(wal.stats.putLatencyCount).toBe(wal.stats.objectsPut);
  });
});
