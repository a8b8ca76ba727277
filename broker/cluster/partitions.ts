import type { Logger } from "pino";
import { PartitionTraffic } from "./partition-load.js";
import type { LogStore } from "../storage/log-store.js";
import { WalFullError, WalWriteError } from "../storage/wal.js";
import { ErrorCode } from "../protocol/errors.js";
import { Attr, BatchError, readBatchHeader, setPartitionLeaderEpoch, splitAndValidateBatches, type BatchHeader } from "../protocol/record-batch.js";
import { buildControlBatch } from "../txn/partition-txn-index.js";
import { PartitionProducerState } from "./producer-state.js";
import type { TopicInfo } from "./topics.js";
import type { Leadership } from "./leadership.js";
import type { BrokerMetrics } from "../server/metrics.js";

export interface ProduceResult {
  errorCode: number;
  errorMessage: string | null;
  baseOffset: bigint;
  logAppendTimeMs: bigint;
  logStartOffset: bigint;
}

type TxnRefusal = { errorCode: number; message: string } | null;
/** Refuses a transactional batch (fenced producer, partition not in its transaction), else null; may ask another broker. */
export type TxnProduceCheck = (header: BatchHeader) => TxnRefusal | Promise<TxnRefusal>;

const key = (topicId: string, partition: number) => `${topicId}:${partition}`;

/** This broker may not write the partition (it moved, is moving, or the write lease lapsed). */
export class NotLeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotLeaderError";
  }
}

/**
 * The data path of the partitions this broker leads: validation, idempotent-producer
 * checks and offset assignment on the way in; the log store does durability and reads.
 * Everything between the producer check and the log append runs without an `await`, so
 * the order in which batches pass the check is the order they get offsets.
 */
export class PartitionManager {
  private readonly producerStates = new Map<string, PartitionProducerState>();
  /** Appends handed to the log store and not yet settled, per partition (a release waits for them). */
  private readonly inflight = new Map<string, Set<Promise<unknown>>>();
  /** Who may write (multi-broker mode: the leader, while not moving and its write lease holds) and at which leader epoch. */
  private leadership: Pick<Leadership, "writeRefusal" | "ackRefusal" | "leaderEpochOf"> = { writeRefusal: () => null, ackRefusal: () => null, leaderEpochOf: () => 0 };

  constructor(
    readonly log: LogStore,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    private readonly defaults: { messageMaxBytes: number; loadReportIntervalMs?: number },
  ) {
    this.traffic = new PartitionTraffic(defaults.loadReportIntervalMs ?? 10_000);
  }

  /** Bytes appended and served per partition, reported to the controller for load balancing. */
  readonly traffic: PartitionTraffic;

  /** Called for each batch the log store replays at start-up, to rebuild producer state. */
  recovered(topicId: string, partition: number, header: BatchHeader): void {
    this.producerState(topicId, partition).observe(header, header.baseOffset);
  }

  setLeadership(leadership: Pick<Leadership, "writeRefusal" | "ackRefusal" | "leaderEpochOf">): void {
    this.leadership = leadership;
  }

  /**
   * This broker now leads a partition another broker led (or that it led before another
   * did): it continues from the committed objects and rebuilds the producer state from
   * them, so idempotent retries of batches the old leader wrote are still recognised.
   */
  takeOver(topicId: string, partition: number): void {
    this.log.continueFromObjects(topicId, partition);
    const state = new PartitionProducerState();
    for (const h of this.log.committedProducerBatches(topicId, partition)) state.observe(h, h.baseOffset);
    this.producerStates.set(key(topicId, partition), state);
  }

  /**
   * An append of the broker's own records to an internal topic (committed offsets), under
   * the same rules as produce: refused unless this broker may write the partition, and
   * reported as failed if it lost that right before the WAL had the records.
   */
  async appendInternal(topicId: string, partition: number, batches: Buffer[]): Promise<{ baseOffset: bigint; logAppendTimeMs: bigint }> {
    const closed = this.leadership.writeRefusal(topicId, partition);
    if (closed) throw new NotLeaderError(closed);
    const leaderEpoch = this.leadership.leaderEpochOf(topicId, partition);
    for (const b of batches) setPartitionLeaderEpoch(b, leaderEpoch);
    const appended = await this.tracked(topicId, partition, this.log.append(topicId, partition, batches));
    const lapsed = this.leadership.ackRefusal(topicId, partition);
    if (lapsed) throw new NotLeaderError(lapsed);
    this.traffic.add(topicId, partition, batches.reduce((n, b) => n + b.length, 0), 0);
    return appended;
  }

