import type { Logger } from "pino";
import { crc32c, crc32cCombine } from "../protocol/crc32c.js";
import { decodeFrame, encodeFrameParts, frameChecksum, WAL_RECORD_HEADER_BYTES, WalFormatError } from "./file-wal.js";
import { piecesLength, piecesOf, type Pieces } from "./pieces.js";
import { PreconditionFailedError, type ObjectStore } from "./object-store.js";
import { WalFencedError, WalFullError, WalWriteError, type Wal, type WalPosition, type WalRecord } from "./wal.js";

/**
 * The `s3` WAL: no volume. Appends are batched into WAL objects put to the object store
 * with create-if-absent at `wal/<brokerId>/<10-digit epoch>/<20-digit sequence>`, flushed
 * every `flushIntervalMs` or as soon as `flushBytes` are pending, whichever comes first;
 * or early, once appends have paused (`APPEND_PAUSE_MS`) and `flushIntervalMinMs` has passed
 * since the last flush. A pause means the writers are waiting for acknowledgements (a Kafka
 * producer stops at its in-flight limit): holding their data longer only adds latency, and
 * the minimum interval still bounds the put rate.
 * An append resolves only after its object's put (and the fence check after it)
 * succeeded. Puts run concurrently (at most `inFlightMax`), acknowledgements are released
 * strictly in sequence order.
 *
 * Position of a record: `(sequence << 32) | index in its object`. Sequences continue
 * across epochs (a new owner starts after the prefix it recovered), so positions only grow.
 *
 * Object format (big-endian):
 *
 *   0 magic    4  "FLWO"
 *   4 version  u8 1
 *   5 reserved 3  zero
 *   8 epoch    u32
 *  12 sequence u64
 *  20 count    u32 records
 *  24 records  FileWal frames ([len][crc32c][version][epoch][payload]), `count` of them
 *   . trailer  u32 CRC-32C of every byte before it, then magic "FLWE"
 *
 * Failure: the store retries transient errors itself; a put that still fails fails its
 * batch and every batch and append after it (WalWriteError), so acknowledged data has no
 * holes. Before the next put, the WAL waits for the puts in flight to settle and deletes
 * every object from the failed sequence on (they may exist although their put reported
 * failure; none was acknowledged), then reuses that sequence. Later appends are served
 * normally once that succeeds.
 *
 * Recovery lists `wal/<brokerId>/`, orders objects by sequence and replays the continuous,
 * checksummed prefix, across epochs. A gap or a bad checksum ends the replay (reported in
 * `recoveryReport`). Objects of an older epoch at or beyond the sequence where a newer
 * epoch started were written by a fenced owner after the takeover, never acknowledged,
 * and are ignored (and deleted by the next owner).
 *
 * Fencing: `wal/<brokerId>/fence` holds the highest epoch that opened this WAL and where
 * each recent epoch started; it is only ever replaced by compare-ETag (or created with
 * create-if-absent), so two openers cannot both win. The owner re-reads its ETag (a HEAD)
 * after every put and before acknowledging; once a newer epoch appears it stops
 * (WalFencedError). A recovering broker raises the fence before it lists, so every object
 * the zombie acknowledged was put before the listing. A zombie that cannot reach the store
 * cannot acknowledge either. What this does not give is a deadline: a zombie stops at its
 * next put. The multi-broker controller adds lease-based fencing (a broker stops
 * acknowledging once its lease may have lapsed) on top.
 */
const MAGIC = Buffer.from("FLWO");
const TRAILER_MAGIC = Buffer.from("FLWE");
const OBJECT_FORMAT_VERSION = 1;
export const WAL_OBJECT_HEADER_BYTES = 24;
export const WAL_OBJECT_TRAILER_BYTES = 8;
const MiB = 1024 * 1024;
const INDEX_BITS = 32n;
const INDEX_MASK = (1n << INDEX_BITS) - 1n;
const RECORDS_PER_OBJECT_MAX = 1_000_000;
const FENCE_STARTS_KEPT = 64;
/** Appends this far apart count as a pause (see the class comment). */
const APPEND_PAUSE_MS = 5;

