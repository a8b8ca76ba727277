import type { Logger } from "pino";
import { partitionLeaderEpochOf, type BatchHeader } from "../protocol/record-batch.js";
import { crc32c, crc32cCombine } from "../protocol/crc32c.js";
import { BATCH_HEADER_BYTES, baseOffsetOf, batchChecksum, checkBatchFrame, lastOffsetDeltaOf, maxTimestampOf, readHeader, splitBatches } from "./batch.js";
import { systemClock, type Clock } from "./clock.js";
import type { MetadataLog, MetadataRecord } from "./metadata-log.js";
import type { ObjectStore } from "./object-store.js";
import { blockId, blockToTuple, keyOf, PRODUCER_BATCHES_KEPT, StorageIndex, type ObjectCommittedRecord, type ObjectCompactedRecord } from "./log-store-index.js";
import type { ClusterState } from "../cluster/cluster-state.js";
import { CacheArena } from "./cache-arena.js";
import { PartitionLog, type CachedBatch, type BlockRef } from "./partition-log.js";
import { encodeStreamSetObject, encodeStreamSetObjectYielding, ObjectCorruptError, verifyBlock, type SsoBlock, type SsoStream } from "./stream-set-object.js";
import { WalWriteError, type Wal, type WalPosition } from "./wal.js";
import { planCompaction, readPlannedBatches, streamObjectKey, type CompactionOptions } from "./compaction.js";
import { GarbageCollector } from "./gc.js";
import { ReadAhead } from "./read-ahead.js";
import { retentionTarget, type RetentionPolicy } from "./retention.js";
import { txnEventsOf, type AbortedTxn } from "../txn/partition-txn-index.js";

export type { TopicPartition } from "./partition-log.js";
export type { RetentionPolicy } from "./retention.js";
export { retentionFromConfigs } from "./retention.js";
export { compactStorageRecords, STORAGE_RECORD_TYPES } from "./log-store-index.js";
export { ObjectCorruptError } from "./stream-set-object.js";

const MiB = 1024 * 1024;

export interface LogStoreOptions {
  /**
   * The WAL is another broker's, opened read-only to recover it (`wal-salvage.ts`): its data
   * is uploaded but never trimmed here; its owner trims it if it comes back.
   */
  walReadOnly?: boolean;
  objectStore: ObjectStore;
  /** The LogStore owns the WAL from here on and closes it. */
  wal: Wal;
  /** Where object commits are recorded (shared with the controller's records). */
  metadata: MetadataLog;
  /** Broker epoch: recorded with every object commit. */
  epoch: number;
  /**
   * Names this process's objects (`objects/<writerId>/<seq>.sso`). Unique per broker and per
   * start, so brokers sharing a bucket, or a broker that lost its data folder and counts its
   * epoch from 1 again, never pick a key another writer used. Defaults to the epoch.
   */
  writerId?: string;
  logger?: Logger;
  clock?: Clock;
  /** Bound on uploaded batches kept in memory for tail reads. Data not yet uploaded is bounded by the WAL instead. */
  cacheBytesMax?: number;
  /** Bound on object blocks kept after catch-up reads. */
  blockCacheBytesMax?: number;
  uploadIntervalMs?: number;
  /** Upload early once this much acknowledged data waits. */
  uploadBytesMin?: number;
  /** Bound on one stream-set object. */
  uploadBytesMax?: number;
  /** Bound on one block (the unit of ranged reads); a larger batch gets a block of its own. */
  blockBytesMax?: number;
  /** Called for every batch recovered at open, in offset order per partition (rebuilds producer state). */
  onRecoveredBatch?: (topicId: string, partition: number, header: BatchHeader) => void;
  /** Read-ahead for sequential catch-up reads: blocks past the one read (0: off), bytes in flight per partition and in total. */
  readAheadBlocks?: number;
  readAheadBytesPerPartition?: number;
  readAheadBytesMax?: number;
  /** Background compaction of stream-set blocks into per-partition stream objects (0: no loop; `compactOnce` still works). */
  compactionIntervalMs?: number;
  compactionMinBytes?: number;
  compactionMinObjects?: number;
  compactionMaxAgeMs?: number;
  /** Bound on one compaction's bytes (read, held and written). */
  compactionBytesMax?: number;
  /** Time/size retention loop (0: no loop; `applyRetention` still works). Needs `retentionPolicy`. */
  retentionIntervalMs?: number;
  /** Per-topic retention (`retention.ms`, `retention.bytes`; -1 unlimited); null skips the topic. */
  retentionPolicy?: (topicId: string) => RetentionPolicy | null;
  /** Garbage collector loop (0: no loop; `collectGarbage` still works). */
  gcIntervalMs?: number;
  /** How long an unreferenced object is kept for reads still holding its blocks. */
  gcGraceMs?: number;
  /** How long an uncommitted object must be seen unreferenced before it is deleted as an orphan. */
  orphanGraceMs?: number;
  gcDeletesPerRun?: number;
  gcListPerRun?: number;
}

/** A point-in-time view of storage memory and lifecycle work, for metrics. */
export interface LogStoreStats {
  tailCacheBytes: number;
  tailCacheBytesMax: number;
  /** Slabs the tail cache's batches are copied into (kept for reuse; bounded by the cache plus two uploads). */
  tailCacheArenaBytes: number;
  /** Batches that kept their own buffer because the arena was full (or they were over a quarter slab). */
  tailCacheArenaFallbacks: number;
  /** Acknowledged bytes waiting for upload (held in memory and the WAL; bounded by the WAL size). */
  uploadQueueBytes: number;
  /** Bound on one upload (one at a time). */
  uploadBytesMax: number;
  blockCacheBytes: number;
  blockCacheBytesMax: number;
  blockCacheHits: number;
  blockCacheMisses: number;
  readAheadBytesInFlight: number;
  readAheadBytesMax: number;
  readAheadBlocks: number;
  objectsUploaded: number;
  bytesUploaded: number;
  uploadFailures: number;
  objectsReferenced: number;
  objectsPendingDeletion: number;
  compactionsRun: number;
  compactionsAborted: number;
  bytesCompacted: number;
  retentionDeletions: number;
  retentionBytesDeleted: number;
  objectsDeleted: number;
  orphansDeleted: number;
}

export class UnknownPartitionError extends Error {
  constructor(topicId: string, partition: number) {
    super(`partition ${topicId}:${partition} is not hosted by this log store`);
    this.name = "UnknownPartitionError";
  }
}

export class OffsetOutOfRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OffsetOutOfRangeError";
  }
}

/** A WAL record carries one append: the partition and its batches with offsets assigned. */
const WAL_TYPE_APPEND = 1;

interface UploadEntry {
  position: WalPosition;
  part: PartitionLog;
  batches: CachedBatch[];
  bytes: number;
}


/**
 * The storage engine the request handlers call. Appends get offsets at once (in call
 * order) and resolve when the WAL has them; an uploader moves acknowledged data into
 * stream-set objects, records each object in the metadata log as one atomic entry, then
 * trims the WAL. Reads come from memory when they can, else from object blocks.
 */
