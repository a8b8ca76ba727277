import type { Logger } from "pino";
import { ErrorCode } from "../protocol/errors.js";
import type { TopicInfo, TopicRegistry } from "../cluster/topics.js";
import type { Controller } from "../cluster/controller.js";
import type { PartitionManager, TxnProduceCheck } from "../cluster/partitions.js";
import type { OffsetsTopic } from "../cluster/offsets-topic.js";
import type { GroupCoordinator } from "../groups/coordinator.js";
import type { LogStore } from "../storage/log-store.js";
import { systemClock } from "../storage/clock.js";
import { TxnCoordinator } from "./coordinator.js";
import { INTERNAL_TXN_TOPIC, TxnTopic } from "./txn-topic.js";
import type { TxnOffset, TxnPartition } from "./txn-state.js";

export interface TxnServiceOptions {
  partitions: number;
  maxTimeoutMs: number;
  /** How often timed-out transactions are looked for (and unfinished ones retried). */
  tickIntervalMs?: number;
}

export interface TxnServiceDeps {
  log: LogStore;
  topics: TopicRegistry;
  controller: Controller;
  partitionManager: PartitionManager;
  groups: GroupCoordinator;
  offsets: OffsetsTopic;
  /** Whether this broker leads the partition now (markers are written by the leader). */
  leads(topicId: string, partition: number): boolean;
  leaderEpochOf(topicId: string, partition: number): number;
  logger: Logger;
}

/**
 * The transaction coordinator wired into a broker: `__transaction_state` is created on
 * first start, the state machine is replayed from it, transactions a crash left in Prepare*
 * are finished, and a ticker aborts transactions past their timeout. Markers go to each
 * partition through the same produce path (WAL, then ack) as data.
 */
export class TxnService {
  readonly coordinator: TxnCoordinator;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private closed = false;

  private constructor(
    private readonly deps: TxnServiceDeps,
    readonly topic: TxnTopic,
    opts: TxnServiceOptions,
  ) {
    this.coordinator = new TxnCoordinator({
      clock: systemClock,
      maxTimeoutMs: opts.maxTimeoutMs,
      allocateProducerId: () => deps.controller.allocateProducerId(),
      persist: (record) => topic.persist(record),
      writeMarkers: (partitions, producerId, producerEpoch, commit) => this.writeMarkers(partitions, producerId, producerEpoch, commit),
      commitOffsets: (offsets) => this.commitOffsets(offsets),
    });
  }

  static async start(deps: TxnServiceDeps, opts: TxnServiceOptions): Promise<TxnService> {
    let info = deps.topics.byTopicName(INTERNAL_TXN_TOPIC);
    if (!info) {
      const created = await deps.controller.createTopic(INTERNAL_TXN_TOPIC, opts.partitions, { "cleanup.policy": "compact" }, { internal: true });
      if (!created.topic) throw new Error(`could not create ${INTERNAL_TXN_TOPIC}: ${created.errorMessage}`);
      info = created.topic;
    }
    const service = new TxnService(deps, new TxnTopic(deps.log, info), opts);
    await service.topic.replay(service.coordinator.state);
    // Transactions a crash left in Prepare* are finished by the first tick, once the broker
    // serves (its markers need the partitions' leadership); until then clients that touch
    // them get CONCURRENT_TRANSACTIONS and retry.
    deps.logger.info({ transactionalIds: service.coordinator.state.all().length, unfinished: service.coordinator.state.unfinished().length }, "transaction state replayed");
    const every = opts.tickIntervalMs ?? 1000;
    service.timer = setInterval(() => service.tick(), every);
    service.timer.unref();
    return service;
  }

  /**
   * The check Produce runs for each transactional batch: the producer must be the current
   * one of its transactional id, with an open transaction that holds this partition.
   */
  produceCheck(transactionalId: string, topic: TopicInfo, partition: number): TxnProduceCheck {
    return (h) => {
      const t = this.coordinator.state.get(transactionalId);
      if (!t || t.producerId !== h.producerId) {
        return { errorCode: ErrorCode.INVALID_PRODUCER_ID_MAPPING, message: `producer ${h.producerId} is not the producer of transactional id ${transactionalId}` };
      }
      if (h.producerEpoch < t.producerEpoch) {
        return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, message: `producer ${h.producerId} epoch ${h.producerEpoch} is fenced by epoch ${t.producerEpoch}` };
      }
      if (h.producerEpoch > t.producerEpoch) {
        return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, message: `producer ${h.producerId} epoch ${h.producerEpoch} is newer than the coordinator's ${t.producerEpoch}` };
      }
      if (t.status !== "Ongoing" || !t.partitions.some((p) => p.topic === topic.name && p.partition === partition)) {
        return { errorCode: ErrorCode.INVALID_TXN_STATE, message: `${topic.name}-${partition} is not part of an open transaction of ${transactionalId} (AddPartitionsToTxn first)` };
      }
      return null;
    };
  }

  /** `topic\0partition` of the group's offsets held in transactions not yet complete (OffsetFetch RequireStable). */
  pendingOffsets(groupId: string): Set<string> {
    const out = new Set<string>();
    for (const t of this.coordinator.state.all()) {
      if (t.status !== "Ongoing" && t.status !== "PrepareCommit") continue;
      for (const o of t.offsets) if (o.groupId === groupId) out.add(`${o.topic}\u0000${o.partition}`);
    }
    return out;
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    return this.ticking ?? Promise.resolve();
  }

  private tick(): void {
    if (this.closed || this.ticking) return;
    this.ticking = this.coordinator
      .tick()
      .catch((err) => this.deps.logger.warn({ err }, "transaction timeout pass failed; retried at the next tick"))
      .finally(() => (this.ticking = null));
  }

  private async writeMarkers(partitions: TxnPartition[], producerId: bigint, producerEpoch: number, commit: boolean): Promise<void> {
    const coordinatorEpoch = this.deps.leaderEpochOf(this.topic.topic.topicId, 0);
    await Promise.all(
      partitions.map(async (p) => {
        const topic = this.deps.topics.byTopicName(p.topic);
        // A deleted topic (or partition) has no data left to mark.
        if (!topic || p.partition >= topic.partitions) return;
        if (!this.deps.leads(topic.topicId, p.partition)) {
          throw new Error(`${p.topic}-${p.partition} is led by another broker; its ${commit ? "commit" : "abort"} marker is retried later`);
        }
        await this.deps.partitionManager.writeMarker(topic, p.partition, producerId, producerEpoch, commit, coordinatorEpoch);
      }),
    );
  }

  /** A committed transaction's offsets: written to `__consumer_offsets`, then visible to OffsetFetch. */
  private async commitOffsets(offsets: TxnOffset[]): Promise<void> {
    const byGroup = new Map<string, TxnOffset[]>();
    for (const o of offsets) {
      const list = byGroup.get(o.groupId);
      if (list) list.push(o);
      else byGroup.set(o.groupId, [o]);
    }
    const now = Date.now();
    for (const [groupId, list] of byGroup) {
      const commits = list.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, leaderEpoch: o.leaderEpoch, metadata: o.metadata, commitTimestampMs: now }));
      await this.deps.offsets.persist(groupId, commits);
      this.deps.groups.loadOffsets(groupId, commits);
    }
  }
}