export function walObjectPosition(sequence: bigint, index: number): WalPosition {
  return (sequence << INDEX_BITS) | BigInt(index);
}
export function splitWalObjectPosition(position: WalPosition): { sequence: bigint; index: number } {
  return { sequence: position >> INDEX_BITS, index: Number(position & INDEX_MASK) };
}
export function walObjectPrefix(brokerId: number): string {
  return `wal/${brokerId}/`;
}
export function walObjectKey(brokerId: number, epoch: number, sequence: bigint): string {
  return `${walObjectPrefix(brokerId)}${String(epoch).padStart(10, "0")}/${sequence.toString().padStart(20, "0")}`;
}
export function walFenceKey(brokerId: number): string {
  return `${walObjectPrefix(brokerId)}fence`;
}

export interface ObjectWalOptions {
  store: ObjectStore;
  brokerId: number;
  epoch: number;
  flushIntervalMs?: number;
  flushBytes?: number;
  /** Shortest time between flushes when appends pause; at or above `flushIntervalMs`, no early flushes. Default 150 ms (at most ~7 WAL puts per second). */
  flushIntervalMinMs?: number;
  /** Largest WAL object; one record must fit in it. Default max(flushBytes, 16 MiB). */
  objectBytesMax?: number;
  /** Bound on untrimmed bytes (objects not deleted, plus everything not yet put). */
  maxBytes?: number;
  /** Bound on bytes accepted but not yet acknowledged. */
  pendingBytesMax?: number;
  /** Bound on concurrent puts. */
  inFlightMax?: number;
  logger?: Logger;
}

export interface ObjectWalRecoveryOptions {
  store: ObjectStore;
  brokerId: number;
  /** Raise the fence to this epoch before listing, so a zombie owner stops acknowledging. */
  fenceEpoch?: number;
  logger?: Logger;
}

export interface ObjectWalRecoveryReport {
  objects: number;
  records: number;
  bytes: number;
  /** The replay ended early: a missing sequence, or an object failing its checksum. */
  stoppedAt: { sequence: string; reason: string } | null;
  /** Objects after the replayed prefix (kept, never replayed). */
  notReplayed: string[];
  /** Objects of fenced owners written after a takeover (deleted by an owner's open). */
  fencedLeftovers: string[];
}

interface Pending {
  /** The frame in pieces (header, then the caller's payload buffers, uncopied until the object is encoded). */
  parts: Buffer[];
  bytes: number;
  resolve(position: WalPosition): void;
  reject(err: Error): void;
}

interface Batch {
  records: Pending[];
  /** Object size once encoded. */
  bytes: number;
  sequence: bigint | null;
  done: boolean;
}

interface StoredObject {
  key: string;
  sequence: bigint;
  epoch: number;
  count: number;
  bytes: number;
}

interface Fence {
  epoch: number;
  /** [epoch, first sequence] of recent owners, oldest first. */
  starts: [number, string][];
}

export class ObjectWal implements Wal {
  private readonly store: ObjectStore;
  private readonly flushIntervalMs: number;
  private readonly flushBytes: number;
  private readonly flushIntervalMinMs: number;
  private readonly objectBytesMax: number;
  private readonly maxBytes: number;
  private readonly pendingBytesMax: number;
  private readonly inFlightMax: number;
  private readonly logger: Logger | undefined;
  private pending: Pending[] = [];
  private pendingFrameBytes = 0;
  /** Sealed batches not yet acknowledged, in order; those with a sequence have a put started. */
  private outstanding: Batch[] = [];
  private outstandingBytes = 0;
  private readonly inFlight = new Set<Promise<void>>();
  /** Acknowledged (or recovered) objects not yet deleted by trim, in sequence order. */
  private durable: StoredObject[] = [];
  private durableBytes = 0;
  private nextSequence = 0n;
  /** Lowest sequence whose put failed: objects from it up to nextSequence-1 must be deleted before the next put. */
  private repairFrom: bigint | null = null;
  private repairing = false;
  private timer: NodeJS.Timeout | null = null;
  /** Checks for an early flush (see the class comment). */
  private pauseTimer: NodeJS.Timeout | null = null;
  private lastAppendAt = 0;
  private lastSealAt = 0;
  private trimTo = 0n;
  private trimming: Promise<void> = Promise.resolve();
  private fenced: WalFencedError | null = null;
  private fenceEtag = "";
  private closed = false;
  private readonly readOnly: boolean;
  private replay: StoredObject[] = [];
  recoveryReport!: ObjectWalRecoveryReport;
  readonly stats = { objectsPut: 0, bytesPut: 0, putLatencyMsSum: 0, putLatencyCount: 0, putFailures: 0, retries: 0, objectsDeleted: 0, fenceChecks: 0 };

