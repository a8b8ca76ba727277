import type { Logger } from "pino";
import { ErrorCode } from "../protocol/errors.js";
import type { TopicInfo, TopicRegistry } from "../cluster/topics.js";
import type { Controller } from "../cluster/controller.js";
import type { PartitionManager, TxnProduceCheck } from "../cluster/partitions.js";
import type { OffsetsTopic } from "../cluster/offsets-topic.js";
import type { GroupCoordinator } from "../groups/coordinator.js";
import type { InternalTopicLog } from "../cluster/internal-topic-replay.js";
import { systemClock } from "../storage/clock.js";
import { TxnCoordinator } from "./coordinator.js";
import { INTERNAL_TXN_TOPIC, TxnTopic } from "./txn-topic.js";
import type { ProducerIdentity, TxnOffset, TxnPartition } from "./txn-state.js";
import { txnCalls, type Refusal, type TxnCallHandlers } from "./txn-rpc.js";
import type { BrokerMetrics } from "../server/metrics.js";

export interface TxnServiceOptions {
  partitions: number;
  maxTimeoutMs: number;
  /** How often timed-out transactions are looked for (and unfinished ones retried). */
  tickIntervalMs?: number;
}

export interface TxnServiceDeps {
  /** `__transaction_state` appends go through the partition's leadership checks. */
  log: InternalTopicLog;
  topics: TopicRegistry;
  controller: Controller;
  partitionManager: PartitionManager;
  groups: GroupCoordinator;
  offsets: OffsetsTopic;
  selfId: number;
  /** The broker leading the partition now, or null while none does. */
  leaderOf(topicId: string, partition: number): number | null;
  /** The broker coordinating the group now (the broker's FindCoordinator answer), or null. */
  groupCoordinatorOf(groupId: string): number | null;
  leaderEpochOf(topicId: string, partition: number): number;
  /** Other brokers of a cluster; null standalone, where this broker owns everything. */
  peers: TxnPeers | null;
  metrics?: Pick<BrokerMetrics, "txnPeerCalls">;
  logger: Logger;
}

export interface TxnPeers {
  /** Internal URL of broker `nodeId`, null if it is not known (not registered). */
  urlOf(nodeId: number): string | null;
  /** Every other live broker. */
  others(): number[];
}

const PEER_CALL_TIMEOUT_MS = 5000;

/**
 * The transaction coordinator wired into a broker: `__transaction_state` is created on
 * first start, the state machine is replayed from it, transactions a crash left in Prepare*
 * are finished, and a ticker aborts transactions past their timeout. Markers go to each
 * partition through the same produce path (WAL, then ack) as data.
 *
 * In a cluster each broker coordinates the ids of the `__transaction_state` partitions it
 * leads: it reads a partition in when it gains it (`loadPartition`) and forgets its ids when
 * it moves away, like the group coordinator with `__consumer_offsets`. Markers, committed
 * offsets and produce checks that belong to another broker go there over `txn-rpc.ts`.
 */