export class LogStore {
  private readonly index = new StorageIndex();
  private readonly partitions = this.index.partitions;
  private readonly deleted = this.index.deleted;
  private readonly store: ObjectStore;
  private readonly wal: Wal;
  private readonly metadata: MetadataLog;
  private readonly logger: Logger | undefined;
  private readonly clock: Clock;
  private readonly cacheBytesMax: number;
  private readonly blockCacheBytesMax: number;
  private readonly uploadIntervalMs: number;
  private readonly uploadBytesMin: number;
  private readonly uploadBytesMax: number;
  private readonly blockBytesMax: number;
  private readonly epoch: number;
  private readonly writerId: string;
  /** Acknowledged appends not yet in an object, in WAL order. */
  private uploadQueue: UploadEntry[] = [];
  private uploadQueueBytes = 0;
  private uploadChain: Promise<void> = Promise.resolve();
  private uploadScheduled = false;
  private objectSeq = 0;
  /** Uploaded batches still cached, oldest first: the eviction order. */
  private uploadedCached: { part: PartitionLog; batch: CachedBatch }[] = [];
  private uploadedCachedHead = 0;
  private uploadedCachedBytes = 0;
  /** Memory of the cached batches (see cache-arena.ts). */
  private readonly arena: CacheArena;
  private readonly blockCache = new Map<string, { batches: Buffer[]; bytes: number }>();
  private blockCacheBytes = 0;
  private readonly blockLoads = new Map<string, Promise<Buffer[]>>();
  private timer: NodeJS.Timeout | null = null;
  private unfollow: () => void = () => undefined;
  /** Records this store is appending: it applies them itself, so the log subscription skips them. */
  private readonly appending = new Set<MetadataRecord>();
  private recovered = false;
  private closed = false;
  /** Highest WAL position seen in recovery whose data needs no upload (already in objects). */
  private recoveredTrimTo: WalPosition | null = null;
  /** Index mutations other than appends at the end, one at a time (see withIndexLock). */
  private indexChain: Promise<unknown> = Promise.resolve();
  /** Objects put by this process whose commit is not applied yet: the collector keeps off them. */
  private readonly inflightKeys = new Set<string>();
  private readonly readAhead: ReadAhead;
  private readonly readAheadMax: number;
  private readonly compaction: CompactionOptions;
  private readonly gc: GarbageCollector;
  private retentionPolicy: ((topicId: string) => RetentionPolicy | null) | undefined;
  private compactionSeq = 0;
  private compactionCursor = 0;
  /** One background task of each kind at a time; close waits for them. */
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly lifecycleTimers: NodeJS.Timeout[] = [];
  readonly stats = {
    objectsUploaded: 0,
    bytesUploaded: 0,
    uploadFailures: 0,
    blockCacheHits: 0,
    blockCacheMisses: 0,
    walRecordsSkipped: 0,
    compactionsRun: 0,
    compactionsAborted: 0,
    compactionFailures: 0,
    bytesCompacted: 0,
    retentionDeletions: 0,
    retentionBytesDeleted: 0,
    readRetries: 0,
    /** Own object commits (per partition range) that the index did not take: this broker was no longer the partition's leader. */
    commitsIgnored: 0,
  };

  private constructor(private readonly opts: LogStoreOptions) {
    this.store = opts.objectStore;
    this.wal = opts.wal;
    this.metadata = opts.metadata;
    this.logger = opts.logger;
    this.clock = opts.clock ?? systemClock;
    this.epoch = opts.epoch;
    this.writerId = opts.writerId ?? String(opts.epoch);
    this.cacheBytesMax = opts.cacheBytesMax ?? 256 * MiB;
    this.blockCacheBytesMax = opts.blockCacheBytesMax ?? 64 * MiB;
    this.uploadIntervalMs = opts.uploadIntervalMs ?? 2000;
    // Each upload costs two PUTs (the object, its metadata entry). 24 MiB keeps that under
    // 2 PUTs/s at 20 MiB/s per broker, leaving most of the 10/s budget to the s3 WAL's own
    // objects; uploads stay below the S3 store's 64 MiB multipart threshold, so one PUT each.
    this.uploadBytesMin = opts.uploadBytesMin ?? 24 * MiB;
    this.uploadBytesMax = opts.uploadBytesMax ?? 64 * MiB;
    this.blockBytesMax = opts.blockBytesMax ?? 1 * MiB;
    // Room for the cache's uploaded batches plus what is on its way to objects (one upload
    // being put, the next one filling); past that, batches keep their own buffers.
    this.arena = new CacheArena(this.cacheBytesMax + 2 * this.uploadBytesMax, (part, batch) => this.partitions.get(keyOf(part.topicId, part.partition)) === part && part.cache[part.cacheIndexOf(batch.baseOffset)] === batch);
    this.readAheadMax = opts.readAheadBytesMax ?? 32 * MiB;
    this.readAhead = new ReadAhead({ blocks: opts.readAheadBlocks ?? 4, bytesPerPartition: opts.readAheadBytesPerPartition ?? 4 * MiB, bytesMax: this.readAheadMax });
    this.compaction = {
      minBytes: opts.compactionMinBytes ?? 32 * MiB,
      minObjects: opts.compactionMinObjects ?? 16,
      maxAgeMs: opts.compactionMaxAgeMs ?? 3_600_000,
      bytesMax: opts.compactionBytesMax ?? 64 * MiB,
    };
    this.retentionPolicy = opts.retentionPolicy;
    this.index.onError = (msg, details) => this.logger?.error(details, msg);
    this.gc = new GarbageCollector(
      {
        store: this.store,
        index: this.index,
        inflight: this.inflightKeys,
        recordDeleted: (keys) => this.recordObjectsDeleted(keys),
        logger: this.logger,
      },
      {
        graceMs: opts.gcGraceMs ?? 300_000,
        orphanGraceMs: opts.orphanGraceMs ?? 3_600_000,
        deletesPerRun: opts.gcDeletesPerRun ?? 1000,
        listPerRun: opts.gcListPerRun ?? 1000,
      },
    );
  }

  /** Replays the metadata log (objects) and the WAL (acknowledged tail), then starts the uploader. */
  static async open(opts: LogStoreOptions): Promise<LogStore> {
    const store = LogStore.create(opts);
    await store.recover(opts.onRecoveredBatch);
    return store;
  }

  /**
   * Two-phase start for the broker runtime: partitions can be declared (ensurePartition)
   * before `recover` runs; appends and reads wait for `recover`.
   */
  static create(opts: LogStoreOptions): LogStore {
    return new LogStore(opts);
  }

