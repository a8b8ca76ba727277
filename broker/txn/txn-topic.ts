import { buildRecordBatch } from "../protocol/records.js";
import { offsetsPartitionFor } from "../cluster/offsets-topic.js";
import { replayInternalTopic, type InternalTopicLog } from "../cluster/internal-topic-replay.js";
import type { TopicInfo } from "../cluster/topics.js";
import { decodeTxnRecord, encodeTxnRecord, type TxnRecord, type TxnStateMachine } from "./txn-state.js";

export const INTERNAL_TXN_TOPIC = "__transaction_state";

/**
 * The coordinator's durable state: one record per transition in `__transaction_state`,
 * written through the WAL (an append resolves only after the fsync, and is refused unless
 * this broker leads the partition), placed on partition
 * `abs(javaHash(transactionalId)) % partitions` like Kafka, so the leader of that partition
 * is the id's coordinator and a partition move carries the state with it.
 */
export class TxnTopic {
  constructor(private readonly log: InternalTopicLog, readonly topic: TopicInfo) {}

  partitionFor(transactionalId: string): number {
    return offsetsPartitionFor(transactionalId, this.topic.partitions);
  }

  async persist(record: TxnRecord): Promise<void> {
    await this.log.append(this.topic.topicId, this.partitionFor(record.transactionalId), [buildRecordBatch([encodeTxnRecord(record)])]);
  }

  /** Folds every record (`only`: of that partition) into `machine`, oldest first; the last record of each id wins. */
  async replay(machine: TxnStateMachine, only?: number): Promise<void> {
    await replayInternalTopic(
      this.log,
      this.topic,
      (key, value) => {
        if (value) machine.apply(decodeTxnRecord(key, value));
      },
      only,
    );
  }
}
