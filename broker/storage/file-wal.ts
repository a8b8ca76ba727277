import path from "node:path";
import type { Logger } from "pino";
import { crc32c, crc32cCombine } from "../protocol/crc32c.js";
import { nodeDisk, type Disk, type DiskFile } from "./disk.js";
import { sharedBuffer } from "./durable-writer.js";
import { piecesLength, piecesOf, type Pieces } from "./pieces.js";
import { WalFencedError, WalFullError, WalWriteError, type Wal, type WalPosition, type WalRecord } from "./wal.js";

/**
 * A WAL in a local (or block-volume) folder: rolling segment files named by the logical
 * position of their first byte, `<20-digit position>.wal`.
 *
 * Record framing (big-endian), 13 bytes of header then the payload:
 *
 *   0 length  u32  payload bytes (header excluded)
 *   4 crc     u32  CRC-32C of bytes 8..end (version, epoch, payload)
 *   8 version u8   1
 *   9 epoch   u32  broker epoch that wrote the record
 *  13 payload
 *
 * Group commit: appends that queue up go out together as one write + one fdatasync, so
 * they cost one sync per group, not per record. The disk does a group's write, sync and
 * (for `stat` fence checks) the fence's fingerprint as one call (`DiskFile.writeDurably`).
 * Up to `groupsInFlightMax` groups are in flight at once, each at its own position after
 * the previous one: an append that arrives while a sync waits on the disk starts its own
 * group at once if there is room, instead of waiting behind it (the node disk's writer
 * thread then writes the queued groups and syncs them together). One writer loop
 * acknowledges the groups in order: a group only after its own fdatasync and after every
 * group before it, so acks come strictly in append order and an acked record never follows
 * an unsynced one. A roll to a new segment waits until no group is in flight.
 *
 * Failure: if a write or sync fails, the groups written after it are let finish (they are
 * not acknowledged), the segment is truncated back to the last acknowledged size and every
 * in-flight and queued append fails with WalWriteError (none of them is known durable, and
 * failing them all keeps a partition's offsets free of holes). Later appends work again
 * once the disk does. If even the truncate fails, the WAL refuses all further appends.
 *
 * Recovery (at open): segments are read in order; the first short or badly checksummed
 * record ends the log. That segment is truncated there and any later segments are renamed
 * `*.corrupt` (kept for inspection, never replayed). A segment is read only up to the start
 * of the next one: bytes beyond it can only be a late write of a fenced (zombie) writer
 * that was never acknowledged, and are ignored.
 *
 * Fencing (on by default): a small file `fence` holds the highest broker epoch that opened
 * this WAL, replaced atomically (temp file + fsync + rename + directory fsync). open()
 * refuses when it holds a newer epoch, else writes its own. After every group's
 * write + fdatasync, and before acknowledging it, the writer re-reads the fence: if a newer
 * epoch took over, the group is not acknowledged (WalFencedError) and the WAL writes
 * nothing more. A new owner writes the fence before it scans, so every group a zombie
 * acknowledged was durable before the scan and is recovered.
 *
 * `FileWal.openForRecovery(dir)` reads another broker's WAL without writing anything (no
 * truncation, no renames, no fence unless asked): for failover on a shared volume.
 */
export const WAL_RECORD_HEADER_BYTES = 13;
const WAL_FORMAT_VERSION = 1;
const SEGMENT_SUFFIX = ".wal";
const MiB = 1024 * 1024;
const WRITE_BUFFER_MIN_BYTES = MiB;
const FRAME_PAYLOAD_BYTES_MAX = 0xffffffff;
export const FENCE_FILE = "fence";

export interface FileWalOptions {
  dir: string;
  /** Broker epoch, written into every record; a WAL holding a newer epoch refuses to open. */
  epoch: number;
  segmentBytes?: number;
  /** Bound on untrimmed bytes (durable + queued); beyond it append rejects with WalFullError. */
  maxBytes?: number;
  /** Bound on bytes queued behind the in-flight write. */
  pendingBytesMax?: number;
  /** Bound on one group's write. */
  groupBytesMax?: number;
  groupRecordsMax?: number;
  /** Groups written and synced at once (acknowledged in order). Default 3; 1 is strictly one after another. */
  groupsInFlightMax?: number;
  disk?: Disk;
  logger?: Logger;
  /** Write and re-check the `fence` file (default true). */
  fencing?: boolean;
  /**
   * How each group commit re-checks the fence. `read` (default): open and read the file,
   * which a shared file system (NFS) revalidates on open. `stat`: compare the file's
   * fingerprint with the one seen when this instance raised its fence, and read it only if
   * that changed; one call instead of four, for a volume only this host mounts, where
   * attributes are never stale.
   */
  fenceCheck?: "read" | "stat";
  /**
   * Start a fresh segment at open instead of appending to the last one found, so this
   * owner never writes into a file a previous (possibly still running) owner holds open.
   * For shared volumes; default false.
   */
  rollOnOpen?: boolean;
}