  async recover(onRecoveredBatch = this.opts.onRecoveredBatch): Promise<void> {
    if (this.recovered) throw new Error("LogStore: already recovered");
    const nowMs = this.clock.nowMs();
    for (const r of this.metadata.records()) this.index.apply(r, nowMs);
    // Producer state from objects first (older), then from the WAL tail.
    if (onRecoveredBatch) {
      for (const part of this.partitions.values()) {
        for (const h of this.committedProducerBatches(part.topicId, part.partition)) onRecoveredBatch(part.topicId, part.partition, h);
      }
    }
    for (const part of this.partitions.values()) {
      part.nextOffset = part.highWatermark = part.uploadedEnd > part.nextOffset ? part.uploadedEnd : part.nextOffset;
      // Transactions: what the objects committed, then the WAL tail observed on top.
      part.txn = part.txnCommitted.clone();
      // Object seq restarts per start; the writer id is new on every start, so keys stay unique.
    }
    let records = 0;
    for await (const { position, record } of this.wal.recover()) {
      records++;
      this.replayWalRecord(position, record, onRecoveredBatch);
    }
    this.recovered = true;
    // Other writers' entries (the controller's leader changes, other leaders' commits) apply as they are learned, in log order.
    // (Its own records it applies itself, once each, after the append.)
    this.unfollow = this.metadata.subscribe((r) => {
      if (!this.appending.has(r)) this.index.apply(r, this.clock.nowMs());
    });
    this.logger?.info({ partitions: this.partitions.size, walRecords: records, pendingUploadBytes: this.uploadQueueBytes }, "log store recovered");
    if (this.uploadQueue.length === 0 && this.recoveredTrimTo !== null && !this.opts.walReadOnly) await this.wal.trim(this.recoveredTrimTo);
    this.timer = setInterval(() => this.kickUpload(), this.uploadIntervalMs);
    this.timer.unref();
    this.every(this.opts.compactionIntervalMs ?? 30_000, "compaction", () => this.compactOnce());
    this.every(this.opts.retentionIntervalMs ?? 300_000, "retention", () => this.applyRetentionAll());
    this.every(this.opts.gcIntervalMs ?? 60_000, "gc", () => this.collectGarbage());
  }

  /** A background loop: at most one run of `name` at a time, errors logged, stopped by close. */
  private every(intervalMs: number, name: string, task: () => Promise<unknown>): void {
    if (!(intervalMs > 0)) return;
    const t = setInterval(() => {
      if (this.closed || this.running.has(name)) return;
      this.runTask(name, task).catch((err) => this.logger?.warn({ err, task: name }, "storage background task failed; retried at the next interval"));
    }, intervalMs);
    t.unref();
    this.lifecycleTimers.push(t);
  }

  private runTask<T>(name: string, task: () => Promise<T>): Promise<T> {
    const run = task();
    const settled = run.catch(() => undefined).finally(() => {
      if (this.running.get(name) === settled) this.running.delete(name);
    });
    this.running.set(name, settled);
    return run;
  }

  /** Brokers and partition leaders as the metadata log has them, in step with the object index. */
  get cluster(): ClusterState {
    return this.index.cluster;
  }

  /**
   * The last batches of each idempotent producer in the partition's committed objects, in
   * offset order: what a broker needs to rebuild producer state at start-up, or when it
   * takes over the partition from another leader.
   */
  committedProducerBatches(topicId: string, partition: number): BatchHeader[] {
    const byProducer = this.index.producerTails.get(keyOf(topicId, partition));
    if (!byProducer) return [];
    const headers = [...byProducer.values()].flat().map((h) => readHeader(h));
    return headers.sort((a, b) => (a.baseOffset < b.baseOffset ? -1 : a.baseOffset > b.baseOffset ? 1 : 0));
  }

  // ---- partitions ----

  ensurePartition(topicId: string, topic: string, partition: number): void {
    const k = keyOf(topicId, partition);
    const existing = this.partitions.get(k);
    if (existing) {
      if (!existing.topic) existing.topic = topic;
      return;
    }
    this.deleted.delete(k);
    this.partitions.set(k, new PartitionLog(topicId, topic, partition));
  }

  /**
   * This broker becomes the partition's leader after another one (ADR 0003): appends
   * continue where the committed objects end, and reads come from those objects; nothing is
   * copied. Batches this broker still holds for the partition from an earlier leadership
   * and never uploaded are dropped: the partition moved away without a release, so they
   * were written under an older leader epoch and no reader would count them (if they were
   * acknowledged, the WAL recovery that allowed the move uploaded them). Returns how many
   * were dropped.
   */
  continueFromObjects(topicId: string, partition: number): number {
    const part = this.part(topicId, partition);
    let abandoned = 0;
    for (const e of this.uploadQueue) {
      if (e.part !== part || e.batches.length === 0) continue;
      abandoned += e.batches.length;
      this.uploadQueueBytes -= e.bytes;
      // The entry stays for its WAL position: the WAL is trimmed past it as usual.
      e.batches = [];
      e.bytes = 0;
    }
    if (abandoned > 0) this.logger?.warn({ topicId, partition, batches: abandoned }, "taking over a partition: dropped batches from an older leadership that were never uploaded");
    if (part.cache.length > 0) {
      part.cache.splice(0);
      this.uploadedCached = this.uploadedCached.slice(this.uploadedCachedHead).filter((e) => e.part !== part);
      this.uploadedCachedHead = 0;
      this.uploadedCachedBytes = this.uploadedCached.reduce((n, e) => n + e.batch.bytes.length, 0);
    }
    part.nextOffset = part.highWatermark = part.uploadedEnd;
    part.txn = part.txnCommitted.clone();
    part.notify();
    return abandoned;
  }

  /** Forgets the partition here and in the metadata log; its objects become garbage for the collector. */
  async deletePartition(topicId: string, partition: number): Promise<void> {
    const k = keyOf(topicId, partition);
    const part = this.partitions.get(k);
    if (!part) return;
    const atMs = this.clock.nowMs();
    this.index.deletePartition(k, atMs);
    this.readAhead.forget(k);
    part.notify();
    // Queued uploads of this partition are skipped at upload time; their WAL space is trimmed as usual.
    await this.withIndexLock(() => this.record({ type: "partition-deleted", topicId, partition, atMs }));
  }

  /** Where the partition's committed objects end (what any broker can serve of it). */
  committedEnd(topicId: string, partition: number): bigint {
    return this.part(topicId, partition).uploadedEnd;
  }

  hasPartition(topicId: string, partition: number): boolean {
    return this.partitions.has(keyOf(topicId, partition));
  }

  nextOffset(topicId: string, partition: number): bigint {
    return this.part(topicId, partition).nextOffset;
  }

  highWatermark(topicId: string, partition: number): bigint {
    return this.part(topicId, partition).highWatermark;
  }

  logStartOffset(topicId: string, partition: number): bigint {
    return this.part(topicId, partition).logStartOffset;
  }

  /** First offset of the oldest open transaction, else the high watermark: read_committed reads stop here. */
  lastStableOffset(topicId: string, partition: number): bigint {
    const part = this.part(topicId, partition);
    return part.txn.lastStableOffset(part.highWatermark);
  }

  /** Aborted transactions overlapping [fetchOffset, upTo), oldest first (Fetch's aborted_transactions). */
  abortedTransactions(topicId: string, partition: number, fetchOffset: bigint, upTo: bigint): AbortedTxn[] {
    return this.part(topicId, partition).txn.abortedBetween(fetchOffset, upTo);
  }

