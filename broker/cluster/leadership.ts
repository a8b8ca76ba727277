import type { Logger } from "pino";
import type { MetadataRecord } from "../storage/metadata-log.js";
import type { BrokerEndpoint } from "../server/broker.js";
import type { BrokerEntry, ClusterRecord, ClusterState } from "./cluster-state.js";

/**
 * Who leads which partition, as the request handlers ask it. Two answers exist:
 * `StandaloneLeadership` (one broker leads everything at epoch 0, the embedded default) and
 * `ClusterLeadership` (the cluster records of the shared metadata log decide).
 */
export interface Leadership {
  /** Brokers clients may be sent to. */
  brokers(): BrokerEndpoint[];
  /** The partition's leader, or null while it has none (clients get LEADER_NOT_AVAILABLE and retry). */
  leaderOf(topicId: string, partition: number): BrokerEndpoint | null;
  leaderEpochOf(topicId: string, partition: number): number;
  /** Null when this broker may start a write to the partition now, else why not. */
  writeRefusal(topicId: string, partition: number): string | null;
  /**
   * Null when a write that is durable now may be acknowledged, else why not. Looser than
   * `writeRefusal`: a write under way when the partition was released is still uploaded
   * before the move (the release waits for it), so it may be acknowledged.
   */
  ackRefusal(topicId: string, partition: number): string | null;
  /**
   * KIP-392: a broker in the client's zone (`rack`) that can serve the partition's committed
   * data, when the leader is in another zone; null when there is none or no need.
   */
  readReplicaFor(topicId: string, partition: number, rack: string): BrokerEndpoint | null;
  /** Whether this broker may serve committed data of partitions it does not lead. */
  servesCommittedReads(): boolean;
}

export type TopicPartition = { topicId: string; partition: number };

export class StandaloneLeadership implements Leadership {
  constructor(private readonly self: () => BrokerEndpoint) {}

  brokers(): BrokerEndpoint[] {
    return [this.self()];
  }

  leaderOf(): BrokerEndpoint | null {
    return this.self();
  }

  leaderEpochOf(): number {
    return 0;
  }

  writeRefusal(): string | null {
    return null;
  }

  ackRefusal(): string | null {
    return null;
  }

  readReplicaFor(): BrokerEndpoint | null {
    return null;
  }

  servesCommittedReads(): boolean {
    return false;
  }
}

export interface ClusterLeadershipOptions {
  state: ClusterState;
  selfId: number;
  /** The write lease (membership.ts): false while this broker could already have been declared dead. */
  canAcknowledge(): boolean;
  /** This broker now leads the partition (at `leaderEpoch`): take it over from the objects. */
  onGained(tp: TopicPartition, leaderEpoch: number): void;
  /** This broker no longer leads the partition. */
  onLost(tp: TopicPartition): void;
  logger?: Logger;
}

const keyOf = (topicId: string, partition: number) => `${topicId}:${partition}`;

/** A registered broker as clients see it: the zone is its rack, and every listener it advertised. */
const endpointOf = (b: BrokerEntry): BrokerEndpoint => ({ nodeId: b.id, rack: b.zone || null, listeners: b.listeners });

/**
 * Leadership in a multi-broker cluster. The state comes from the metadata log (the log
 * store's index applies each cluster record first; `observe` then sees the result), so
 * every broker agrees on leaders in log order. A broker writes to a partition only while
 * (1) the log names it leader, (2) it has not released the partition to the controller for
 * a move, and (3) its write lease is valid (it cannot yet have been declared dead).
 *
 * A release lasts until a leader record for the partition is applied (the move, or the
 * controller naming this broker again) or a newer controller takes office (the old one
 * can no longer write the move: its records would be void).
 */
export class ClusterLeadership implements Leadership {
  /** Partitions this broker leads, with the leader epoch it took them at. */
  private readonly led = new Map<string, number>();
  /** Partitions released for a move → the controller generation that asked. */
  private readonly released = new Map<string, number>();

  constructor(private readonly opts: ClusterLeadershipOptions) {
    for (const l of opts.state.leaders()) if (l.leader === opts.selfId) this.led.set(keyOf(l.topicId, l.partition), l.leaderEpoch);
  }

  brokers(): BrokerEndpoint[] {
    return this.opts.state
      .brokers()
      .filter((b) => !b.fenced)
      .map(endpointOf);
  }