  private constructor(
    readonly brokerId: number,
    readonly epoch: number,
    opts: Omit<ObjectWalOptions, "brokerId" | "epoch">,
    readOnly: boolean,
  ) {
    this.store = opts.store;
    this.flushIntervalMs = opts.flushIntervalMs ?? 250;
    this.flushBytes = opts.flushBytes ?? 4 * MiB;
    this.flushIntervalMinMs = opts.flushIntervalMinMs ?? Math.min(150, this.flushIntervalMs);
    this.objectBytesMax = opts.objectBytesMax ?? Math.max(this.flushBytes, 16 * MiB);
    this.maxBytes = opts.maxBytes ?? 1024 * MiB;
    this.pendingBytesMax = opts.pendingBytesMax ?? Math.min(64 * MiB, this.maxBytes);
    this.inFlightMax = opts.inFlightMax ?? 4;
    this.logger = opts.logger;
    this.readOnly = readOnly;
    if (!Number.isInteger(brokerId) || brokerId < 0) throw new Error(`ObjectWal: broker id ${brokerId} is not a non-negative integer`);
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new Error(`ObjectWal: epoch ${epoch} is not a u32`);
    if (this.flushIntervalMs < 0) throw new Error("ObjectWal: flushIntervalMs must be >= 0");
    if (this.flushBytes < 1) throw new Error("ObjectWal: flushBytes must be positive");
    if (this.flushIntervalMinMs < 0) throw new Error("ObjectWal: flushIntervalMinMs must be >= 0");
    if (this.objectBytesMax < 1024) throw new Error(`ObjectWal: objectBytesMax ${this.objectBytesMax} is too small`);
    if (this.inFlightMax < 1) throw new Error("ObjectWal: inFlightMax must be >= 1");
  }

  /** Opens this broker's WAL for appends: raises the fence, recovers, records where this epoch starts. */
  static async open(opts: ObjectWalOptions): Promise<ObjectWal> {
    const wal = new ObjectWal(opts.brokerId, opts.epoch, opts, false);
    const fence = await wal.raiseFence(opts.epoch);
    await wal.scan(fence);
    // Objects a fenced owner wrote after its takeover are garbage: delete them now, so no later
    // recovery depends on remembering where this epoch started.
    for (const key of wal.recoveryReport.fencedLeftovers) await wal.store.delete(key);
    const starts: [number, string][] = [...fence.starts.filter(([e]) => e !== opts.epoch), [opts.epoch, wal.nextSequence.toString()]];
    wal.fenceEtag = await wal.writeFence({ epoch: opts.epoch, starts: starts.slice(-FENCE_STARTS_KEPT) }, wal.fenceEtag);
    return wal;
  }

  /**
   * Opens another broker's WAL read-only: recover() yields its continuous prefix, nothing is
   * written or deleted (except the fence, raised first when `fenceEpoch` is given).
   */
  static async openForRecovery(opts: ObjectWalRecoveryOptions): Promise<ObjectWal> {
    const wal = new ObjectWal(opts.brokerId, opts.fenceEpoch ?? 0, { store: opts.store, logger: opts.logger }, true);
    const fence = opts.fenceEpoch !== undefined ? await wal.raiseFence(opts.fenceEpoch) : ((await wal.readFence()) ?? { fence: { epoch: 0, starts: [] } }).fence;
    await wal.scan(fence);
    if (opts.fenceEpoch !== undefined) {
      // Record where the recovered prefix ends: objects a zombie puts from there on are never replayed.
      const starts: [number, string][] = [...fence.starts.filter(([e]) => e !== opts.fenceEpoch), [opts.fenceEpoch, wal.nextSequence.toString()]];
      wal.fenceEtag = await wal.writeFence({ epoch: opts.fenceEpoch, starts: starts.slice(-FENCE_STARTS_KEPT) }, wal.fenceEtag);
    }
    return wal;
  }