  /** Open transactions of the partition: producer id and first offset (DescribeProducers). */
  openTransactions(topicId: string, partition: number): { producerId: bigint; firstOffset: bigint }[] {
    return this.part(topicId, partition).txn.openTransactions();
  }

  onAppend(topicId: string, partition: number, listener: () => void): () => void {
    const part = this.partitions.get(keyOf(topicId, partition));
    if (!part) return () => undefined;
    part.listeners.add(listener);
    return () => part.listeners.delete(listener);
  }

  // ---- write path ----

  /**
   * Assigns offsets synchronously (rewriting each batch's baseOffset in place), then
   * resolves once the WAL has the batches. If the WAL refuses, the partition's offsets roll
   * back to this append's base, so no hole is ever left behind.
   */
  async append(topicId: string, partition: number, batches: Buffer[]): Promise<{ baseOffset: bigint; logAppendTimeMs: bigint }> {
    if (!this.recovered) throw new Error("LogStore: append before recovery");
    if (this.closed) throw new Error("LogStore: closed");
    if (batches.length === 0) throw new Error("LogStore: append of no batches");
    const part = this.part(topicId, partition);
    for (const b of batches) checkBatchFrame(b);
    const logAppendTimeMs = BigInt(this.clock.nowMs());
    const baseOffset = part.nextOffset;
    const cached: CachedBatch[] = [];
    const stored: Buffer[] = [];
    for (const b of batches) {
      // The cache keeps its own copy in the arena, so the request's buffer dies young.
      const placed = this.arena.copy(b);
      const bytes = placed?.bytes ?? ownBuffer(b);
      bytes.writeBigInt64BE(part.nextOffset, 0);
      const lastOffset = part.nextOffset + BigInt(lastOffsetDeltaOf(bytes));
      const batch: CachedBatch = { baseOffset: part.nextOffset, lastOffset, maxTimestamp: maxTimestampOf(bytes), bytes, durable: false, uploaded: false, slab: placed?.slab ?? null };
      if (placed) this.arena.track(placed.slab, part, batch);
      cached.push(batch);
      stored.push(bytes);
      part.txn.observeBatch(bytes);
      part.nextOffset = lastOffset + 1n;
    }
    part.cache.push(...cached);
    let position: WalPosition;
    // The WAL reads the bytes until the append settles, even if the batches leave the cache meanwhile.
    const walReading = this.arena.pin(cached.map((c) => c.slab));
    try {
      const record = encodeWalAppend(topicId, partition, stored);
      position = await this.wal.append(record.pieces, record.checksum);
    } catch (err) {
      this.rollBack(part, baseOffset);
      throw err;
    } finally {
      walReading.release();
    }
    // A failure of an earlier append of this partition rolled us back too: our record may be in the WAL, but it now follows a hole and is never replayed.
    if (this.partitions.get(keyOf(topicId, partition)) !== part) throw new Error(`partition ${topicId}:${partition} was deleted during the append`);
    if (part.cacheIndexOf(baseOffset) < 0 || part.cache[part.cacheIndexOf(baseOffset)] !== cached[0]) {
      throw new WalWriteError(`append to ${topicId}:${partition} rolled back after an earlier append failed`);
    }
    this.acknowledge(part, cached, position);
    return { baseOffset, logAppendTimeMs };
  }

  private rollBack(part: PartitionLog, offset: bigint): void {
    if (part.nextOffset <= offset) return;
    part.nextOffset = offset;
    part.txn.rewind(offset);
    const keep = part.cache.findIndex((b) => b.baseOffset >= offset);
    if (keep >= 0) part.cache.splice(keep);
  }

  private acknowledge(part: PartitionLog, batches: CachedBatch[], position: WalPosition): void {
    let bytes = 0;
    for (const b of batches) {
      b.durable = true;
      bytes += b.bytes.length;
    }
    const end = batches[batches.length - 1]!.lastOffset + 1n;
    if (end > part.highWatermark) part.highWatermark = end;
    this.uploadQueue.push({ position, part, batches, bytes });
    this.uploadQueueBytes += bytes;
    if (this.uploadQueueBytes >= this.uploadBytesMin) this.kickUpload();
    part.notify();
  }

  // ---- read path ----

  /**
   * Whole batches from the one containing `fetchOffset`, up to `maxBytes` (but always at
   * least one batch), never beyond the high watermark. Empty at the high watermark.
   * `endOffset` stops earlier, before the first batch starting at or past it (read_committed
   * reads stop at the last stable offset, which is always a batch's base offset).
   */
  async read(topicId: string, partition: number, fetchOffset: bigint, maxBytes: number, endOffset?: bigint, source: "all" | "objects" = "all"): Promise<Buffer> {
    const part = this.part(topicId, partition);
    // "objects": only what committed objects hold (a broker serving a partition another one leads).
    const objectsOnly = source === "objects";
    const high = objectsOnly ? part.uploadedEnd : part.highWatermark;
    if (fetchOffset === high) return Buffer.alloc(0);
    if (endOffset !== undefined && fetchOffset >= endOffset) return Buffer.alloc(0);
    if (fetchOffset < part.logStartOffset || fetchOffset > high) {
      throw new OffsetOutOfRangeError(`offset ${fetchOffset} is outside [${part.logStartOffset}, ${high}] of ${topicId}:${partition}`);
    }
    const out: Buffer[] = [];
    let size = 0;
    let offset = fetchOffset;
    const take = (bytes: Buffer): boolean => {
      if (endOffset !== undefined && baseOffsetOf(bytes) >= endOffset) return false;
      if (size > 0 && size + bytes.length > maxBytes) return false;
      out.push(bytes);
      size += bytes.length;
      return true;
    };
    let full = false;
    const k = keyOf(topicId, partition);
    let retries = 0;
    let fromObjects = false;
    // Cached bytes may be reused once evicted: what leaves here is a copy of them.
    let fromCache = false;
    const sequential = this.readAhead.isSequential(k, fetchOffset);
    while (!full && offset < high) {
      if (!objectsOnly && offset >= part.cacheStart()) {
        const from = part.cacheIndexOf(offset);
        if (from < 0) throw new Error(`${topicId}:${partition}: offset ${offset} missing from the cache`);
        for (let i = from; i < part.cache.length; i++) {
          const b = part.cache[i]!;
          if (!b.durable || b.baseOffset >= part.highWatermark) break;
          if (!take(b.bytes)) break;
          fromCache = true;
          offset = b.lastOffset + 1n;
        }
        break;
      }
      const bi = part.blockIndexOf(offset);
      if (bi < 0) throw new Error(`${topicId}:${partition}: no object holds offset ${offset}`);
      const block = part.blocks[bi]!;
      fromObjects = true;
      if (sequential) this.prefetch(k, part, bi);
      let batches: Buffer[];
      try {
        batches = await this.loadBlock(block);
      } catch (err) {
        // Compaction or retention replaced the block while we waited (and its object may be gone): look again in the new index.
        if (retries >= 3 || this.partitions.get(k) !== part || part.blocks[part.blockIndexOf(offset)] === block) throw err;
        retries++;
        this.stats.readRetries++;
        if (offset < part.logStartOffset) {
          if (out.length > 0) break;
          throw new OffsetOutOfRangeError(`offset ${offset} of ${topicId}:${partition} was deleted during the read (log start ${part.logStartOffset})`);
        }
        continue;
      }
      for (const b of batches) {
        const last = baseOffsetOf(b) + BigInt(lastOffsetDeltaOf(b));
        if (last < offset) continue;
        if (!take(b)) {
          full = true;
          break;
        }
        offset = last + 1n;
      }
      if (!full && offset <= block.lastOffset) throw new ObjectCorruptError(`${block.key}@${block.position}: block ends before offset ${block.lastOffset}`);
      if (this.partitions.get(k) !== part) break;
    }
    if (fromObjects) this.readAhead.noteRead(k, offset);
    return out.length === 1 && !fromCache ? out[0]! : Buffer.concat(out, size);
  }