export class TxnService {
  readonly coordinator: TxnCoordinator;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private closed = false;
  /** `__transaction_state` partitions read in and coordinated here (every one standalone). */
  private readonly loaded = new Set<number>();
  private readonly loading = new Set<number>();
  /**
   * Transactional batches the coordinator allowed, so later batches of the same transaction
   * are not asked about again: `topicId:partition` -> producer id -> epoch. A marker on the
   * partition ends the producer's transaction there and removes its entry.
   */
  private readonly verified = new Map<string, Map<bigint, number>>();

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
      writeMarkers: (partitions, producerId, producerEpoch, commit, transactionalId) => this.writeMarkers(partitions, producerId, producerEpoch, commit, transactionalId),
      commitOffsets: (offsets) => this.commitOffsets(offsets),
      owns: (transactionalId) => this.owns(transactionalId),
    });
  }

  static async start(deps: TxnServiceDeps, opts: TxnServiceOptions): Promise<TxnService> {
    let info = deps.topics.byTopicName(INTERNAL_TXN_TOPIC);
    if (!info) {
      const created = await deps.controller.createTopic(INTERNAL_TXN_TOPIC, opts.partitions, { "cleanup.policy": "compact" }, { internal: true });
      // Another broker of the cluster may have created it first.
      info = created.topic ?? deps.topics.byTopicName(INTERNAL_TXN_TOPIC);
      if (!info) throw new Error(`could not create ${INTERNAL_TXN_TOPIC}: ${created.errorMessage}`);
    }
    const service = new TxnService(deps, new TxnTopic(deps.log, info), opts);
    if (!deps.peers) {
      await service.topic.replay(service.coordinator.state);
      for (let p = 0; p < info.partitions; p++) service.loaded.add(p);
      // Transactions a crash left in Prepare* are finished by the first tick, once the broker
      // serves (its markers need the partitions' leadership); until then clients that touch
      // them get CONCURRENT_TRANSACTIONS and retry.
      deps.logger.info({ transactionalIds: service.coordinator.state.all().length, unfinished: service.coordinator.state.unfinished().length }, "transaction state replayed");
    }
    const every = opts.tickIntervalMs ?? 1000;
    service.timer = setInterval(() => service.tick(), every);
    service.timer.unref();
    return service;
  }

  /** Reads one `__transaction_state` partition in; this broker then coordinates its ids. */
  async loadPartition(partition: number): Promise<void> {
    if (this.loading.has(partition)) return;
    this.loading.add(partition);
    const begun = Date.now();
    try {
      this.coordinator.state.forget((id) => this.topic.partitionFor(id) === partition);
      await this.topic.replay(this.coordinator.state, partition);
      this.loaded.add(partition);
      const ids = this.coordinator.state.all().filter((t) => this.topic.partitionFor(t.transactionalId) === partition);
      this.deps.logger.info({ partition, transactionalIds: ids.length, unfinished: ids.filter((t) => t.status.startsWith("Prepare")).length, loadMs: Date.now() - begun }, "loaded the transactions of a transaction-state partition");
    } catch (err) {
      this.deps.logger.error({ err, partition }, "could not load a transaction-state partition; its transactional ids stay without a coordinator");
    } finally {
      this.loading.delete(partition);
    }
  }

  /** The partition moved away: its ids now have another coordinator. */
  unloadPartition(partition: number): void {
    this.loaded.delete(partition);
    const n = this.coordinator.state.forget((id) => this.topic.partitionFor(id) === partition);
    if (n > 0) this.deps.logger.info({ partition, transactionalIds: n }, "transaction-state partition moved away; its transactional ids now have another coordinator");
  }

  /** A data partition moved away: what was verified for it is asked again at its next leader. */
  forgetVerified(topicId: string, partition: number): void {
    this.verified.delete(`${topicId}:${partition}`);
  }

  isLoading(partition: number): boolean {
    return this.loading.has(partition);
  }

  /** This broker coordinates `transactionalId` now. */
  owns(transactionalId: string): boolean {
    const p = this.topic.partitionFor(transactionalId);
    return this.loaded.has(p) && (!this.deps.peers || this.deps.leaderOf(this.topic.topic.topicId, p) === this.deps.selfId);
  }

  /**
   * The check Produce runs for each transactional batch: the producer must be the current
   * one of its transactional id, with an open transaction that holds this partition. When
   * another broker coordinates the id, it is asked once per producer epoch and partition
   * (KIP-890's verification), so a zombie or a batch outside the transaction never lands.
   */
  produceCheck(transactionalId: string, topic: TopicInfo, partition: number): TxnProduceCheck {
    return (h) => {
      if (this.owns(transactionalId)) return this.localCheck(transactionalId, h.producerId, h.producerEpoch, topic.name, partition);
      return this.verifyRemotely(transactionalId, h.producerId, h.producerEpoch, topic, partition);
    };
  }

  private localCheck(transactionalId: string, producerId: bigint, producerEpoch: number, topicName: string, partition: number): Refusal | null {
    const t = this.coordinator.state.get(transactionalId);
    if (!t || t.producerId !== producerId) {
      return { errorCode: ErrorCode.INVALID_PRODUCER_ID_MAPPING, message: `producer ${producerId} is not the producer of transactional id ${transactionalId}` };
    }
    if (producerEpoch < t.producerEpoch) {
      return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, message: `producer ${producerId} epoch ${producerEpoch} is fenced by epoch ${t.producerEpoch}` };
    }
    if (producerEpoch > t.producerEpoch) {
      return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, message: `producer ${producerId} epoch ${producerEpoch} is newer than the coordinator's ${t.producerEpoch}` };
    }
    if (t.status !== "Ongoing" || !t.partitions.some((p) => p.topic === topicName && p.partition === partition)) {
      return { errorCode: ErrorCode.INVALID_TXN_STATE, message: `${topicName}-${partition} is not part of an open transaction of ${transactionalId} (AddPartitionsToTxn first)` };
    }
    return null;
  }

  private async verifyRemotely(transactionalId: string, producerId: bigint, producerEpoch: number, topic: TopicInfo, partition: number): Promise<Refusal | null> {
    const k = `${topic.topicId}:${partition}`;
    if (this.verified.get(k)?.get(producerId) === producerEpoch) return null;
    // Retriable for every client (Kafka answers a verification it cannot make the same way).
    const unavailable = (why: string): Refusal => ({ errorCode: ErrorCode.NOT_ENOUGH_REPLICAS, message: `cannot verify the transaction of ${transactionalId} right now (${why}); retry` });
    const url = this.urlOf(this.deps.leaderOf(this.topic.topic.topicId, this.topic.partitionFor(transactionalId)));
    if (!url) return unavailable("its coordinator is not known");
    let refusal: Refusal | null;
    try {
      refusal = await this.peerCall("verify", () => txnCalls.verify(url, { transactionalId, producerId: producerId.toString(), producerEpoch, topic: topic.name, partition }, PEER_CALL_TIMEOUT_MS));
    } catch (err) {
      return unavailable((err as Error).message);
    }
    if (refusal) return refusal;
    let producers = this.verified.get(k);
    if (!producers) this.verified.set(k, (producers = new Map()));
    producers.set(producerId, producerEpoch);
    return null;
  }

  /** TxnOffsetCommit, at this broker or forwarded to the id's coordinator. */
  async txnOffsetCommit(transactionalId: string, who: ProducerIdentity, offsets: TxnOffset[], fencedCode: number): Promise<{ errorCode: number; errorMessage: string | null }> {
    if (this.owns(transactionalId)) return this.coordinator.txnOffsetCommit(transactionalId, who, offsets, fencedCode);
    const url = this.urlOf(this.deps.leaderOf(this.topic.topic.topicId, this.topic.partitionFor(transactionalId)));
    if (!url) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: `the coordinator of ${transactionalId} is not known yet` };
    return this.peerCall("offset-commit", () => txnCalls.offsetCommit(url, { transactionalId, producerId: who.producerId.toString(), producerEpoch: who.producerEpoch, offsets, fencedCode }, PEER_CALL_TIMEOUT_MS));
  }

  /**
   * `topic\0partition` of the group's offsets held in transactions not yet complete
   * (OffsetFetch RequireStable), asked of every broker in a cluster: any may coordinate a
   * transaction that carries them. Rejects if one cannot answer.
   */
  async pendingOffsets(groupId: string): Promise<Set<string>> {
    const out = new Set(this.localPendingOffsets(groupId));
    const peers = this.deps.peers;
    if (!peers) return out;
    await Promise.all(
      peers.others().map(async (id) => {
        const url = peers.urlOf(id);
        if (!url) throw new Error(`broker ${id} has no internal URL`);
        for (const k of await this.peerCall("pending-offsets", () => txnCalls.pendingOffsets(url, groupId, PEER_CALL_TIMEOUT_MS))) out.add(k);
      }),
    );
    return out;
  }

  /** What this broker answers the other brokers' transaction calls with. */
  callHandlers(): TxnCallHandlers {
    return {
      marker: (c) => {
        const topic = this.deps.topics.byTopicName(c.topic);
        if (!topic || this.deps.leaderOf(topic.topicId, c.partition) !== this.deps.selfId) return null;
        return this.writeLocalMarker(topic, c.partition, BigInt(c.producerId), c.producerEpoch, c.commit, c.coordinatorEpoch);
      },
      offsets: (groupId, offsets) => (this.deps.groupCoordinatorOf(groupId) === this.deps.selfId ? this.applyCommittedOffsets(groupId, offsets) : null),
      verify: (c) => (this.owns(c.transactionalId) ? this.localCheck(c.transactionalId, BigInt(c.producerId), c.producerEpoch, c.topic, c.partition) : "not-owner"),
      offsetCommit: (c) => (this.owns(c.transactionalId) ? this.coordinator.txnOffsetCommit(c.transactionalId, { producerId: BigInt(c.producerId), producerEpoch: c.producerEpoch }, c.offsetsDecoded, c.fencedCode) : null),
      pendingOffsets: (groupId) => [...this.localPendingOffsets(groupId)],
    };
  }

  private localPendingOffsets(groupId: string): Set<string> {
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

  private async writeMarkers(partitions: TxnPartition[], producerId: bigint, producerEpoch: number, commit: boolean, transactionalId: string): Promise<void> {
    const coordinatorEpoch = this.deps.leaderEpochOf(this.topic.topic.topicId, this.topic.partitionFor(transactionalId));
    await Promise.all(
      partitions.map(async (p) => {
        const topic = this.deps.topics.byTopicName(p.topic);
        // A deleted topic (or partition) has no data left to mark.
        if (!topic || p.partition >= topic.partitions) return;
        const leader = this.deps.leaderOf(topic.topicId, p.partition);
        if (leader === this.deps.selfId) return void (await this.writeLocalMarker(topic, p.partition, producerId, producerEpoch, commit, coordinatorEpoch));
        const url = this.urlOf(leader);
        if (!url) throw new Error(`${p.topic}-${p.partition} has no reachable leader; its ${commit ? "commit" : "abort"} marker is retried later`);
        await this.peerCall("marker", () => txnCalls.marker(url, { topic: p.topic, partition: p.partition, producerId: producerId.toString(), producerEpoch, commit, coordinatorEpoch }, PEER_CALL_TIMEOUT_MS));
      }),
    );
  }

  private async writeLocalMarker(topic: TopicInfo, partition: number, producerId: bigint, producerEpoch: number, commit: boolean, coordinatorEpoch: number): Promise<void> {
    await this.deps.partitionManager.writeMarker(topic, partition, producerId, producerEpoch, commit, coordinatorEpoch);
    this.verified.get(`${topic.topicId}:${partition}`)?.delete(producerId);
  }

  private async peerCall<T>(call: string, run: () => Promise<T>): Promise<T> {
    try {
      const answer = await run();
      this.deps.metrics?.txnPeerCalls.inc({ call, outcome: "ok" });
      return answer;
    } catch (err) {
      this.deps.metrics?.txnPeerCalls.inc({ call, outcome: "error" });
      throw err;
    }
  }

  /** Internal URL of another broker of the cluster, null if none is known (or standalone). */
  private urlOf(nodeId: number | null): string | null {
    return nodeId === null ? null : (this.deps.peers?.urlOf(nodeId) ?? null);
  }

  /** A committed transaction's offsets: written to `__consumer_offsets` by each group's coordinator, then visible to OffsetFetch. */
  private async commitOffsets(offsets: TxnOffset[]): Promise<void> {
    const byGroup = new Map<string, TxnOffset[]>();
    for (const o of offsets) {
      const list = byGroup.get(o.groupId);
      if (list) list.push(o);
      else byGroup.set(o.groupId, [o]);
    }
    for (const [groupId, list] of byGroup) {
      const coordinator = this.deps.groupCoordinatorOf(groupId);
      if (coordinator === this.deps.selfId) {
        await this.applyCommittedOffsets(groupId, list);
        continue;
      }
      const url = this.urlOf(coordinator);
      if (!url) throw new Error(`group ${groupId} has no reachable coordinator; the transaction's offsets are retried later`);
      await this.peerCall("offsets", () => txnCalls.offsets(url, groupId, list, PEER_CALL_TIMEOUT_MS));
    }
  }

  private async applyCommittedOffsets(groupId: string, offsets: TxnOffset[]): Promise<void> {
    const now = Date.now();
    const commits = offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, leaderEpoch: o.leaderEpoch, metadata: o.metadata, commitTimestampMs: now }));
    await this.deps.offsets.persist(groupId, commits);
    this.deps.groups.loadOffsets(groupId, commits);
  }
}
