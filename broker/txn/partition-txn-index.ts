import { Attr, type BatchHeader } from "../protocol/record-batch.js";
import { buildRecordBatch, decodeRecords } from "../protocol/records.js";

/**
 * Transaction bookkeeping for one partition, rebuilt from the partition's own batches:
 * - a transactional data batch from a producer with no open transaction opens one at its
 *   base offset;
 * - a control batch (commit or abort marker) from that producer closes it; an abort adds
 *   the range [firstOffset, markerOffset] to the aborted index.
 * The last stable offset is the first offset of the oldest open transaction, or the high
 * watermark when none is open. read_committed consumers read up to it and skip what the
 * aborted index names.
 */

/** Control record key: version 0, type 0 abort, type 1 commit (Kafka's ControlRecordType). */
export const CONTROL_TYPE_ABORT = 0;
export const CONTROL_TYPE_COMMIT = 1;

export interface AbortedTxn {
  producerId: bigint;
  firstOffset: bigint;
  /** Offset of the abort marker. */
  lastOffset: bigint;
}

/** Kept per partition; the oldest aborted ranges go first once the log start passes them. */
export const ABORTED_INDEX_MAX = 10_000;

export function isControlBatch(header: BatchHeader): boolean {
  return (header.attributes & Attr.control) !== 0;
}

export function isTransactionalBatch(header: BatchHeader): boolean {
  return (header.attributes & Attr.transactional) !== 0;
}

/** A marker batch: one control record, transactional and control bits set, no sequence. */
export function buildControlBatch(producerId: bigint, producerEpoch: number, commit: boolean, coordinatorEpoch: number, timestampMs: bigint): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(commit ? CONTROL_TYPE_COMMIT : CONTROL_TYPE_ABORT, 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(0, 0);
  value.writeInt32BE(coordinatorEpoch, 2);
  return buildRecordBatch([{ key, value, timestamp: timestampMs }], {
    producerId,
    producerEpoch,
    baseSequence: -1,
    attributes: Attr.transactional | Attr.control,
  });
}

/** Reads the marker type of a control batch; throws on a key Floe cannot read. */
export function controlTypeOf(batch: Buffer): number {
  const [record] = decodeRecords(batch);
  if (!record?.key || record.key.length < 4) throw new Error("control batch without a control record key");
  const version = record.key.readInt16BE(0);
  if (version !== 0) throw new Error(`control record key version ${version} is not supported`);
  return record.key.readInt16BE(2);
}

/**
 * What a run of batches changes in a partition's transaction index, compact enough to ride
 * in an object commit: `[producerId, offset, kind]` with kind TXN_EVENT_DATA for the first
 * transactional data batch of a producer in the run (or after its marker), else the
 * marker's control type. Folding the events of every committed range in order rebuilds
 * the index exactly as observing every batch would.
 */
export type TxnEventTuple = [string, string, number];
export const TXN_EVENT_DATA = -1;

/** The transaction events of `batches` (whole v2 batches with offsets assigned), in offset order. */
export function txnEventsOf(batches: readonly Buffer[]): TxnEventTuple[] {
  const out: TxnEventTuple[] = [];
  const seen = new Set<bigint>();
  for (const b of batches) {
    const attributes = b.readInt16BE(21);
    if ((attributes & Attr.transactional) === 0) continue;
    const producerId = b.readBigInt64BE(43);
    if (producerId < 0n) continue;
    const offset = b.readBigInt64BE(0);
    if ((attributes & Attr.control) !== 0) {
      out.push([producerId.toString(), offset.toString(), controlTypeOf(b)]);
      seen.delete(producerId);
    } else if (!seen.has(producerId)) {
      out.push([producerId.toString(), offset.toString(), TXN_EVENT_DATA]);
      seen.add(producerId);
    }
  }
  return out;
}

export class PartitionTxnIndex {
  /** Producer id -> first offset of its open transaction. */
  private readonly open = new Map<bigint, bigint>();
  private aborted: AbortedTxn[] = [];

