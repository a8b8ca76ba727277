import { Attr, type BatchHeader } from "../protocol/record-batch.js";

/**
 * Idempotent-producer bookkeeping for one partition, as Kafka defines it:
 * - a lower epoch than the one seen is refused (INVALID_PRODUCER_EPOCH);
 * - a new, higher epoch must start at sequence 0;
 * - within an epoch, the next batch must start right after the last one;
 * - a batch equal to one of the last five is a retry: it succeeds again with the
 *   offset it got the first time, and is not written twice.
 * The state is rebuilt at start-up by replaying retained batch headers (`observe`).
 */
export const DUPLICATE_WINDOW_BATCHES = 5;

export interface ProducerBatch {
  firstSeq: number;
  lastSeq: number;
  baseOffset: bigint;
  lastOffsetDelta: number;
  timestampMs: bigint;
}

interface ProducerEntry {
  epoch: number;
  /** Oldest first; at most DUPLICATE_WINDOW_BATCHES. */
  batches: ProducerBatch[];
}

export type SequenceVerdict =
  | { kind: "append" }
  | { kind: "duplicate"; batch: ProducerBatch }
  | { kind: "error"; error: "INVALID_PRODUCER_EPOCH" | "OUT_OF_ORDER_SEQUENCE_NUMBER"; message: string };

const INT32_MAX = 2 ** 31 - 1;

function lastSeqOf(header: BatchHeader): number {
  // Sequences wrap from Int32.MAX to 0.
  const last = header.baseSequence + header.lastOffsetDelta;
  return last > INT32_MAX ? last - INT32_MAX - 1 : last;
}

function nextSeq(seq: number): number {
  return seq === INT32_MAX ? 0 : seq + 1;
}

export class PartitionProducerState {
  private readonly producers = new Map<bigint, ProducerEntry>();

  /** Decides what to do with a batch before it is appended; changes nothing. */
  check(header: BatchHeader): SequenceVerdict {
    if (header.producerId < 0n) return { kind: "append" };
    const entry = this.producers.get(header.producerId);
    if (!entry) return { kind: "append" };
    if (header.producerEpoch < entry.epoch) {
      return { kind: "error", error: "INVALID_PRODUCER_EPOCH", message: `producer ${header.producerId} epoch ${header.producerEpoch} is older than ${entry.epoch}` };
    }
    if (header.producerEpoch > entry.epoch) {
      if (header.baseSequence !== 0) {
        return { kind: "error", error: "OUT_OF_ORDER_SEQUENCE_NUMBER", message: `producer ${header.producerId} new epoch ${header.producerEpoch} must start at sequence 0, got ${header.baseSequence}` };
      }
      return { kind: "append" };
    }
    const last = lastSeqOf(header);
    const dup = entry.batches.find((b) => b.firstSeq === header.baseSequence && b.lastSeq === last);
    if (dup) return { kind: "duplicate", batch: dup };
    const newest = entry.batches[entry.batches.length - 1];
    if (newest && header.baseSequence !== nextSeq(newest.lastSeq)) {
      return {
        kind: "error",
        error: "OUT_OF_ORDER_SEQUENCE_NUMBER",
        message: `producer ${header.producerId} epoch ${header.producerEpoch}: expected sequence ${nextSeq(newest.lastSeq)}, got ${header.baseSequence}`,
      };
    }
    return { kind: "append" };
  }

  /** Records a batch that was appended at `baseOffset` (also used when replaying the log). */
  observe(header: BatchHeader, baseOffset: bigint): void {
    if (header.producerId < 0n) return;
    if (header.attributes & Attr.control) return this.observeMarker(header);
    let entry = this.producers.get(header.producerId);
    if (!entry || header.producerEpoch > entry.epoch) {
      entry = { epoch: header.producerEpoch, batches: [] };
      this.producers.set(header.producerId, entry);
    } else if (header.producerEpoch < entry.epoch) {
      return;
    }
    entry.batches.push({ firstSeq: header.baseSequence, lastSeq: lastSeqOf(header), baseOffset, lastOffsetDelta: header.lastOffsetDelta, timestampMs: header.maxTimestamp });
    if (entry.batches.length > DUPLICATE_WINDOW_BATCHES) entry.batches.shift();
  }

  /**
   * A commit/abort marker carries no sequence; it only raises the producer's epoch (a marker
   * written at a bumped epoch fences the old one), which then starts again at sequence 0.
   */
  private observeMarker(header: BatchHeader): void {
    const entry = this.producers.get(header.producerId);
    if (!entry) this.producers.set(header.producerId, { epoch: header.producerEpoch, batches: [] });
    else if (header.producerEpoch > entry.epoch) this.producers.set(header.producerId, { epoch: header.producerEpoch, batches: [] });
  }

  /** Forgets batches at or after `offset`: their append failed and the log rewound. */
  rewind(offset: bigint): void {
    for (const [pid, entry] of this.producers) {
      const had = entry.batches.length;
      entry.batches = entry.batches.filter((b) => b.baseOffset < offset);
      // An entry a marker left without batches keeps its epoch: it still fences older producers.
      if (had > 0 && entry.batches.length === 0) this.producers.delete(pid);
    }
  }

  /** For DescribeProducers and tests. */
  snapshot(): { producerId: bigint; epoch: number; lastSeq: number; lastOffset: bigint; lastTimestampMs: bigint }[] {
    return [...this.producers].map(([producerId, e]) => {
      const last = e.batches[e.batches.length - 1];
      // Only a marker seen since the epoch started: no sequence yet.
      if (!last) return { producerId, epoch: e.epoch, lastSeq: -1, lastOffset: -1n, lastTimestampMs: -1n };
      return { producerId, epoch: e.epoch, lastSeq: last.lastSeq, lastOffset: last.baseOffset + BigInt(last.lastOffsetDelta), lastTimestampMs: last.timestampMs };
    });
  }
}