  /** Epoch in the fence object of `brokerId`'s WAL, or 0 if there is none. */
  static async readFenceEpoch(store: ObjectStore, brokerId: number): Promise<number> {
    const wal = new ObjectWal(brokerId, 0, { store }, true);
    return (await wal.readFence())?.fence.epoch ?? 0;
  }

  /** Largest payload one record may carry. */
  get recordBytesMax(): number {
    return Math.min(this.objectBytesMax, this.pendingBytesMax) - WAL_OBJECT_HEADER_BYTES - WAL_OBJECT_TRAILER_BYTES - WAL_RECORD_HEADER_BYTES;
  }

  append(record: Pieces, checksum?: number): Promise<WalPosition> {
    if (this.closed) return Promise.reject(new Error("ObjectWal: closed"));
    if (this.readOnly) return Promise.reject(new Error("ObjectWal: opened read-only for recovery"));
    if (this.fenced) return Promise.reject(this.fenced);
    const recordBytes = piecesLength(record);
    if (recordBytes > this.recordBytesMax) return Promise.reject(new RangeError(`WAL record of ${recordBytes} bytes exceeds the ${this.recordBytesMax}-byte limit`));
    const frameBytes = WAL_RECORD_HEADER_BYTES + recordBytes;
    if (this.usedBytes() + frameBytes > this.maxBytes) return Promise.reject(new WalFullError(`WAL full: ${this.usedBytes()} of ${this.maxBytes} bytes untrimmed`));
    if (this.unackedBytes() + frameBytes > this.pendingBytesMax) return Promise.reject(new WalFullError(`WAL queue full: ${this.unackedBytes()} bytes waiting for the object store`));
    const parts = encodeFrameParts(record, this.epoch, checksum);
    return new Promise<WalPosition>((resolve, reject) => {
      this.pending.push({ parts, bytes: frameBytes, resolve, reject });
      this.pendingFrameBytes += frameBytes;
      this.lastAppendAt = performance.now();
      if (this.pendingFrameBytes >= this.flushBytes) this.seal();
      else {
        this.timer ??= setTimeout(() => this.seal(), this.flushIntervalMs);
        this.watchForPause();
      }
    });
  }