export interface FileWalRecoveryOptions {
  disk?: Disk;
  logger?: Logger;
  /** Before reading, raise the fence to this epoch so a zombie owner stops acknowledging. */
  fenceEpoch?: number;
}

interface Segment {
  start: bigint;
  file: string;
  /** Durable bytes. */
  size: number;
  /** Position of the last record in the segment, or null if it holds none. */
  lastRecordStart: bigint | null;
}

interface Pending {
  /** The frame in pieces (header, then the caller's payload buffers, uncopied). */
  parts: Buffer[];
  bytes: number;
  resolve(position: WalPosition): void;
  reject(err: Error): void;
}

/** A group whose write + fdatasync was started and is not acknowledged yet. */
interface InFlightGroup {
  records: Pending[];
  bytes: number;
  seg: Segment;
  /** Byte offset of the group in its segment. */
  offset: number;
  /** Settles when the write and sync are done: null on success, else the error. */
  io: Promise<unknown>;
  /** Set once `io` settled without an error (a fence check may then cover this group too). */
  synced: boolean;
  /** The fence file's fingerprint taken after the sync (`stat` checks), else null. */
  fenceProbe: string | null;
}

export interface WalRecoveryReport {
  segments: number;
  records: number;
  bytes: number;
  /** Bytes cut from the tail of the last good segment (torn or corrupt). */
  truncatedBytes: number;
  /** Later segments set aside because an earlier one ended early. */
  segmentsSetAside: string[];
}

export class FileWal implements Wal {
  private readonly disk: Disk;
  private readonly segmentBytes: number;
  private readonly maxBytes: number;
  private readonly pendingBytesMax: number;
  private readonly groupBytesMax: number;
  /** Write buffers of groups whose write finished, for the next groups (writeBufferFor). */
  private readonly spareWriteBuffers: Buffer[] = [];
  private readonly groupRecordsMax: number;
  private readonly groupsInFlightMax: number;
  private readonly segments: Segment[] = [];
  /** Oldest first; the head is removed only once it is acknowledged or failed. */
  private inFlight: InFlightGroup[] = [];
  private inFlightBytes = 0;
  /** Offset in the active segment where the next group is written (durable size + in flight). */
  private writeOffset = 0;
  /** No group may start: a roll or a rollback is under way. */
  private holdStarts = false;
  private groupStartScheduled = false;
  private active!: DiskFile;
  private queue: Pending[] = [];
  private pendingBytes = 0;
  private trimTo = 0n;
  /** trim() callers waiting for the next maintenance pass (not for the writer to go idle). */
  private trimWaiters: (() => void)[] = [];
  private worker: Promise<void> | null = null;
  /** The pass deleting trimmed segments, while one runs (beside the writer loop). */
  private deletions: Promise<void> | null = null;
  private broken: Error | null = null;
  private fenced: WalFencedError | null = null;
  private closed = false;
  private readonly fencing: boolean;
  private readonly fenceCheck: "read" | "stat";
  /** The fence file's fingerprint while it held this instance's epoch (`stat` checks). */
  private fenceIdentity: string | null = null;
  private readonly readOnly: boolean;
  /** What open() found; for logs, metrics and tests. */
  recoveryReport!: WalRecoveryReport;
  /** Called with each group commit's duration (write + fdatasync as the disk took them), seconds; for metrics. */
  onGroupCommit: ((seconds: number) => void) | null = null;
  /** Counters for metrics and tests. */
  readonly stats = { groups: 0, syncs: 0, records: 0, writeErrors: 0, segmentsDeleted: 0, fenceChecks: 0 };