  private async tracked<T>(topicId: string, partition: number, appending: Promise<T>): Promise<T> {
    const k = key(topicId, partition);
    let inflight = this.inflight.get(k);
    if (!inflight) this.inflight.set(k, (inflight = new Set()));
    inflight.add(appending);
    try {
      return await appending;
    } finally {
      inflight.delete(appending);
      if (inflight.size === 0) this.inflight.delete(k);
    }
  }

  /** Resolves once every append already started for these partitions has settled. */
  async settled(partitions: readonly { topicId: string; partition: number }[]): Promise<void> {
    const pending = partitions.flatMap((p) => [...(this.inflight.get(key(p.topicId, p.partition)) ?? [])]);
    await Promise.allSettled(pending);
  }

  ensurePartitions(topic: TopicInfo, from = 0): void {
    for (let p = from; p < topic.partitions; p++) this.log.ensurePartition(topic.topicId, topic.name, p);
  }

  async dropTopic(topic: TopicInfo): Promise<void> {
    for (let p = 0; p < topic.partitions; p++) {
      this.producerStates.delete(key(topic.topicId, p));
      await this.log.deletePartition(topic.topicId, p);
    }
  }

  /**
   * `txnCheck` is given for requests with a transactional id: it refuses a transactional
   * batch whose producer is fenced or whose transaction does not hold this partition.
   */
  async produce(topic: TopicInfo, partition: number, records: Buffer | null, apiVersion: number, txnCheck?: TxnProduceCheck): Promise<ProduceResult> {
    const result: ProduceResult = { errorCode: ErrorCode.NONE, errorMessage: null, baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n };
    const refuse = (errorCode: number, errorMessage: string): ProduceResult => {
      this.metrics.produceErrors.inc({ error: String(errorCode) });
      return { ...result, errorCode, errorMessage };
    };
    if (!records || records.length === 0) return refuse(ErrorCode.CORRUPT_MESSAGE, "produce request carries no records");
    // The topic's override, else the broker-wide default (FLOE_MESSAGE_MAX_BYTES).
    const maxBytes = Number(topic.configs["max.message.bytes"] ?? this.defaults.messageMaxBytes);
    let batches;
    try {
      batches = splitAndValidateBatches(records);
    } catch (err) {
      if (!(err instanceof BatchError)) throw err;
      const code = err.problem === "UNSUPPORTED_MAGIC" ? ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT : err.problem === "INVALID_RECORD" ? ErrorCode.INVALID_RECORD : ErrorCode.CORRUPT_MESSAGE;
      return refuse(code, err.message);
    }
    if (batches.length === 0) return refuse(ErrorCode.CORRUPT_MESSAGE, "produce request carries no record batch");
    if (apiVersion >= 3 && batches.length !== 1) return refuse(ErrorCode.INVALID_RECORD, `Produce v3+ must carry exactly one record batch per partition, got ${batches.length}`);
    for (const b of batches) {
      if (b.bytes.length > maxBytes) return refuse(ErrorCode.MESSAGE_TOO_LARGE, `record batch of ${b.bytes.length} bytes exceeds max.message.bytes ${maxBytes}`);
      // Markers are written by the transaction coordinator only (writeMarker).
      if (b.header.attributes & Attr.control) return refuse(ErrorCode.INVALID_RECORD, "clients may not write control batches");
      if (b.header.attributes & Attr.transactional) {
        if (!txnCheck) return refuse(ErrorCode.INVALID_RECORD, "transactional batch without a transactional id in the request");
        const refused = await txnCheck(b.header);
        if (refused) return refuse(refused.errorCode, refused.message);
      }
    }

    const closed = this.leadership.writeRefusal(topic.topicId, partition);
    if (closed) return refuse(ErrorCode.NOT_LEADER_OR_FOLLOWER, closed);
    const leaderEpoch = this.leadership.leaderEpochOf(topic.topicId, partition);
    const state = this.producerState(topic.topicId, partition);
    const appendable: Buffer[] = [];
    const headers: BatchHeader[] = [];
    for (const b of batches) {
      const verdict = state.check(b.header);
      if (verdict.kind === "error") return refuse(ErrorCode[verdict.error], verdict.message);
      if (verdict.kind === "duplicate") {
        // A retry of a batch already written: answer with the offset it got the first time.
        this.metrics.duplicateBatches.inc();
        this.logger.debug({ topicId: topic.topicId, partition, producerId: b.header.producerId.toString(), baseSequence: b.header.baseSequence, offset: verdict.batch.baseOffset.toString() }, "retried batch answered with its first offset");
        if (batches.length === 1) {
          return { ...result, baseOffset: verdict.batch.baseOffset, logStartOffset: this.log.logStartOffset(topic.topicId, partition) };
        }
        continue;
      }
      setPartitionLeaderEpoch(b.bytes, leaderEpoch);
      appendable.push(b.bytes);
      headers.push(b.header);
    }
    if (appendable.length === 0) return { ...result, baseOffset: -1n, logStartOffset: this.log.logStartOffset(topic.topicId, partition) };

    // No await between here and log.append: offsets follow check order.
    let next = this.log.nextOffset(topic.topicId, partition);
    const firstOffset = next;
    for (const h of headers) {
      state.observe(h, next);
      next += BigInt(h.lastOffsetDelta) + 1n;
    }
    let appended;
    try {
      appended = await this.tracked(topic.topicId, partition, this.log.append(topic.topicId, partition, appendable));
    } catch (err) {
      state.rewind(firstOffset);
      if (err instanceof WalFullError || err instanceof WalWriteError) {
        this.logger.warn({ err, topic: topic.name, partition }, "append refused by the WAL");
        return refuse(apiVersion >= 4 ? ErrorCode.KAFKA_STORAGE_ERROR : ErrorCode.NOT_ENOUGH_REPLICAS, `write-ahead log cannot take the batch right now (${(err as Error).message}); retry`);
      }
      throw err;
    }
    // The write is durable, but it may be acknowledged only if this broker still may write:
    // a broker whose write lease lapsed meanwhile may already have been replaced.
    const lapsed = this.leadership.ackRefusal(topic.topicId, partition);
    if (lapsed) return refuse(ErrorCode.NOT_LEADER_OR_FOLLOWER, lapsed);
    this.logger.trace({ topicId: topic.topicId, partition, baseOffset: appended.baseOffset.toString(), producerId: headers[0]!.producerId.toString(), baseSequence: headers[0]!.baseSequence }, "appended");
    let recordCount = 0;
    let byteCount = 0;
    for (let i = 0; i < appendable.length; i++) {
      recordCount += headers[i]!.recordCount;
      byteCount += appendable[i]!.length;
    }
    this.metrics.recordsIn.inc(recordCount);
    this.metrics.bytesIn.inc(byteCount);
    this.traffic.add(topic.topicId, partition, byteCount, 0);
    return { ...result, baseOffset: appended.baseOffset, logStartOffset: this.log.logStartOffset(topic.topicId, partition) };
  }