  /** Seals early once appends pause, but never sooner than `flushIntervalMinMs` after the last seal. */
  private watchForPause(): void {
    if (this.pauseTimer || this.flushIntervalMinMs >= this.flushIntervalMs) return;
    const at = Math.max(this.lastAppendAt + APPEND_PAUSE_MS, this.lastSealAt + this.flushIntervalMinMs);
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = null;
      if (this.pending.length === 0) return;
      const now = performance.now();
      if (now - this.lastAppendAt >= APPEND_PAUSE_MS && now - this.lastSealAt >= this.flushIntervalMinMs) this.seal();
      else this.watchForPause();
    }, Math.max(0, at - performance.now()));
  }

  private clearFlushTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.timer = null;
    this.pauseTimer = null;
  }

  async *recover(): AsyncIterable<WalRecord> {
    for (const obj of [...this.replay]) {
      const got = await this.store.get(obj.key);
      if (!got) throw new Error(`WAL object ${obj.key} disappeared after open`);
      const decoded = decodeWalObject(got.body);
      if (!decoded) throw new Error(`WAL object ${obj.key} changed after open: checksum mismatch`);
      for (let i = 0; i < decoded.records.length; i++) {
        const r = decoded.records[i]!;
        yield { position: walObjectPosition(obj.sequence, i), epoch: r.epoch, record: r.payload };
      }
    }
  }

  /** Deletes whole objects whose every record lies below `upTo`. */
  async trim(upTo: WalPosition): Promise<void> {
    if (this.readOnly) throw new Error("ObjectWal: opened read-only for recovery");
    if (upTo <= this.trimTo) return this.trimming;
    this.trimTo = upTo;
    this.trimming = this.trimming.then(() => this.deleteTrimmed());
    return this.trimming;
  }

  fencedBy(): Error | null {
    return this.fenced;
  }

  usedBytes(): number {
    return this.durableBytes + this.unackedBytes();
  }

  /** Sequence the next object will get. */
  tail(): bigint {
    return this.nextSequence;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.readOnly) return;
    // Appends accepted before close are finished, not dropped.
    this.seal();
    while (this.outstanding.length > 0 || this.inFlight.size > 0 || this.repairing) {
      if (this.inFlight.size > 0) await Promise.race(this.inFlight);
      else await new Promise((r) => setTimeout(r, 5));
      if (this.fenced) break;
    }
    await this.trimming;
  }

  // ---- batching and puts ----

  private unackedBytes(): number {
    return this.pendingFrameBytes + this.outstandingBytes;
  }

  private seal(): void {
    this.clearFlushTimers();
    this.lastSealAt = performance.now();
    const room = this.objectBytesMax - WAL_OBJECT_HEADER_BYTES - WAL_OBJECT_TRAILER_BYTES;
    while (this.pending.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.pending.length && n < RECORDS_PER_OBJECT_MAX) {
        const next = this.pending[n]!.bytes;
        if (n > 0 && bytes + next > room) break;
        bytes += next;
        n++;
      }
      const records = this.pending.splice(0, n);
      this.pendingFrameBytes -= bytes;
      const batch: Batch = { records, bytes: bytes + WAL_OBJECT_HEADER_BYTES + WAL_OBJECT_TRAILER_BYTES, sequence: null, done: false };
      this.outstanding.push(batch);
      this.outstandingBytes += batch.bytes;
    }
    this.pump();
  }

  private pump(): void {
    if (this.fenced) return;
    if (this.repairFrom !== null) {
      if (!this.repairing && this.outstanding.some((b) => b.sequence === null)) void this.repair();
      return;
    }
    for (const batch of this.outstanding) {
      if (this.inFlight.size >= this.inFlightMax) break;
      if (batch.sequence !== null) continue;
      batch.sequence = this.nextSequence++;
      const p = this.put(batch).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  private async put(batch: Batch): Promise<void> {
    const sequence = batch.sequence!;
    const key = walObjectKey(this.brokerId, this.epoch, sequence);
    const { pieces, size, checksum } = encodeWalObject(this.epoch, sequence, batch.records.map((p) => p.parts), batch.bytes);
    const t0 = performance.now();
    try {
      await this.store.put(key, pieces, { ifNoneMatch: "*", checksum });
      this.stats.putLatencyMsSum += performance.now() - t0;
      this.stats.putLatencyCount++;
      this.stats.objectsPut++;
      this.stats.bytesPut += size;
      const fenced = await this.checkFence();
      if (fenced) return this.fence(fenced);
    } catch (err) {
      this.stats.putFailures++;
      return this.failFrom(batch, err);
    }
    batch.done = true;
    this.release();
    this.pump();
  }

  /** Acknowledges the completed prefix of outstanding batches, in sequence order. */
  private release(): void {
    while (this.outstanding[0]?.done) {
      const batch = this.outstanding.shift()!;
      this.outstandingBytes -= batch.bytes;
      const sequence = batch.sequence!;
      this.durable.push({ key: walObjectKey(this.brokerId, this.epoch, sequence), sequence, epoch: this.epoch, count: batch.records.length, bytes: batch.bytes });
      this.durableBytes += batch.bytes;
      batch.records.forEach((p, i) => p.resolve(walObjectPosition(sequence, i)));
    }
  }

  /** Fails `batch`, every batch after it and everything pending; the next put first clears the failed sequences. */
  private failFrom(batch: Batch, cause: unknown): void {
    const at = this.outstanding.indexOf(batch);
    if (batch.sequence !== null && (this.repairFrom === null || batch.sequence < this.repairFrom)) this.repairFrom = batch.sequence;
    if (at < 0) return; // already failed by an earlier batch's failure
    const failed = this.outstanding.splice(at);
    for (const b of failed) this.outstandingBytes -= b.bytes;
    const rest = this.pending.splice(0);
    this.pendingFrameBytes = 0;
    this.clearFlushTimers();
    const code = (cause as NodeJS.ErrnoException)?.code ?? (cause as Error)?.name;
    const err = new WalWriteError(`WAL object put failed${code ? ` (${code})` : ""}: ${(cause as Error)?.message ?? cause}`, { cause });
    this.logger?.warn({ err: cause, sequence: batch.sequence?.toString(), records: failed.reduce((n, b) => n + b.records.length, 0) + rest.length }, "WAL object put failed");
    for (const b of failed) for (const p of b.records) p.reject(err);
    for (const p of rest) p.reject(err);
  }

  /** After a failed put: wait for the puts in flight, delete what may exist from the failed sequence on, reuse it. */
  private async repair(): Promise<void> {
    this.repairing = true;
    try {
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      const from = this.repairFrom!;
      for (let s = from; s < this.nextSequence; s++) await this.store.delete(walObjectKey(this.brokerId, this.epoch, s));
      this.stats.retries++;
      this.nextSequence = from;
      this.repairFrom = null;
    } catch (err) {
      // The store is still unavailable: fail what waits for a put; the next flush tries again.
      const waiting = this.outstanding.filter((b) => b.sequence === null);
      this.outstanding = this.outstanding.filter((b) => b.sequence !== null);
      for (const b of waiting) this.outstandingBytes -= b.bytes;
      const e = new WalWriteError(`WAL object store unavailable: could not clear objects of a failed put: ${(err as Error).message}`, { cause: err });
      for (const b of waiting) for (const p of b.records) p.reject(e);
      this.logger?.warn({ err }, "WAL: could not clear objects after a failed put; will retry");
    } finally {
      this.repairing = false;
    }
    this.pump();
  }

  private fence(err: WalFencedError): void {
    this.fenced ??= err;
    this.logger?.error({ brokerId: this.brokerId, epoch: this.epoch }, "WAL fenced by a newer broker epoch; no more appends");
    const failed = this.outstanding.splice(0);
    this.outstandingBytes = 0;
    const rest = this.pending.splice(0);
    this.pendingFrameBytes = 0;
    for (const b of failed) for (const p of b.records) p.reject(this.fenced);
    for (const p of rest) p.reject(this.fenced);
  }

  /** Never throws: an object that cannot be deleted now is deleted by a later trim. */
  private async deleteTrimmed(): Promise<void> {
    while (this.durable.length > 0) {
      const obj = this.durable[0]!;
      if (walObjectPosition(obj.sequence, obj.count - 1) >= this.trimTo) break;
      try {
        await this.store.delete(obj.key);
      } catch (err) {
        this.logger?.warn({ err, key: obj.key }, "WAL: could not delete a trimmed object; will retry at the next trim");
        return;
      }
      this.stats.objectsDeleted++;
      this.durable.shift();
      this.durableBytes -= obj.bytes;
    }
  }

  // ---- fence ----

  private async readFence(): Promise<{ fence: Fence; etag: string } | null> {
    const got = await this.store.get(walFenceKey(this.brokerId));
    if (!got) return null;
    let fence: Fence;
    try {
      fence = JSON.parse(got.body.toString("utf8")) as Fence;
      if (!Number.isInteger(fence.epoch) || !Array.isArray(fence.starts)) throw new Error("bad shape");
    } catch (err) {
      throw new Error(`WAL fence ${walFenceKey(this.brokerId)} is malformed: ${(err as Error).message}`);
    }
    return { fence, etag: got.etag };
  }

  /** Raises the fence to `epoch` by compare-ETag; refuses if a newer epoch holds it. */
  private async raiseFence(epoch: number): Promise<Fence> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const cur = await this.readFence();
      if (cur && cur.fence.epoch > epoch) throw new WalFencedError(`WAL of broker ${this.brokerId} is fenced at epoch ${cur.fence.epoch}, newer than epoch ${epoch}`);
      if (cur && cur.fence.epoch === epoch) {
        this.fenceEtag = cur.etag;
        return cur.fence;
      }
      try {
        this.fenceEtag = await this.writeFence({ epoch, starts: cur?.fence.starts ?? [] }, cur?.etag ?? null);
        return { epoch, starts: cur?.fence.starts ?? [] };
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
      }
    }
    throw new Error(`WAL fence of broker ${this.brokerId}: too much contention`);
  }

  private async writeFence(fence: Fence, etag: string | null): Promise<string> {
    const body = Buffer.from(JSON.stringify(fence) + "\n");
    try {
      return (await this.store.put(walFenceKey(this.brokerId), body, etag === null ? { ifNoneMatch: "*" } : { ifMatch: etag })).etag;
    } catch (err) {
      if (err instanceof PreconditionFailedError && !this.readOnly && fence.epoch === this.epoch && etag === this.fenceEtag && etag !== null) {
        const cur = await this.readFence();
        if (cur && cur.fence.epoch > this.epoch) throw new WalFencedError(`WAL of broker ${this.brokerId} was taken over by epoch ${cur.fence.epoch}`);
      }
      throw err;
    }
  }

  private async checkFence(): Promise<WalFencedError | null> {
    this.stats.fenceChecks++;
    const head = await this.store.head(walFenceKey(this.brokerId));
    if (head && head.etag === this.fenceEtag) return null;
    const cur = await this.readFence();
    if (!cur) throw new Error(`WAL fence ${walFenceKey(this.brokerId)} disappeared`);
    if (cur.fence.epoch > this.epoch) return new WalFencedError(`WAL of broker ${this.brokerId} was taken over by epoch ${cur.fence.epoch}; this broker (epoch ${this.epoch}) is fenced`);
    return null;
  }

  // ---- recovery scan ----

  private async scan(fence: Fence): Promise<void> {
    const prefix = walObjectPrefix(this.brokerId);
    const found: StoredObject[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.store.list(prefix, { startAfter, limit: 1000 });
      for (const { key, size } of page) {
        const m = /^(\d{10})\/(\d{20})$/.exec(key.slice(prefix.length));
        if (m) found.push({ key, epoch: Number(m[1]), sequence: BigInt(m[2]!), count: 0, bytes: size });
      }
      if (page.length < 1000) break;
      startAfter = page[page.length - 1]!.key;
    }
    // Where each epoch started: from the fence, and from the first object of every later epoch.
    const startOf = new Map<number, bigint>();
    for (const [e, s] of fence.starts) startOf.set(e, BigInt(s));
    for (const o of found) {
      const s = startOf.get(o.epoch);
      if (s === undefined || o.sequence < s) startOf.set(o.epoch, o.sequence);
    }
    const cutoffOf = (epoch: number): bigint | null => {
      let c: bigint | null = null;
      for (const [e, s] of startOf) if (e > epoch && (c === null || s < c)) c = s;
      return c;
    };
    const report: ObjectWalRecoveryReport = { objects: 0, records: 0, bytes: 0, stoppedAt: null, notReplayed: [], fencedLeftovers: [] };
    const live: StoredObject[] = [];
    for (const o of found) {
      const cutoff = cutoffOf(o.epoch);
      if (cutoff !== null && o.sequence >= cutoff) report.fencedLeftovers.push(o.key);
      else live.push(o);
    }
    live.sort((a, b) => (a.sequence < b.sequence ? -1 : a.sequence > b.sequence ? 1 : a.epoch - b.epoch));
    let expected: bigint | null = null;
    for (const o of live) {
      if (report.stoppedAt) {
        report.notReplayed.push(o.key);
        continue;
      }
      if (expected !== null && o.sequence !== expected) {
        report.stoppedAt = { sequence: expected.toString(), reason: o.sequence === expected - 1n ? `two objects with sequence ${o.sequence}` : `sequence ${expected} is missing (next found: ${o.sequence})` };
        report.notReplayed.push(o.key);
        continue;
      }
      const got = await this.store.get(o.key);
      const decoded = got ? decodeWalObject(got.body) : null;
      if (!decoded || decoded.epoch !== o.epoch || decoded.sequence !== o.sequence) {
        report.stoppedAt = { sequence: o.sequence.toString(), reason: got ? `object ${o.key} fails its checksum or names another sequence` : `object ${o.key} vanished` };
        report.notReplayed.push(o.key);
        continue;
      }
      o.count = decoded.records.length;
      o.bytes = got!.body.length;
      report.objects++;
      report.records += o.count;
      report.bytes += o.bytes;
      this.replay.push(o);
      expected = o.sequence + 1n;
    }
    if (report.stoppedAt) this.logger?.error({ brokerId: this.brokerId, ...report.stoppedAt, notReplayed: report.notReplayed.length }, "WAL objects: replay stops early; later objects are not replayed");
    if (report.fencedLeftovers.length > 0) this.logger?.warn({ keys: report.fencedLeftovers }, "WAL objects written by a fenced owner after its takeover are ignored");
    this.recoveryReport = report;
    // The next owner continues after the replayed prefix (or where the first kept object starts).
    this.nextSequence = expected ?? live[0]?.sequence ?? (found.length > 0 ? found.reduce((m, o) => (o.sequence > m ? o.sequence : m), 0n) + 1n : 0n);
    this.durable = [...this.replay];
    this.durableBytes = this.durable.reduce((n, o) => n + o.bytes, 0);
    if (report.records > 0) this.logger?.info({ ...report, brokerId: this.brokerId }, "WAL objects recovered");
  }
}