  private constructor(
    readonly dir: string,
    readonly epoch: number,
    opts: FileWalOptions,
    private readonly logger: Logger | undefined,
    readOnly = false,
  ) {
    this.disk = opts.disk ?? nodeDisk;
    this.fencing = opts.fencing ?? true;
    this.fenceCheck = opts.fenceCheck ?? "read";
    this.readOnly = readOnly;
    this.segmentBytes = opts.segmentBytes ?? 64 * MiB;
    this.maxBytes = opts.maxBytes ?? 1024 * MiB;
    this.pendingBytesMax = opts.pendingBytesMax ?? Math.min(64 * MiB, this.maxBytes);
    this.groupBytesMax = opts.groupBytesMax ?? 4 * MiB;
    this.groupRecordsMax = opts.groupRecordsMax ?? 4096;
    this.groupsInFlightMax = opts.groupsInFlightMax ?? 3;
    if (!(this.groupsInFlightMax >= 1)) throw new Error(`FileWal: groupsInFlightMax ${this.groupsInFlightMax} must be at least 1`);
    if (this.segmentBytes < 1024) throw new Error(`FileWal: segmentBytes ${this.segmentBytes} is too small`);
    if (this.maxBytes < this.segmentBytes) throw new Error(`FileWal: maxBytes ${this.maxBytes} is smaller than segmentBytes ${this.segmentBytes}`);
  }

  static async open(opts: FileWalOptions): Promise<FileWal> {
    if (!Number.isInteger(opts.epoch) || opts.epoch < 0 || opts.epoch > 0xffffffff) throw new Error(`FileWal: epoch ${opts.epoch} is not a u32`);
    const wal = new FileWal(opts.dir, opts.epoch, opts, opts.logger);
    await wal.disk.mkdirp(opts.dir);
    if (wal.fencing) await wal.raiseFence();
    await wal.scan();
    if (opts.rollOnOpen && wal.tail() > wal.segments[wal.segments.length - 1]!.start) await wal.roll();
    return wal;
  }

  /**
   * Opens a WAL read-only, e.g. a dead broker's on a shared volume: recover() lists its
   * continuous checksummed prefix; nothing in the folder is truncated, renamed or written
   * (except the fence file when `fenceEpoch` is given). append() and trim() refuse.
   */
  static async openForRecovery(dir: string, opts: FileWalRecoveryOptions = {}): Promise<FileWal> {
    const epoch = opts.fenceEpoch ?? 0;
    const wal = new FileWal(dir, epoch, { dir, epoch, disk: opts.disk, fencing: opts.fenceEpoch !== undefined }, opts.logger, true);
    if (opts.fenceEpoch !== undefined) await wal.raiseFence();
    await wal.scan();
    return wal;
  }