  leaderOf(topicId: string, partition: number): BrokerEndpoint | null {
    const l = this.opts.state.leaderOf(topicId, partition);
    const b = l ? this.opts.state.broker(l.leader) : undefined;
    if (!b || b.fenced) return null;
    return endpointOf(b);
  }

  leaderEpochOf(topicId: string, partition: number): number {
    return this.opts.state.leaderOf(topicId, partition)?.leaderEpoch ?? 0;
  }

  leads(topicId: string, partition: number): boolean {
    return this.led.has(keyOf(topicId, partition));
  }

  /** Partitions this broker leads now. */
  ledPartitions(): TopicPartition[] {
    return [...this.led.keys()].map((k) => {
      const at = k.lastIndexOf(":");
      return { topicId: k.slice(0, at), partition: Number(k.slice(at + 1)) };
    });
  }

  writeRefusal(topicId: string, partition: number): string | null {
    const k = keyOf(topicId, partition);
    if (!this.led.has(k)) return "this broker does not lead the partition (it moved); refresh metadata";
    if (this.released.has(k)) return "the partition is moving to another broker; refresh metadata and retry";
    if (!this.opts.canAcknowledge()) return "this broker's session with the controller lapsed, so it may no longer acknowledge writes; retry";
    return null;
  }

  ackRefusal(topicId: string, partition: number): string | null {
    if (!this.led.has(keyOf(topicId, partition))) return "this broker does not lead the partition (it moved); refresh metadata";
    if (!this.opts.canAcknowledge()) return "this broker's session with the controller lapsed, so it may no longer acknowledge writes; retry";
    return null;
  }

  readReplicaFor(topicId: string, partition: number, rack: string): BrokerEndpoint | null {
    if (!rack) return null;
    const leader = this.leaderOf(topicId, partition);
    if (!leader || leader.rack === rack) return null;
    const inZone = this.opts.state.brokers().filter((b) => !b.fenced && !b.draining && b.zone === rack);
    if (inZone.length === 0) return null;
    // Spread a zone's consumers of many partitions over its brokers, the same way every time.
    return endpointOf(inZone[partition % inZone.length]!);
  }

  servesCommittedReads(): boolean {
    // Only while in the cluster: a broker whose session lapsed may be behind on the log.
    return this.opts.canAcknowledge();
  }

  /** The controller (generation `generation`) is about to move these partitions: stop writing them. */
  release(partitions: readonly TopicPartition[], generation: number): TopicPartition[] {
    const mine = partitions.filter((p) => this.led.has(keyOf(p.topicId, p.partition)));
    for (const p of mine) this.released.set(keyOf(p.topicId, p.partition), generation);
    return mine;
  }

  /** The controller that asked will not move them after all: write them again (a newer request wins). */
  resume(partitions: readonly TopicPartition[], generation: number): number {
    let n = 0;
    for (const p of partitions) {
      const k = keyOf(p.topicId, p.partition);
      if (this.released.get(k) === generation && this.released.delete(k)) n++;
    }
    return n;
  }

  /** Call for every metadata record, after the cluster state has applied it. */
  observe(record: MetadataRecord): void {
    const r = record as unknown as ClusterRecord;
    if (r.type === "controller-elected") {
      for (const [k, generation] of this.released) if (generation < r.generation) this.released.delete(k);
      return;
    }
    if (r.type !== "partition-leaders") return;
    for (const a of r.leaders) {
      const k = keyOf(a.topicId, a.partition);
      const now = this.opts.state.leaderOf(a.topicId, a.partition);
      // This assignment was void (an older epoch than the partition's): nothing changed.
      if (!now || now.leaderEpoch !== a.leaderEpoch) continue;
      this.released.delete(k);
      const tp = { topicId: a.topicId, partition: a.partition };
      if (now.leader === this.opts.selfId) {
        if (this.led.get(k) === now.leaderEpoch) continue;
        this.led.set(k, now.leaderEpoch);
        this.opts.onGained(tp, now.leaderEpoch);
      } else if (this.led.delete(k)) {
        this.opts.onLost(tp);
      }
    }
  }

  /** A deleted topic's partitions are led by nobody. */
  forgetTopic(topicId: string): void {
    for (const k of [...this.led.keys()]) if (k.startsWith(`${topicId}:`)) this.led.delete(k);
    for (const k of [...this.released.keys()]) if (k.startsWith(`${topicId}:`)) this.released.delete(k);
  }
}