  /** The first batch whose maxTimestamp reaches `timestampMs` (Kafka's ListOffsets by time, at batch granularity). */
  /**
   * The first batch whose max timestamp reaches `timestampMs`, with its bytes so the caller
   * can find the exact record inside an uncompressed batch.
   */
  async offsetForTimestamp(topicId: string, partition: number, timestampMs: bigint): Promise<{ offset: bigint; timestamp: bigint; batch: Buffer } | null> {
    const part = this.part(topicId, partition);
    const start = part.logStartOffset;
    const found = (base: bigint, ts: bigint, batch: Buffer) => ({ offset: base < start ? start : base, timestamp: ts, batch });
    for (let bi = part.firstBlockReaching(timestampMs); bi >= 0 && bi < part.blocks.length; bi++) {
      const block = part.blocks[bi]!;
      if (block.lastOffset < start) continue;
      for (const b of await this.loadBlock(block)) {
        const last = baseOffsetOf(b) + BigInt(lastOffsetDeltaOf(b));
        if (last >= start && maxTimestampOf(b) >= timestampMs) return found(baseOffsetOf(b), maxTimestampOf(b), b);
      }
    }
    const coveredEnd = part.blocks.length > 0 ? part.blocks[part.blocks.length - 1]!.lastOffset + 1n : start;
    for (const b of part.cache) {
      if (b.lastOffset < coveredEnd || b.lastOffset < start) continue;
      if (!b.durable || b.baseOffset >= part.highWatermark) break;
      if (b.maxTimestamp >= timestampMs) return found(b.baseOffset, b.maxTimestamp, Buffer.from(b.bytes));
    }
    return null;
  }

  /**
   * Moves the log start forward (DeleteRecords; time/size retention computes the offset and
   * calls this). Recorded in the metadata log; object blocks wholly below it are dropped
   * from the index, and objects no partition references any more are left to the garbage
   * collector. Returns the new log start.
   */
  async deleteRecordsBefore(topicId: string, partition: number, offset: bigint): Promise<bigint> {
    return this.withIndexLock(async () => {
      const part = this.part(topicId, partition);
      const target = offset > part.highWatermark ? part.highWatermark : offset;
      if (target <= part.logStartOffset) return part.logStartOffset;
      const record = { type: "log-start-advanced", topicId, partition, offset: target.toString(), atMs: this.clock.nowMs() };
      await this.record(record);
      // The ends never move here: live, the start is capped at the high watermark; in replay, objects and the WAL (never trimmed before upload) rebuild them.
      if (this.partitions.get(keyOf(topicId, partition)) === part) this.index.apply(record, record.atMs);
      return part.logStartOffset;
    });
  }

  /**
   * Appends one storage record. Other brokers append to the same log (their own commits, the
   * controller's leader changes), so losing the race for the next entry is normal: the
   * checked append reads what it missed and tries the next one. Whether the record then
   * counts is decided by the index, the same way for every reader.
   */
  private async record(r: MetadataRecord): Promise<void> {
    this.appending.add(r);
    try {
      await this.metadata.appendChecked(() => r);
    } finally {
      this.appending.delete(r);
    }
  }