  /** Epoch in the fence file of `dir`, or 0 if there is none. */
  static async readFence(dir: string, disk: Disk = nodeDisk): Promise<number> {
    let text: string;
    try {
      text = (await disk.readFile(path.join(dir, FENCE_FILE))).toString("utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw err;
    }
    const m = /^(\d+)\n$/.exec(text);
    if (!m) throw new Error(`WAL fence file in ${dir} is malformed: ${JSON.stringify(text.slice(0, 40))}`);
    return Number(m[1]);
  }

  /** Writes this instance's epoch into the fence file unless a newer one is there. */
  private async raiseFence(): Promise<void> {
    const current = await FileWal.readFence(this.dir, this.disk);
    if (current > this.epoch) throw new WalFencedError(`WAL in ${this.dir} is fenced at epoch ${current}, newer than this broker's epoch ${this.epoch}`);
    if (current === this.epoch) return;
    const tmp = path.join(this.dir, `${FENCE_FILE}.${this.epoch}.tmp`);
    const fh = await this.disk.open(tmp);
    try {
      await fh.truncate(0);
      await fh.write(Buffer.from(`${this.epoch}\n`), 0);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await this.disk.rename(tmp, path.join(this.dir, FENCE_FILE));
    await this.disk.syncDir(this.dir);
  }

  /** The file whose fingerprint each group commit takes after its sync: the fence, for `stat` checks. */
  private get fenceProbeFile(): string | null {
    return this.fencing && this.fenceCheck === "stat" ? path.join(this.dir, FENCE_FILE) : null;
  }

  /** Null while this instance still owns the WAL; the error once a newer epoch fenced it. */
  private async checkFence(): Promise<WalFencedError | null> {
    if (!this.fencing) return null;
    this.stats.fenceChecks++;
    const fencePath = path.join(this.dir, FENCE_FILE);
    // Fingerprint taken before the read: a change after it is seen by the next check.
    const identity = this.fenceCheck === "stat" ? await this.disk.identity(fencePath) : null;
    if (identity !== null && identity === this.fenceIdentity) return null;
    const current = await FileWal.readFence(this.dir, this.disk);
    if (current > this.epoch) return new WalFencedError(`WAL in ${this.dir} was taken over by epoch ${current}; this broker (epoch ${this.epoch}) is fenced`);
    this.fenceIdentity = identity;
    return null;
  }

  /** Largest payload one record may carry: a record never spans segments. */
  get recordBytesMax(): number {
    return Math.min(this.segmentBytes, this.groupBytesMax, this.pendingBytesMax) - WAL_RECORD_HEADER_BYTES;
  }

  /**
   * `record` may be given in pieces: they are checksummed and written as one record,
   * without being copied until the group's single write. The pieces must not change
   * until the returned promise settles.
   */
  append(record: Pieces, checksum?: number): Promise<WalPosition> {
    if (this.closed) return Promise.reject(new Error("FileWal: closed"));
    if (this.readOnly) return Promise.reject(new Error("FileWal: opened read-only for recovery"));
    if (this.fenced) return Promise.reject(this.fenced);
    if (this.broken) return Promise.reject(new WalWriteError(`WAL is unusable after a failed rollback: ${this.broken.message}`, { cause: this.broken }));
    const recordBytes = piecesLength(record);
    if (recordBytes > this.recordBytesMax) {
      return Promise.reject(new RangeError(`WAL record of ${recordBytes} bytes exceeds the ${this.recordBytesMax}-byte limit`));
    }
    const frameBytes = WAL_RECORD_HEADER_BYTES + recordBytes;
    if (this.usedBytes() + frameBytes > this.maxBytes) {
      return Promise.reject(new WalFullError(`WAL full: ${this.usedBytes()} of ${this.maxBytes} bytes untrimmed`));
    }
    if (this.pendingBytes + frameBytes > this.pendingBytesMax) {
      return Promise.reject(new WalFullError(`WAL queue full: ${this.pendingBytes} bytes waiting for the disk`));
    }
    const parts = encodeFrameParts(record, this.epoch, checksum);
    return new Promise<WalPosition>((resolve, reject) => {
      this.queue.push({ parts, bytes: frameBytes, resolve, reject });
      this.pendingBytes += frameBytes;
      this.scheduleGroupStart();
      void this.kick();
    });
  }

  async *recover(): AsyncIterable<WalRecord> {
    for (const seg of [...this.segments]) {
      if (seg.size === 0) continue;
      const buf = (await this.disk.readFile(seg.file)).subarray(0, seg.size);
      let at = 0;
      while (at < buf.length) {
        const frame = decodeFrame(buf, at, FRAME_PAYLOAD_BYTES_MAX);
        // open() validated this prefix; a failure now means the disk changed under us.
        if (!frame) throw new Error(`WAL segment ${seg.file} changed after open: bad record at ${at}`);
        yield { position: seg.start + BigInt(at), epoch: frame.epoch, record: frame.payload };
        at = frame.next;
      }
    }
  }

  async trim(upTo: WalPosition): Promise<void> {
    if (this.readOnly) throw new Error("FileWal: opened read-only for recovery");
    if (upTo <= this.trimTo) return;
    this.trimTo = upTo;
    // Resolve after the next maintenance pass, which runs at the start of every round of the
    // writer loop. Waiting for the loop to finish instead would never end under sustained
    // appends, and the uploader, which awaits this, would stall until the WAL filled up.
    const done = new Promise<void>((resolve) => this.trimWaiters.push(resolve));
    void this.kick();
    await done;
  }

  fencedBy(): Error | null {
    return this.fenced;
  }

  usedBytes(): number {
    const head = this.segments[0]!.start;
    const tail = this.tail();
    const trimmed = this.trimTo < head ? head : this.trimTo > tail ? tail : this.trimTo;
    return Number(tail - trimmed) + this.inFlightBytes + this.pendingBytes;
  }

  /** Position the next durable record will get. */
  tail(): WalPosition {
    const last = this.segments[this.segments.length - 1]!;
    return last.start + BigInt(last.size);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker;
    await this.deletions;
    if (!this.readOnly) await this.active.close();
  }

  // ---- writer loop ----

  private kick(): Promise<void> {
    this.worker ??= (async () => {
      // Start after the synchronous run of appends that woke the loop, which forms one group.
      await undefined;
      try {
        do await this.workOnce();
        while (this.hasWork());
      } finally {
        this.worker = null;
      }
    })();
    return this.worker;
  }

  private hasWork(): boolean {
    return this.trimWaiters.length > 0 || this.inFlight.length > 0 || (this.queue.length > 0 && !this.broken && !this.fenced);
  }

  private async workOnce(): Promise<void> {
    // Maintenance first (never touching the active segment while groups are in flight).
    // Trims asked for before this pass are served by it; later ones wait for the next.
    const trimWaiters = this.trimWaiters.splice(0);
    if (this.inFlight.length === 0 && this.activeFullyTrimmed() && !this.broken) {
      await this.rollHoldingStarts().catch((err) => this.logger?.warn({ err }, "WAL: could not roll a trimmed segment"));
    }
    this.deleteTrimmedSegments(trimWaiters);
    if (this.fenced && this.inFlight.length === 0) {
      this.failFenced([], this.fenced);
      return;
    }
    if (this.inFlight.length === 0 && this.queue.length > 0 && !this.broken && !this.fenced && this.nextGroupNeedsRoll()) {
      try {
        await this.rollHoldingStarts();
      } catch (err) {
        this.failQueued([], err, "could not roll to a new WAL segment");
        return;
      }
    }
    this.startGroups();
    const oldest = this.inFlight[0];
    if (oldest) await this.finishGroup(oldest);
  }

  /**
   * Deletes the trimmed segments, then tells `waiters`. The deletions run beside the writer
   * loop, one pass after another, so acknowledgments never wait for them: unlinking a
   * 64 MiB segment takes tens of milliseconds on ext4, and had held back every group
   * synced meanwhile. They only ever touch segments before the active one.
   */
  private deleteTrimmedSegments(waiters: (() => void)[]): void {
    if (waiters.length === 0 && (this.deletions !== null || this.trimmableSegments() === 0)) return;
    const pass = (this.deletions ?? Promise.resolve())
      .then(() => this.deleteTrimmedNow())
      .catch((err: unknown) => this.logger?.warn({ err }, "WAL: deleting trimmed segments failed"))
      .finally(() => {
        for (const resolve of waiters) resolve();
        if (this.deletions === pass) this.deletions = null;
      });
    this.deletions = pass;
  }

  private async deleteTrimmedNow(): Promise<void> {
    while (this.trimmableSegments() > 0) {
      const seg = this.segments[0]!;
      try {
        await this.disk.unlink(seg.file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
          this.logger?.warn({ err, file: seg.file }, "WAL: could not delete a trimmed segment");
          return;
        }
      }
      this.segments.shift();
      this.stats.segmentsDeleted++;
    }
  }

  /** Non-active segments whose every record lies below the trim point (they sit at the front). */
  private trimmableSegments(): number {
    let n = 0;
    while (n < this.segments.length - 1) {
      const seg = this.segments[n]!;
      if (seg.lastRecordStart !== null && seg.lastRecordStart >= this.trimTo) break;
      n++;
    }
    return n;
  }

  private activeFullyTrimmed(): boolean {
    const seg = this.segments[this.segments.length - 1]!;
    return seg.size > 0 && seg.lastRecordStart !== null && seg.lastRecordStart < this.trimTo;
  }

  /** Records and bytes of the group the queue's head would form. */
  private nextGroupSize(): { count: number; bytes: number } {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && count < this.groupRecordsMax) {
      const next = this.queue[count]!.bytes;
      if (count > 0 && bytes + next > this.groupBytesMax) break;
      bytes += next;
      count++;
    }
    return { count, bytes };
  }

  private nextGroupNeedsRoll(): boolean {
    return this.writeOffset > 0 && this.writeOffset + this.nextGroupSize().bytes > this.segmentBytes;
  }

  private async rollHoldingStarts(): Promise<void> {
    this.holdStarts = true;
    try {
      await this.roll();
    } finally {
      this.holdStarts = false;
    }
  }

  /**
   * Appends made in one synchronous run, such as the partitions of one produce request, join
   * one group: the start waits for that run to end (a microtask), so they cost one write +
   * fdatasync instead of one each.
   */
  private scheduleGroupStart(): void {
    if (this.groupStartScheduled) return;
    this.groupStartScheduled = true;
    queueMicrotask(() => {
      this.groupStartScheduled = false;
      this.startGroups();
    });
  }

  /**
   * Starts the write + fdatasync of queued groups while there is room in flight (after
   * each synchronous run of appends, and from the writer loop). A group that needs a new
   * segment waits for the writer loop, which rolls once nothing is in flight.
   */
  private startGroups(): void {
    while (this.queue.length > 0 && this.inFlight.length < this.groupsInFlightMax && !this.holdStarts && !this.broken && !this.fenced) {
      if (this.nextGroupNeedsRoll()) return;
      const { count, bytes } = this.nextGroupSize();
      const records = this.queue.splice(0, count);
      this.pendingBytes -= bytes;
      this.inFlightBytes += bytes;
      const seg = this.segments[this.segments.length - 1]!;
      const offset = this.writeOffset;
      this.writeOffset += bytes;
      // The only copy of the payload on its way to disk: the group's pieces into one write.
      const target = this.writeBufferFor(bytes);
      let at = 0;
      for (const r of records) for (const part of r.parts) at += part.copy(target, at);
      const file = this.active;
      const group: InFlightGroup = { records, bytes, seg, offset, io: Promise.resolve(null), synced: false, fenceProbe: null };
      group.io = (async () => {
        try {
          const started = performance.now();
          const done = await file.writeDurably(target.subarray(0, bytes), offset, this.fenceProbeFile);
          this.onGroupCommit?.((performance.now() - started) / 1000);
          if (done.synced) this.stats.syncs++;
          group.fenceProbe = done.probe;
          group.synced = true;
          return null;
        } finally {
          this.spareWriteBuffers.push(target);
        }
      })().catch((err: unknown) => err ?? new Error("WAL write failed"));
      this.inFlight.push(group);
    }
  }

  /**
   * A buffer for a group's write: a spare one left by an earlier group when it is large
   * enough (a smaller one is dropped), else a new one of at least 1 MiB, shared with the
   * disk's writer thread so it goes to disk uncopied. Reusing them spares
   * the garbage collector a fresh buffer per group, which is much of the allocation churn
   * that drives its major collections. One exists per group in flight at most.
   */
  private writeBufferFor(bytes: number): Buffer {
    const spare = this.spareWriteBuffers.pop();
    if (spare !== undefined && spare.length >= bytes) return spare;
    return sharedBuffer(Math.max(bytes, WRITE_BUFFER_MIN_BYTES));
  }

  /** Acknowledges the oldest in-flight group once its sync is done, or fails it and everything after it. */
  private async finishGroup(g: InFlightGroup): Promise<void> {
    const err = await g.io;
    if (err) {
      this.stats.writeErrors++;
      await this.holdingStarts(async () => {
        const all = await this.drainInFlight();
        await this.rollBack(g.seg);
        this.failQueued(all, err, "WAL write failed");
      });
      return;
    }
    // The fingerprint the disk took right after this group's sync still shows this
    // instance's fence: that was the group's fence check, nothing more to read.
    if (g.fenceProbe !== null && g.fenceProbe === this.fenceIdentity) {
      this.stats.fenceChecks++;
      this.acknowledge(g);
      return;
    }
    // One fence check covers every group synced before it starts: the ones right behind
    // this group that are already durable are acknowledged with it.
    let covered = 1;
    while (covered < this.inFlight.length && this.inFlight[covered]!.synced) covered++;
    let fenced: WalFencedError | null;
    try {
      fenced = await this.checkFence();
    } catch (fenceErr) {
      // Unknown ownership: the group is durable but must not be acknowledged. Keep the bytes
      // (a new owner may be reading them) and fail it like a write error.
      await this.holdingStarts(async () => this.failQueued(await this.drainInFlight(), fenceErr, "WAL fence check failed"));
      return;
    }
    if (fenced) {
      // Leave the file alone: it belongs to the new owner now.
      this.fenced = fenced;
      this.logger?.error({ dir: this.dir, epoch: this.epoch }, "WAL fenced by a newer broker epoch; no more appends");
      this.failFenced(await this.drainInFlight(), fenced);
      return;
    }
    for (const done of this.inFlight.slice(0, covered)) this.acknowledge(done);
  }

  private acknowledge(g: InFlightGroup): void {
    const seg = g.seg;
    if (this.inFlight[0] !== g || g.offset !== seg.size) throw new Error(`FileWal: group at offset ${g.offset} acknowledged out of order after ${seg.size} durable bytes (writer bug)`);
    this.inFlight.shift();
    this.inFlightBytes -= g.bytes;
    this.stats.groups++;
    this.stats.records += g.records.length;
    let at = seg.start + BigInt(seg.size);
    for (const p of g.records) {
      seg.lastRecordStart = at;
      p.resolve(at);
      at += BigInt(p.bytes);
    }
    seg.size += g.bytes;
  }

  private async holdingStarts(fn: () => Promise<void>): Promise<void> {
    this.holdStarts = true;
    try {
      await fn();
    } finally {
      this.holdStarts = false;
    }
  }

  /**
   * Waits for every group in flight (none may land after a rollback), forgets them and
   * hands back their appends, unacknowledged. The next group goes where the durable bytes end.
   */
  private async drainInFlight(): Promise<Pending[]> {
    const all = this.inFlight.splice(0);
    await Promise.all(all.map((l) => l.io));
    for (const l of all) this.inFlightBytes -= l.bytes;
    this.writeOffset = this.segments[this.segments.length - 1]!.size;
    return all.flatMap((l) => l.records);
  }

  /** Cuts the segment back to its durable size; if that fails the WAL cannot promise anything more. */
  private async rollBack(seg: Segment): Promise<void> {
    try {
      await this.active.truncate(seg.size);
      await this.active.datasync();
    } catch (err) {
      this.broken = err as Error;
      this.logger?.error({ err, file: seg.file, size: seg.size }, "WAL: could not truncate after a failed write; refusing further appends");
    }
  }

  /** Fails the group and everything queued behind it: nothing after a failed write may become durable ahead of a retry. */
  private failQueued(group: Pending[], cause: unknown, what: string): void {
    const rest = this.queue.splice(0);
    this.pendingBytes = 0;
    const code = (cause as NodeJS.ErrnoException)?.code;
    const err = new WalWriteError(`${what}${code ? ` (${code})` : ""}: ${(cause as Error)?.message ?? cause}`, { cause });
    this.logger?.warn({ err: cause, records: group.length + rest.length }, what);
    for (const p of group) p.reject(err);
    for (const p of rest) p.reject(err);
  }

  private failFenced(group: Pending[], err: WalFencedError): void {
    const rest = this.queue.splice(0);
    this.pendingBytes = 0;
    for (const p of group) p.reject(err);
    for (const p of rest) p.reject(err);
  }

  private async roll(): Promise<void> {
    const start = this.tail();
    const file = path.join(this.dir, segmentName(start));
    const fresh = await this.disk.open(file);
    try {
      await this.disk.syncDir(this.dir);
    } catch (err) {
      await fresh.close();
      await this.disk.unlink(file).catch(() => undefined);
      throw err;
    }
    await this.active.close();
    this.active = fresh;
    this.segments.push({ start, file, size: 0, lastRecordStart: null });
    this.writeOffset = 0;
  }

  // ---- open / recovery scan ----

  private async scan(): Promise<void> {
    let listed: string[];
    try {
      listed = await this.disk.readdir(this.dir);
    } catch (err) {
      if (!this.readOnly || (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      listed = [];
    }
    const names = listed.filter((n) => n.endsWith(SEGMENT_SUFFIX));
    const found = names
      .map((n) => ({ name: n, start: parseSegmentName(n) }))
      .filter((s): s is { name: string; start: bigint } => s.start !== null)
      .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const report: WalRecoveryReport = { segments: 0, records: 0, bytes: 0, truncatedBytes: 0, segmentsSetAside: [] };
    let newestEpoch = -1;
    let stop = false;
    for (let i = 0; i < found.length; i++) {
      const { name, start } = found[i]!;
      const file = path.join(this.dir, name);
      if (stop || (this.segments.length > 0 && start !== this.tail())) {
        if (!stop) this.logger?.error({ file, expectedStart: this.tail().toString() }, "WAL: gap between segments; later segments are not replayed");
        stop = true;
        if (!this.readOnly) await this.disk.rename(file, file + ".corrupt");
        report.segmentsSetAside.push(name);
        continue;
      }
      let buf = await this.disk.readFile(file);
      const next = found[i + 1];
      if (next && next.start > start && buf.length > next.start - start) {
        // A later segment starts inside this one's bytes: whatever lies beyond its start was
        // written by a fenced owner after the takeover and never acknowledged.
        this.logger?.warn({ file, ignoredBytes: buf.length - Number(next.start - start) }, "WAL: bytes beyond the next segment's start ignored (late write of a fenced owner)");
        buf = buf.subarray(0, Number(next.start - start));
      }
      let at = 0;
      let lastRecordStart: bigint | null = null;
      while (at < buf.length) {
        // Not this.recordBytesMax: records written under larger limits must still replay.
        const frame = decodeFrame(buf, at, FRAME_PAYLOAD_BYTES_MAX);
        if (!frame) break;
        lastRecordStart = start + BigInt(at);
        newestEpoch = Math.max(newestEpoch, frame.epoch);
        report.records++;
        at = frame.next;
      }
      if (at < buf.length) {
        // Torn or corrupt: keep the continuous checksummed prefix only.
        report.truncatedBytes += buf.length - at;
        this.logger?.warn({ file, validBytes: at, cutBytes: buf.length - at }, "WAL: torn or corrupt tail truncated");
        if (!this.readOnly) {
          const fh = await this.disk.open(file);
          try {
            await fh.truncate(at);
            await fh.datasync();
          } finally {
            await fh.close();
          }
        }
        stop = true;
      }
      report.bytes += at;
      this.segments.push({ start, file, size: at, lastRecordStart });
    }
    if (report.segmentsSetAside.length > 0 && !this.readOnly) await this.disk.syncDir(this.dir);
    if (this.readOnly) {
      if (this.segments.length === 0) this.segments.push({ start: 0n, file: path.join(this.dir, segmentName(0n)), size: 0, lastRecordStart: null });
      report.segments = this.segments.length;
      this.recoveryReport = report;
      this.trimTo = this.segments[0]!.start;
      return;
    }
    if (newestEpoch > this.epoch) {
      throw new WalFencedError(`WAL in ${this.dir} holds records of epoch ${newestEpoch}, newer than this broker's epoch ${this.epoch}`);
    }
    if (this.segments.length === 0) {
      const file = path.join(this.dir, segmentName(0n));
      this.active = await this.disk.open(file);
      await this.disk.syncDir(this.dir);
      this.segments.push({ start: 0n, file, size: 0, lastRecordStart: null });
    } else {
      this.active = await this.disk.open(this.segments[this.segments.length - 1]!.file);
    }
    this.writeOffset = this.segments[this.segments.length - 1]!.size;
    report.segments = this.segments.length;
    this.recoveryReport = report;
    this.trimTo = this.segments[0]!.start;
    if (report.records > 0) this.logger?.info({ ...report, dir: this.dir }, "WAL opened");
  }
}

export function encodeFrame(payload: Pieces, epoch: number): Buffer {
  return Buffer.concat(encodeFrameParts(payload, epoch));
}

/**
 * The frame as its 13-byte header followed by the payload's own buffers (not copied).
 * `payloadChecksum` (the CRC-32C of the payload, if the caller has it) saves a pass over it.
 */
export function encodeFrameParts(payload: Pieces, epoch: number, payloadChecksum?: number): Buffer[] {
  const pieces = piecesOf(payload);
  const head = Buffer.allocUnsafe(WAL_RECORD_HEADER_BYTES);
  const length = piecesLength(pieces);
  head.writeUInt32BE(length, 0);
  head.writeUInt8(WAL_FORMAT_VERSION, 8);
  head.writeUInt32BE(epoch, 9);
  let crc = crc32c(head, 8, WAL_RECORD_HEADER_BYTES);
  if (payloadChecksum !== undefined) crc = crc32cCombine(crc, payloadChecksum, length);
  else for (const p of pieces) crc = crc32c(p, 0, p.length, crc);
  head.writeUInt32BE(crc, 4);
  return [head, ...pieces];
}

/**
 * CRC-32C of a whole frame's bytes (header included), given whole or in pieces as
 * encodeFrameParts returns it: the header's own checksum already covers everything after
 * its first 8 bytes, so only those are read.
 */
export function frameChecksum(frame: Pieces): number {
  const head = Buffer.isBuffer(frame) ? frame : frame[0]!;
  return crc32cCombine(crc32c(head, 0, 8), head.readUInt32BE(4), piecesLength(frame) - 8);
}

/** A WAL record that is intact but written in a format this build does not know (a newer Floe). */
export class WalFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WalFormatError";
  }
}

/**
 * The frame at `at`, or null if it is short, oversized or fails its checksum (a torn tail).
 * An intact frame of an unknown version throws WalFormatError: it was written by a newer
 * Floe, and cutting it off as if torn would destroy acknowledged data on a downgrade.
 */
export function decodeFrame(buf: Buffer, at: number, payloadBytesMax: number): { epoch: number; payload: Buffer; next: number } | null {
  if (buf.length - at < WAL_RECORD_HEADER_BYTES) return null;
  const length = buf.readUInt32BE(at);
  if (length > payloadBytesMax || at + WAL_RECORD_HEADER_BYTES + length > buf.length) return null;
  const end = at + WAL_RECORD_HEADER_BYTES + length;
  if (crc32c(buf, at + 8, end) !== buf.readUInt32BE(at + 4)) return null;
  const version = buf.readUInt8(at + 8);
  if (version !== WAL_FORMAT_VERSION) throw new WalFormatError(`WAL record at byte ${at} has format version ${version}; this broker reads version ${WAL_FORMAT_VERSION}. Upgrade the broker instead of downgrading it.`);
  return { epoch: buf.readUInt32BE(at + 9), payload: buf.subarray(at + WAL_RECORD_HEADER_BYTES, end), next: end };
}

function segmentName(start: bigint): string {
  return start.toString().padStart(20, "0") + SEGMENT_SUFFIX;
}

function parseSegmentName(name: string): bigint | null {
  const m = /^(\d{20})\.wal$/.exec(name);
  return m ? BigInt(m[1]!) : null;
}
