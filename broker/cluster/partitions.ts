import type { Logger } from "pino";
import type { LogStore } from "../storage/log-store.js";
import { WalFullError, WalWriteError } from "../storage/wal.js";
import { ErrorCode } from "../protocol/errors.js";
import { Attr, BatchError, readBatchHeader, setPartitionLeaderEpoch, splitAndValidateBatches, type BatchHeader } from "../protocol/record-batch.js";
import { buildControlBatch } from "../txn/partition-txn-index.js";
import { PartitionProducerState } from "./producer-state.js";
import type { TopicInfo } from "./topics.js";
import type { BrokerMetrics } from "../server/metrics.js";

export interface ProduceResult {
  errorCode: number;
  errorMessage: string | null;
  baseOffset: bigint;
  logAppendTimeMs: bigint;
  logStartOffset: bigint;
}

/** Refuses a transactional batch (fenced producer, partition not in its transaction), else null. */
export type TxnProduceCheck = (header: BatchHeader) => { errorCode: number; message: string } | null;

const key = (topicId: string, partition: number) => `${topicId}:${partition}`;

/**
 * The data path of the partitions this broker leads: validation, idempotent-producer
 * checks and offset assignment on the way in; the log store does durability and reads.
 * Everything between the producer check and the log append runs without an `await`, so
 * the order in which batches pass the check is the order they get offsets.
 */
export class PartitionManager {
  private readonly producerStates = new Map<string, PartitionProducerState>();

  constructor(
    readonly log: LogStore,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    private readonly defaults: { messageMaxBytes: number },
  ) {}

  /** Called for each batch the log store replays at start-up, to rebuild producer state. */
  recovered(topicId: string, partition: number, header: BatchHeader): void {
    this.producerState(topicId, partition).observe(header, header.baseOffset);
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
        const refused = txnCheck(b.header);
        if (refused) return refuse(refused.errorCode, refused.message);
      }
    }

    const state = this.producerState(topic.topicId, partition);
    const appendable: Buffer[] = [];
    const headers: BatchHeader[] = [];
    for (const b of batches) {
      const verdict = state.check(b.header);
      if (verdict.kind === "error") return refuse(ErrorCode[verdict.error], verdict.message);
      if (verdict.kind === "duplicate") {
        // A retry of a batch already written: answer with the offset it got the first time.
        this.metrics.duplicateBatches.inc();
        if (batches.length === 1) {
          return { ...result, baseOffset: verdict.batch.baseOffset, logStartOffset: this.log.logStartOffset(topic.topicId, partition) };
        }
        continue;
      }
      // Copy out of the socket buffer so the log never pins a whole network chunk.
      const bytes = Buffer.from(b.bytes);
      setPartitionLeaderEpoch(bytes, topic.leaderEpochs[partition] ?? 0);
      appendable.push(bytes);
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
      appended = await this.log.append(topic.topicId, partition, appendable);
    } catch (err) {
      state.rewind(firstOffset);
      if (err instanceof WalFullError || err instanceof WalWriteError) {
        this.logger.warn({ err, topic: topic.name, partition }, "append refused by the WAL");
        return refuse(apiVersion >= 4 ? ErrorCode.KAFKA_STORAGE_ERROR : ErrorCode.NOT_ENOUGH_REPLICAS, `write-ahead log cannot take the batch right now (${(err as Error).message}); retry`);
      }
      throw err;
    }
    let recordCount = 0;
    let byteCount = 0;
    for (let i = 0; i < appendable.length; i++) {
      recordCount += headers[i]!.recordCount;
      byteCount += appendable[i]!.length;
    }
    this.metrics.recordsIn.inc(recordCount);
    this.metrics.bytesIn.inc(byteCount);
    return { ...result, baseOffset: appended.baseOffset, logStartOffset: this.log.logStartOffset(topic.topicId, partition) };
  }

  /**
   * Appends a commit or abort marker for a producer's transaction (the coordinator's
   * EndTxn, abort on fencing or timeout). Resolves once it is durable. No sequence check:
   * markers carry none; the marker's epoch fences older producers on this partition.
   */
  async writeMarker(topic: TopicInfo, partition: number, producerId: bigint, producerEpoch: number, commit: boolean, coordinatorEpoch: number): Promise<bigint> {
    const bytes = buildControlBatch(producerId, producerEpoch, commit, coordinatorEpoch, BigInt(Date.now()));
    setPartitionLeaderEpoch(bytes, topic.leaderEpochs[partition] ?? 0);
    const header = readBatchHeader(bytes);
    const state = this.producerState(topic.topicId, partition);
    const offset = this.log.nextOffset(topic.topicId, partition);
    state.observe(header, offset);
    try {
      return (await this.log.append(topic.topicId, partition, [bytes])).baseOffset;
    } catch (err) {
      state.rewind(offset);
      throw err;
    }
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