  /**
   * Serializes changes to existing index entries (compaction swaps, log-start moves,
   * partition deletes) so a check made before a metadata append still holds when the
   * record is applied. Uploads only add blocks at the end and do not take it.
   */
  private withIndexLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.indexChain.then(fn);
    this.indexChain = run.catch(() => undefined);
    return run;
  }

  /** Object blocks of a partition in offset order (for retention, compaction and tests). */
  objectBlocks(topicId: string, partition: number): readonly BlockRef[] {
    return this.part(topicId, partition).blocks;
  }

  /** Starts loads of the blocks after `bi` into the block cache, within the read-ahead bounds. */
  private prefetch(k: string, part: PartitionLog, bi: number): void {
    const picks = this.readAhead.plan(k, part.blocks, bi, (b) => !this.blockCache.has(blockId(b)) && !this.blockLoads.has(blockId(b)));
    for (const b of picks) {
      this.loadBlock(b, true)
        .catch((err) => this.logger?.debug({ err, key: b.key }, "read-ahead load failed; the read itself will retry"))
        .finally(() => this.readAhead.release(k, b.length));
    }
  }

  /** Whole verified blocks through the LRU block cache (bounded in bytes); concurrent loads of one block share one GET. */
  private async loadBlock(block: BlockRef, prefetch = false): Promise<Buffer[]> {
    const cacheKey = blockId(block);
    const hit = this.blockCache.get(cacheKey);
    if (hit) {
      if (!prefetch) this.stats.blockCacheHits++;
      this.blockCache.delete(cacheKey); // re-insert: Map order is the LRU order
      this.blockCache.set(cacheKey, hit);
      return hit.batches;
    }
    const inflight = this.blockLoads.get(cacheKey);
    if (inflight) {
      // Joining a load already under way (usually a read-ahead): no GET of our own.
      if (!prefetch) this.stats.blockCacheHits++;
      return inflight;
    }
    if (!prefetch) this.stats.blockCacheMisses++;
    const load = (async () => {
      const got = await this.store.get(block.key, { start: block.position, end: block.position + block.length - 1 });
      if (!got) throw new ObjectCorruptError(`object ${block.key} is missing`);
      verifyBlock(got.body, block, block.key);
      const batches = splitBatches(got.body);
      const first = batches[0];
      const last = batches[batches.length - 1];
      if (!first || !last || baseOffsetOf(first) !== block.baseOffset || baseOffsetOf(last) + BigInt(lastOffsetDeltaOf(last)) !== block.lastOffset) {
        throw new ObjectCorruptError(`${block.key}@${block.position}: batches do not match the indexed offsets`);
      }
      this.blockCache.set(cacheKey, { batches, bytes: got.body.length });
      this.blockCacheBytes += got.body.length;
      for (const [k, v] of this.blockCache) {
        if (this.blockCacheBytes <= this.blockCacheBytesMax) break;
        this.blockCache.delete(k);
        this.blockCacheBytes -= v.bytes;
      }
      return batches;
    })();
    this.blockLoads.set(cacheKey, load);
    try {
      return await load;
    } finally {
      this.blockLoads.delete(cacheKey);
    }
  }

  // ---- object lifecycle: compaction, retention, garbage collection ----

  private readonly chains = new Map<string, Promise<unknown>>();

  /** Runs `fn` after every earlier call of the same name has settled. */
  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.chains.get(name) ?? Promise.resolve()).then(fn);
    this.chains.set(name, run.catch(() => undefined));
    return run;
  }

  /**
   * At most one compaction: the next partition (round-robin) whose stream-set blocks meet a
   * threshold gets up to `compactionBytesMax` of them copied into one stream object, swapped
   * in by one metadata record. Reads go on meanwhile: they hold old block references whose
   * objects stay until the collector's grace period has passed. Returns what was done.
   */
  compactOnce(): Promise<{ topicId: string; partition: number; key: string; start: bigint; end: bigint; bytes: number; applied: boolean } | null> {
    return this.serial("compaction", () => this.compactNow());
  }

  private async compactNow(): Promise<{ topicId: string; partition: number; key: string; start: bigint; end: bigint; bytes: number; applied: boolean } | null> {
    if (this.closed) return null;
    const now = this.clock.nowMs();
    const parts = [...this.partitions.values()];
    let plan: ReturnType<typeof planCompaction> = null;
    for (let n = 0; n < parts.length && !plan; n++) {
      const i = (this.compactionCursor + n) % parts.length;
      plan = planCompaction(parts[i]!, this.index.objects, this.compaction, now);
      if (plan) this.compactionCursor = (i + 1) % parts.length;
    }
    if (!plan) return null;
    const { part } = plan;
    const { batches } = await readPlannedBatches(this.store, plan.blocks);
    const { pieces, size, blocks, checksum } = encodeStreamSetObject([{ topicId: part.topicId, partition: part.partition, batches }], this.blockBytesMax);
    const key = streamObjectKey(part.topicId, part.partition, plan.start, this.writerId, this.compactionSeq++);
    this.inflightKeys.add(key);
    try {
      await this.store.put(key, pieces, { ifNoneMatch: "*", checksum });
      const planned = plan;
      const applied = await this.withIndexLock(async () => {
        const atMs = this.clock.nowMs();
        // The optimistic check: the partition still holds exactly the blocks we copied.
        const range = this.partitions.get(keyOf(part.topicId, part.partition)) === part ? this.index.blocksInRange(part, planned.start, planned.end) : null;
        const same = range !== null && range.to - range.from === planned.blocks.length && planned.blocks.every((b, i) => part.blocks[range.from + i] === b);
        if (!same) {
          this.index.noteObject(key, size, atMs);
          this.index.markPending(key, atMs);
          return false;
        }
        const record: ObjectCompactedRecord = {
          type: "object-compacted",
          key,
          epoch: this.epoch,
          size,
          atMs,
          topicId: part.topicId,
          partition: part.partition,
          start: planned.start.toString(),
          end: planned.end.toString(),
          blocks: blocks.map(blockToTuple),
          replaced: planned.blocks.map(blockId),
        };
        await this.record(record);
        return this.index.applyCompacted(record);
      });
      if (applied) {
        this.stats.compactionsRun++;
        this.stats.bytesCompacted += plan.bytes;
      } else {
        this.stats.compactionsAborted++;
      }
      this.logger?.debug({ key, topicId: part.topicId, partition: part.partition, blocks: plan.blocks.length, bytes: plan.bytes, applied }, "compaction");
      return { topicId: part.topicId, partition: part.partition, key, start: plan.start, end: plan.end, bytes: plan.bytes, applied };
    } catch (err) {
      this.stats.compactionFailures++;
      throw err;
    } finally {
      this.inflightKeys.delete(key);
    }
  }

  /** Sets (or replaces) the per-topic retention the background loop applies. */
  setRetentionPolicy(policy: ((topicId: string) => RetentionPolicy | null) | undefined): void {
    this.retentionPolicy = policy;
  }

  /**
   * Time and size retention for one partition: whole object blocks leave from the front
   * (the log start advances by a metadata record, see deleteRecordsBefore). Data not yet
   * uploaded is never deleted and the log start never passes the high watermark.
   */
  async applyRetention(topicId: string, partition: number, policy: RetentionPolicy, nowMs = this.clock.nowMs()): Promise<{ logStartOffset: bigint; blocks: number; bytes: number }> {
    const part = this.part(topicId, partition);
    let tailBytes = 0;
    for (const b of part.cache) if (!b.uploaded && b.durable) tailBytes += b.bytes.length;
    const target = retentionTarget(part, policy, nowMs, tailBytes);
    if (!target) return { logStartOffset: part.logStartOffset, blocks: 0, bytes: 0 };
    const logStartOffset = await this.deleteRecordsBefore(topicId, partition, target.offset);
    this.stats.retentionDeletions += target.blocks;
    this.stats.retentionBytesDeleted += target.bytes;
    this.logger?.debug({ topicId, partition, logStartOffset: logStartOffset.toString(), blocks: target.blocks, bytes: target.bytes }, "retention");
    return { logStartOffset, blocks: target.blocks, bytes: target.bytes };
  }

  /** One pass of retention over every partition, with the broker's per-topic policy. */
  applyRetentionAll(nowMs = this.clock.nowMs()): Promise<number> {
    return this.serial("retention", async () => {
      const policyOf = this.retentionPolicy;
      if (!policyOf) return 0;
      let blocks = 0;
      for (const part of [...this.partitions.values()]) {
        if (this.closed) break;
        if (this.partitions.get(keyOf(part.topicId, part.partition)) !== part) continue;
        const policy = policyOf(part.topicId);
        if (!policy) continue;
        blocks += (await this.applyRetention(part.topicId, part.partition, policy, nowMs)).blocks;
      }
      return blocks;
    });
  }

  /** One garbage-collector run: unreferenced objects past the grace period, then a bounded page of orphans. */
  collectGarbage(nowMs = this.clock.nowMs()): Promise<{ deleted: string[]; orphans: string[] }> {
    return this.serial("gc", () => this.gc.runOnce(nowMs));
  }

  private async recordObjectsDeleted(keys: string[]): Promise<void> {
    const record = { type: "objects-deleted", keys, atMs: this.clock.nowMs() };
    await this.record(record);
    this.index.apply(record, record.atMs);
  }

  /** Objects awaiting deletion, with the time they became unreferenced (tests, diagnostics). */
  pendingDeletions(): ReadonlyMap<string, number> {
    return this.index.pending;
  }

  /** Memory in use against its bounds, and lifecycle counters, for metrics. */
  statsSnapshot(): LogStoreStats {
    let referenced = 0;
    for (const o of this.index.objects.values()) if (o.refs > 0) referenced++;
    return {
      tailCacheBytes: this.uploadedCachedBytes,
      tailCacheBytesMax: this.cacheBytesMax,
      tailCacheArenaBytes: this.arena.bytes,
      tailCacheArenaFallbacks: this.arena.fallbacks,
      uploadQueueBytes: this.uploadQueueBytes,
      uploadBytesMax: this.uploadBytesMax,
      blockCacheBytes: this.blockCacheBytes,
      blockCacheBytesMax: this.blockCacheBytesMax,
      blockCacheHits: this.stats.blockCacheHits,
      blockCacheMisses: this.stats.blockCacheMisses,
      readAheadBytesInFlight: this.readAhead.bytesInFlight,
      readAheadBytesMax: this.readAheadMax,
      readAheadBlocks: this.readAhead.blocksIssued,
      objectsUploaded: this.stats.objectsUploaded,
      bytesUploaded: this.stats.bytesUploaded,
      uploadFailures: this.stats.uploadFailures,
      objectsReferenced: referenced,
      objectsPendingDeletion: this.index.pending.size,
      compactionsRun: this.stats.compactionsRun,
      compactionsAborted: this.stats.compactionsAborted,
      bytesCompacted: this.stats.bytesCompacted,
      retentionDeletions: this.stats.retentionDeletions,
      retentionBytesDeleted: this.stats.retentionBytesDeleted,
      objectsDeleted: this.gc.stats.objectsDeleted,
      orphansDeleted: this.gc.stats.orphansDeleted,
    };
  }

  // ---- uploader ----

  /** Uploads everything acknowledged so far (partition moves, clean shutdown, tests). Throws if an upload fails. */
  /**
   * Uploads everything acknowledged before the call. Appends that arrive meanwhile are not
   * waited for: under steady load the queue never empties, and a release or drain must
   * still finish.
   */
  async flush(): Promise<void> {
    const last = this.uploadQueue[this.uploadQueue.length - 1];
    while (last && this.uploadQueue.includes(last)) {
      const head = this.uploadQueue[0];
      await this.uploadSerialized();
      if (this.uploadQueue[0] === head && this.uploadQueue.length > 0) throw new Error("LogStore: upload made no progress");
    }
  }

  /** One upload at a time, in order: each object must continue where the previous one ended. */
  private uploadSerialized(): Promise<void> {
    const run = this.uploadChain.then(() => this.runUpload());
    this.uploadChain = run.catch(() => undefined);
    return run;
  }

  private kickUpload(): void {
    if (this.uploadScheduled || this.closed || this.uploadQueue.length === 0) return;
    this.uploadScheduled = true;
    this.uploadSerialized().then(
      () => {
        this.uploadScheduled = false;
        if (this.uploadQueueBytes >= this.uploadBytesMin) this.kickUpload();
      },
      (err) => {
        // Retried at the next interval tick, not at once: a failing store must not be hammered.
        this.uploadScheduled = false;
        this.stats.uploadFailures++;
        this.logger?.warn({ err }, "upload failed; acknowledged data stays in the WAL and is retried");
      },
    );
  }

  /** One stream-set object: put, commit to the metadata log, then trim the WAL. */
  private async runUpload(): Promise<void> {
    let count = 0;
    let bytes = 0;
    while (count < this.uploadQueue.length && (count === 0 || bytes + this.uploadQueue[count]!.bytes <= this.uploadBytesMax)) {
      bytes += this.uploadQueue[count]!.bytes;
      count++;
    }
    if (count === 0) return;
    const taken = this.uploadQueue.slice(0, count);
    const byPartition = new Map<PartitionLog, CachedBatch[]>();
    for (const e of taken) {
      if (e.batches.length === 0 || this.partitions.get(keyOf(e.part.topicId, e.part.partition)) !== e.part) continue;
      let list = byPartition.get(e.part);
      if (!list) byPartition.set(e.part, (list = []));
      list.push(...e.batches);
    }
    const streams: (SsoStream & { part: PartitionLog; cached: CachedBatch[] })[] = [];
    for (const [part, cached] of byPartition) {
      // A range no reader would take (it leaves a gap after the partition's objects, or
      // another leader's objects already cover it) is not uploaded: this broker lost the
      // partition while holding it, and the index ignores it anyway.
      const end = cached[cached.length - 1]!.lastOffset + 1n;
      if (cached[0]!.baseOffset > part.uploadedEnd || end <= part.uploadedEnd) {
        this.stats.commitsIgnored++;
        this.logger?.warn({ topicId: part.topicId, partition: part.partition, start: cached[0]!.baseOffset.toString(), end: end.toString(), objectsEnd: part.uploadedEnd.toString() }, "not uploading batches that do not continue the partition's objects (leadership moved away)");
        continue;
      }
      streams.push({ topicId: part.topicId, partition: part.partition, batches: cached.map((c) => c.bytes), part, cached });
    }
    let key: string | null = null;
    if (streams.length > 0) {
      // The object is read from the cached bytes until its put is done: their slabs stay as they are.
      const uploading = this.arena.pin(streams.flatMap((s) => s.cached.map((c) => c.slab)));
      try {
        // In slices: a large upload must not stall appends and fetches while it is encoded.
        const { pieces, size, blocks, checksum } = await encodeStreamSetObjectYielding(streams, this.blockBytesMax);
        key = `objects/${this.writerId}/${String(this.objectSeq++).padStart(10, "0")}.sso`;
        // Until its commit is durable the object is referenced by nothing: keep the collector off it.
        this.inflightKeys.add(key);
        try {
          await this.store.put(key, pieces, { ifNoneMatch: "*", checksum });
        } catch (err) {
          this.inflightKeys.delete(key);
          throw err;
        }
        const atMs = this.clock.nowMs();
        const record: ObjectCommittedRecord = {
          type: "object-committed",
          key,
          epoch: this.epoch,
          size,
          atMs,
          streams: streams.map((s) => {
            return {
              topicId: s.topicId,
              partition: s.partition,
              start: s.cached[0]!.baseOffset.toString(),
              end: (s.cached[s.cached.length - 1]!.lastOffset + 1n).toString(),
              blocks: blocks.filter((b) => b.topicId === s.topicId && b.partition === s.partition).map(blockToTuple),
              producers: producerTail(s.batches).map((h) => h.toString("base64")),
              ...txnEventsField(s.batches),
              // The leader epoch its batches were accepted under (stamped into each batch by the produce path).
              leaderEpoch: partitionLeaderEpochOf(s.batches[0]!),
            };
          }),
        };
        try {
          await this.record(record);
        } finally {
          this.inflightKeys.delete(key);
        }
        // The same rules as replay and as every other broker: a range from a stale leader epoch does not count.
        this.index.apply(record, atMs);
        for (const s of streams) {
          if (this.partitions.get(keyOf(s.topicId, s.partition)) !== s.part) continue;
          const end = s.cached[s.cached.length - 1]!.lastOffset + 1n;
          if (s.part.uploadedEnd < end) this.stats.commitsIgnored++;
          for (const c of s.cached) {
            c.uploaded = true;
            this.uploadedCached.push({ part: s.part, batch: c });
            this.uploadedCachedBytes += c.bytes.length;
          }
        }
        this.stats.objectsUploaded++;
        this.stats.bytesUploaded += size;
      } finally {
        uploading.release();
      }
    }
    this.uploadQueue.splice(0, count);
    this.uploadQueueBytes -= bytes;
    this.evictCache();
    // Only after the commit is durable may the WAL forget these records.
    if (!this.opts.walReadOnly) await this.wal.trim(taken[taken.length - 1]!.position + 1n);
    this.logger?.debug({ key, partitions: streams.length, bytes }, "uploaded stream-set object");
  }

  /** Drops the oldest uploaded batches until the cache fits; data not yet uploaded is never dropped. */
  private evictCache(): void {
    const drop = new Map<PartitionLog, number>();
    while (this.uploadedCachedBytes > this.cacheBytesMax && this.uploadedCachedHead < this.uploadedCached.length) {
      const { part, batch } = this.uploadedCached[this.uploadedCachedHead++]!;
      this.uploadedCachedBytes -= batch.bytes.length;
      drop.set(part, (drop.get(part) ?? 0) + 1);
    }
    for (const [part, n] of drop) {
      // Uploaded batches sit at the front of their partition's cache, oldest first.
      let k = 0;
      while (k < n && k < part.cache.length && part.cache[k]!.uploaded) k++;
      part.cache.splice(0, k);
    }
    if (this.uploadedCachedHead > 1024 && this.uploadedCachedHead * 2 > this.uploadedCached.length) {
      this.uploadedCached = this.uploadedCached.slice(this.uploadedCachedHead);
      this.uploadedCachedHead = 0;
    }
  }

  // ---- recovery ----

  private replayWalRecord(position: WalPosition, record: Buffer, onRecoveredBatch: LogStoreOptions["onRecoveredBatch"]): void {
    const decoded = decodeWalRecord(record);
    if (!decoded) {
      this.logger?.warn({ position: position.toString() }, "WAL record of an unknown type skipped");
      return;
    }
    const k = keyOf(decoded.topicId, decoded.partition);
    if (this.deleted.has(k)) return this.skipRecovered(position);
    let part = this.partitions.get(k);
    if (!part) {
      part = new PartitionLog(decoded.topicId, "", decoded.partition);
      this.partitions.set(k, part);
    }
    const fresh: CachedBatch[] = [];
    // Under cluster leadership only batches of the partition's current leader epoch count: the
    // WAL may still hold batches from an earlier leadership of this broker, and no reader would
    // take those (they would also hide the current ones at the same offsets).
    const currentEpoch = this.index.cluster.leaderOf(decoded.topicId, decoded.partition)?.leaderEpoch;
    for (const b of decoded.batches) {
      const base = baseOffsetOf(b);
      const last = base + BigInt(lastOffsetDeltaOf(b));
      if (currentEpoch !== undefined && partitionLeaderEpochOf(b) !== currentEpoch) {
        this.stats.walRecordsSkipped++;
        continue;
      }
      if (last < part.nextOffset) continue; // already in an object
      if (base !== part.nextOffset) {
        // Follows a hole: an append that was refused to its producer (rolled back). Not part of the log.
        this.stats.walRecordsSkipped++;
        this.logger?.warn({ topicId: decoded.topicId, partition: decoded.partition, base: base.toString(), expected: part.nextOffset.toString() }, "WAL record after a rolled-back append skipped");
        break;
      }
      fresh.push({ baseOffset: base, lastOffset: last, maxTimestamp: maxTimestampOf(b), bytes: b, durable: true, uploaded: false, slab: null });
      part.txn.observeBatch(b);
      part.nextOffset = last + 1n;
      onRecoveredBatch?.(part.topicId, part.partition, readHeader(b));
    }
    if (fresh.length === 0) return this.skipRecovered(position);
    part.cache.push(...fresh);
    part.highWatermark = part.nextOffset;
    let bytes = 0;
    for (const f of fresh) bytes += f.bytes.length;
    this.uploadQueue.push({ position, part, batches: fresh, bytes });
    this.uploadQueueBytes += bytes;
  }

  private skipRecovered(position: WalPosition): void {
    if (this.uploadQueue.length === 0) this.recoveredTrimTo = position + 1n;
  }

  // ---- lifecycle ----

  /** Stops the uploader and closes the WAL. Data not uploaded stays in the WAL and is replayed on the next open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unfollow();
    if (this.timer) clearInterval(this.timer);
    for (const t of this.lifecycleTimers) clearInterval(t);
    await Promise.all([...this.running.values()]);
    await this.uploadChain;
    await this.wal.close();
    for (const part of this.partitions.values()) part.notify();
  }

  private part(topicId: string, partition: number): PartitionLog {
    const part = this.partitions.get(keyOf(topicId, partition));
    if (!part) throw new UnknownPartitionError(topicId, partition);
    return part;
  }
}

/**
 * A batch that found no room in the arena, as the cache may keep it (until uploaded and
 * evicted): in place when it is most of the buffer it sits in, else copied out, so that a
 * small batch cannot pin a larger request or network chunk.
 */