  /**
   * Appends a commit or abort marker for a producer's transaction (the coordinator's
   * EndTxn, abort on fencing or timeout). Resolves once it is durable. No sequence check:
   * markers carry none; the marker's epoch fences older producers on this partition.
   */
  async writeMarker(topic: TopicInfo, partition: number, producerId: bigint, producerEpoch: number, commit: boolean, coordinatorEpoch: number): Promise<bigint> {
    const closed = this.leadership.writeRefusal(topic.topicId, partition);
    if (closed) throw new NotLeaderError(closed);
    const bytes = buildControlBatch(producerId, producerEpoch, commit, coordinatorEpoch, BigInt(Date.now()));
    setPartitionLeaderEpoch(bytes, this.leadership.leaderEpochOf(topic.topicId, partition));
    const header = readBatchHeader(bytes);
    const state = this.producerState(topic.topicId, partition);
    const offset = this.log.nextOffset(topic.topicId, partition);
    state.observe(header, offset);
    let baseOffset: bigint;
    try {
      baseOffset = (await this.tracked(topic.topicId, partition, this.log.append(topic.topicId, partition, [bytes]))).baseOffset;
    } catch (err) {
      state.rewind(offset);
      throw err;
    }
    const lapsed = this.leadership.ackRefusal(topic.topicId, partition);
    if (lapsed) throw new NotLeaderError(lapsed);
    return baseOffset;
  }

  producerState(topicId: string, partition: number): PartitionProducerState {
    const k = key(topicId, partition);
    let s = this.producerStates.get(k);
    if (!s) {
      s = new PartitionProducerState();
      this.producerStates.set(k, s);
    }
    return s;
  }
}