/**
 * A WAL object as the pieces it is stored as the concatenation of: header, the frames' own
 * buffers (not copied), trailer. `checksum` is the CRC-32C of the whole object, for the
 * upload's integrity check; like the one in the trailer it follows from the frames' own.
 * `frames`: each frame whole or in pieces.
 */
export function encodeWalObject(epoch: number, sequence: bigint, frames: readonly Pieces[], totalBytes?: number): { pieces: Buffer[]; size: number; checksum: number } {
  const framesBytes = frames.reduce((n, f) => n + piecesLength(f), 0);
  const size = WAL_OBJECT_HEADER_BYTES + framesBytes + WAL_OBJECT_TRAILER_BYTES;
  if (totalBytes !== undefined && totalBytes !== size) throw new Error(`WAL object size ${size} differs from the ${totalBytes} accounted`);
  const header = Buffer.alloc(WAL_OBJECT_HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt8(OBJECT_FORMAT_VERSION, 4);
  header.writeUInt32BE(epoch, 8);
  header.writeBigUInt64BE(sequence, 12);
  header.writeUInt32BE(frames.length, 20);
  const pieces: Buffer[] = [header];
  let crc = crc32c(header);
  for (const f of frames) {
    pieces.push(...piecesOf(f));
    crc = crc32cCombine(crc, frameChecksum(f), piecesLength(f));
  }
  const trailer = Buffer.alloc(WAL_OBJECT_TRAILER_BYTES);
  trailer.writeUInt32BE(crc, 0);
  TRAILER_MAGIC.copy(trailer, 4);
  pieces.push(trailer);
  return { pieces, size, checksum: crc32cCombine(crc, crc32c(trailer), trailer.length) };
}

/**
 * The object's records, or null if it is short, torn or fails a checksum. An intact
 * object (trailer checksum good) of an unknown version throws WalFormatError.
 */
export function decodeWalObject(body: Buffer): { epoch: number; sequence: bigint; records: { epoch: number; payload: Buffer }[] } | null {
  if (body.length < WAL_OBJECT_HEADER_BYTES + WAL_OBJECT_TRAILER_BYTES) return null;
  if (!body.subarray(0, 4).equals(MAGIC)) return null;
  const end = body.length - WAL_OBJECT_TRAILER_BYTES;
  if (!body.subarray(end + 4).equals(TRAILER_MAGIC)) return null;
  if (crc32c(body, 0, end) !== body.readUInt32BE(end)) return null;
  const version = body.readUInt8(4);
  if (version !== OBJECT_FORMAT_VERSION) throw new WalFormatError(`WAL object has format version ${version}; this broker reads version ${OBJECT_FORMAT_VERSION}. Upgrade the broker instead of downgrading it.`);
  const count = body.readUInt32BE(20);
  const frames = body.subarray(0, end);
  const records: { epoch: number; payload: Buffer }[] = [];
  let at = WAL_OBJECT_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const f = decodeFrame(frames, at, frames.length);
    if (!f) return null;
    records.push({ epoch: f.epoch, payload: f.payload });
    at = f.next;
  }
  if (at !== end) return null;
  return { epoch: body.readUInt32BE(8), sequence: body.readBigUInt64BE(12), records };
}