function ownBuffer(batch: Buffer): Buffer {
  return batch.length * 2 >= batch.buffer.byteLength ? batch : Buffer.from(batch);
}

/**
 * WAL payload: u8 type (1) | u16 topicId length | topicId UTF-8 | i32 partition | batches.
 * In pieces (the batches are not copied), with its checksum derived from the batches' own.
 */
function encodeWalAppend(topicId: string, partition: number, batches: Buffer[]): { pieces: Buffer[]; checksum: number } {
  const id = Buffer.from(topicId, "utf8");
  const head = Buffer.alloc(1 + 2 + id.length + 4);
  head.writeUInt8(WAL_TYPE_APPEND, 0);
  head.writeUInt16BE(id.length, 1);
  id.copy(head, 3);
  head.writeInt32BE(partition, 3 + id.length);
  let checksum = crc32c(head);
  for (const b of batches) checksum = crc32cCombine(checksum, batchChecksum(b), b.length);
  return { pieces: [head, ...batches], checksum };
}

function decodeWalRecord(record: Buffer): { topicId: string; partition: number; batches: Buffer[] } | null {
  if (record.readUInt8(0) !== WAL_TYPE_APPEND) return null;
  const idLength = record.readUInt16BE(1);
  const topicId = record.toString("utf8", 3, 3 + idLength);
  const partition = record.readInt32BE(3 + idLength);
  return { topicId, partition, batches: splitBatches(record.subarray(3 + idLength + 4)) };
}

/** The range's transaction events for its commit record; no field when it has none (older readers see the record unchanged). */
function txnEventsField(batches: Buffer[]): { txn?: ReturnType<typeof txnEventsOf> } {
  const events = txnEventsOf(batches);
  return events.length > 0 ? { txn: events } : {};
}

/** Headers of the last PRODUCER_BATCHES_KEPT batches of each idempotent producer, in offset order. */
function producerTail(batches: Buffer[]): Buffer[] {
  const byProducer = new Map<bigint, Buffer[]>();
  for (const b of batches) {
    const pid = b.readBigInt64BE(43);
    if (pid < 0n) continue;
    const list = byProducer.get(pid) ?? [];
    list.push(b.subarray(0, BATCH_HEADER_BYTES));
    if (list.length > PRODUCER_BATCHES_KEPT) list.shift();
    byProducer.set(pid, list);
  }
  return [...byProducer.values()].flat();
}