  /**
   * Records a batch appended at `baseOffset` (live or during replay). `controlType` is
   * needed for control batches only; pass `controlTypeOf(bytes)`.
   */
  observe(header: BatchHeader, baseOffset: bigint, controlType?: number): void {
    if (header.producerId < 0n || !isTransactionalBatch(header)) return;
    if (!isControlBatch(header)) this.observeData(header.producerId, baseOffset);
    else this.observeMarker(header.producerId, baseOffset, controlType);
  }

  /** Observes a whole batch by its bytes (offsets assigned); reads the marker type itself. */
  observeBatch(batch: Buffer): void {
    for (const e of txnEventsOf([batch])) this.observeEvent(e);
  }

  observeEvent([producerId, offset, kind]: TxnEventTuple): void {
    if (kind === TXN_EVENT_DATA) this.observeData(BigInt(producerId), BigInt(offset));
    else this.observeMarker(BigInt(producerId), BigInt(offset), kind);
  }

  private observeData(producerId: bigint, offset: bigint): void {
    if (!this.open.has(producerId)) this.open.set(producerId, offset);
  }

  private observeMarker(producerId: bigint, offset: bigint, controlType: number | undefined): void {
    const first = this.open.get(producerId);
    this.open.delete(producerId);
    // A marker with no open transaction (a retried EndTxn) closes nothing.
    if (first === undefined || controlType !== CONTROL_TYPE_ABORT) return;
    this.aborted.push({ producerId, firstOffset: first, lastOffset: offset });
    if (this.aborted.length > ABORTED_INDEX_MAX) this.aborted.shift();
  }

  /** A copy: the live index of a partition starts from the one its committed objects built. */
  clone(): PartitionTxnIndex {
    const c = new PartitionTxnIndex();
    for (const [pid, first] of this.open) c.open.set(pid, first);
    c.aborted = [...this.aborted];
    return c;
  }

  /** Snapshot form, for the storage-state record: open `[pid, first]`, aborted `[pid, first, last]`. */
  toTuples(): { open: [string, string][]; aborted: [string, string, string][] } {
    return {
      open: [...this.open].map(([pid, first]) => [pid.toString(), first.toString()]),
      aborted: this.aborted.map((a) => [a.producerId.toString(), a.firstOffset.toString(), a.lastOffset.toString()]),
    };
  }

  static fromTuples(t: { open?: [string, string][]; aborted?: [string, string, string][] }): PartitionTxnIndex {
    const ix = new PartitionTxnIndex();
    for (const [pid, first] of t.open ?? []) ix.open.set(BigInt(pid), BigInt(first));
    ix.aborted = (t.aborted ?? []).map(([pid, first, last]) => ({ producerId: BigInt(pid), firstOffset: BigInt(first), lastOffset: BigInt(last) }));
    return ix;
  }

  hasOpen(producerId: bigint): boolean {
    return this.open.has(producerId);
  }

  lastStableOffset(highWatermark: bigint): bigint {
    let lso = highWatermark;
    for (const first of this.open.values()) if (first < lso) lso = first;
    return lso;
  }

  /** Aborted transactions that overlap [fetchOffset, upTo), oldest first, as Fetch returns them. */
  abortedBetween(fetchOffset: bigint, upTo: bigint): AbortedTxn[] {
    return this.aborted.filter((a) => a.lastOffset >= fetchOffset && a.firstOffset < upTo);
  }

  /** Forgets what starts at or after `offset`: the append failed and the log rewound. */
  rewind(offset: bigint): void {
    for (const [pid, first] of this.open) if (first >= offset) this.open.delete(pid);
    // An abort marker that was rewound leaves its transaction open again.
    for (const a of this.aborted) if (a.lastOffset >= offset && a.firstOffset < offset) this.open.set(a.producerId, a.firstOffset);
    this.aborted = this.aborted.filter((a) => a.lastOffset < offset);
  }

  /** Drops aborted ranges wholly below the log start. */
  truncateBelow(logStartOffset: bigint): void {
    this.aborted = this.aborted.filter((a) => a.lastOffset >= logStartOffset);
  }

  /** For DescribeProducers: the first offset of each open transaction. */
  openTransactions(): { producerId: bigint; firstOffset: bigint }[] {
    return [...this.open].map(([producerId, firstOffset]) => ({ producerId, firstOffset }));
  }
}
