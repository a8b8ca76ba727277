/**
 * The cluster's membership and partition leadership as every broker sees it: a state
 * machine over metadata-log records, applied the same way on replay and live (ADR 0003).
 * It decides on its own which records count, so a deposed controller's late writes are
 * harmless:
 * - a record from an older controller generation than the newest `controller-elected`
 *   is ignored;
 * - a partition's leader epoch only goes up; an assignment in a `partition-leaders` record
 *   that does not raise it is ignored (the record's other assignments still count);
 * - a broker's epoch only goes up; a registration with a lower or equal one is ignored.
 */
import { UNNAMED_LISTENER, type AdvertisedListener } from "../server/broker.js";

export type WalKind = "file" | "nfs" | "s3";

export type ClusterRecord =
  | { type: "controller-elected"; generation: number; holder: string }
  | ({ type: "broker-registered"; generation: number; id: number; incarnationId: string; brokerEpoch: number; zone: string; walType: WalKind; internalUrl?: string } & RecordedListeners)
  | { type: "broker-fenced"; generation: number; id: number; brokerEpoch: number }
  | { type: "wal-recovered"; generation: number; id: number; brokerEpoch: number }
  | { type: "broker-draining"; generation: number; id: number; draining: boolean }
  | { type: "broker-removed"; generation: number; id: number }
  | { type: "partition-leaders"; generation: number; leaders: LeaderAssignment[] }
  | ClusterStateRecord;

/** Snapshot form of everything above (metadata-log compaction): the state as one record. */
export interface ClusterStateRecord {
  type: "cluster-state";
  generation: number;
  holder: string;
  brokers: (Omit<BrokerEntry, "listeners"> & RecordedListeners)[];
  /** [topicId, partition, leader, leaderEpoch] */
  leaders: [string, number, number, number][];
}

/**
 * A broker's advertised listeners as records carry them. Records written before named
 * listeners have a bare `host` and `port` instead (still in a log being upgraded); they
 * read as one unnamed listener, which serves clients on any listener.
 */
export type RecordedListeners = { listeners: AdvertisedListener[] } | { listeners?: undefined; host: string; port: number };

function listenersOf(r: RecordedListeners): AdvertisedListener[] {
  return r.listeners ? r.listeners.map((l) => ({ ...l })) : [{ name: UNNAMED_LISTENER, host: r.host, port: r.port }];
}

/** One partition's new leader; many go in one record, so a rebalance of thousands of partitions is a few appends. */
export interface LeaderAssignment {
  topicId: string;
  partition: number;
  leader: number;
  leaderEpoch: number;
}

export const CLUSTER_RECORD_TYPES: ReadonlySet<string> = new Set(["controller-elected", "broker-registered", "broker-fenced", "wal-recovered", "broker-draining", "broker-removed", "partition-leaders", "cluster-state"]);

export interface BrokerEntry {
  id: number;
  incarnationId: string;
  brokerEpoch: number;
  zone: string;
  /** Where clients reach it, per listener (every listener it advertises). */
  listeners: AdvertisedListener[];
  walType: WalKind;
  /** Where the controller reaches the broker's HTTP port (partition releases); empty if unknown. */
  internalUrl: string;
  /** Declared dead by the controller; it must register again (with a new epoch) to lead. */
  fenced: boolean;
  /** Its WAL (of the fenced epoch) was replayed and uploaded, so its partitions may move. */
  walRecovered: boolean;
  draining: boolean;
}

export interface PartitionLeader {
  leader: number;
  leaderEpoch: number;
}

/** The map key of a partition in cluster bookkeeping. */
export const partitionKey = (topicId: string, partition: number) => `${topicId}:${partition}`;

export class ClusterState {
  controllerGeneration = 0;
  controllerHolder = "";
  private readonly brokerMap = new Map<number, BrokerEntry>();
  private readonly leaderMap = new Map<string, PartitionLeader & { topicId: string; partition: number }>();

  /** Applies a record; returns false when the rules above make it (or every assignment in it) void. */
  apply(r: ClusterRecord): boolean {
    if (r.generation < this.controllerGeneration) return false;
    switch (r.type) {
      case "controller-elected":
        if (r.generation <= this.controllerGeneration) return false;
        this.controllerGeneration = r.generation;
        this.controllerHolder = r.holder;
        return true;
      case "broker-registered": {
        const old = this.brokerMap.get(r.id);
        if (old && old.brokerEpoch >= r.brokerEpoch) return false;
        this.brokerMap.set(r.id, { id: r.id, incarnationId: r.incarnationId, brokerEpoch: r.brokerEpoch, zone: r.zone, listeners: listenersOf(r), walType: r.walType, internalUrl: r.internalUrl ?? "", fenced: false, walRecovered: false, draining: false });
        return true;
      }
      case "broker-fenced":
      case "wal-recovered": {
        const b = this.brokerMap.get(r.id);
        if (!b || b.brokerEpoch !== r.brokerEpoch) return false;
        if (r.type === "broker-fenced") b.fenced = true;
        else b.walRecovered = true;
        return true;
      }
      case "broker-draining": {
        const b = this.brokerMap.get(r.id);
        if (!b) return false;
        b.draining = r.draining;
        return true;
      }
      case "broker-removed":
        return this.brokerMap.delete(r.id);
      case "cluster-state":
        this.controllerGeneration = r.generation;
        this.controllerHolder = r.holder;
        this.brokerMap.clear();
        for (const b of r.brokers) {
          const { id, incarnationId, brokerEpoch, zone, walType, internalUrl, fenced, walRecovered, draining } = b;
          this.brokerMap.set(id, { id, incarnationId, brokerEpoch, zone, listeners: listenersOf(b), walType, internalUrl, fenced, walRecovered, draining });
        }
        this.leaderMap.clear();
        for (const [topicId, partition, leader, leaderEpoch] of r.leaders) this.leaderMap.set(partitionKey(topicId, partition), { topicId, partition, leader, leaderEpoch });
        return true;
      case "partition-leaders": {
        let applied = false;
        for (const a of r.leaders) {
          const k = partitionKey(a.topicId, a.partition);
          const old = this.leaderMap.get(k);
          if (old && old.leaderEpoch >= a.leaderEpoch) continue;
          this.leaderMap.set(k, { topicId: a.topicId, partition: a.partition, leader: a.leader, leaderEpoch: a.leaderEpoch });
          applied = true;
        }
        return applied;
      }
    }
  }

  /** The whole state as one record; `keep` leaves out partitions that no longer exist. */
  toRecord(keep: (topicId: string, partition: number) => boolean = () => true): ClusterStateRecord {
    const leaders: ClusterStateRecord["leaders"] = [];
    for (const l of this.leaderMap.values()) if (keep(l.topicId, l.partition)) leaders.push([l.topicId, l.partition, l.leader, l.leaderEpoch]);
    return { type: "cluster-state", generation: this.controllerGeneration, holder: this.controllerHolder, brokers: this.brokers().map((b) => ({ ...b, listeners: b.listeners.map((l) => ({ ...l })) })), leaders };
  }

  broker(id: number): BrokerEntry | undefined {
    return this.brokerMap.get(id);
  }

  brokers(): BrokerEntry[] {
    return [...this.brokerMap.values()].sort((a, b) => a.id - b.id);
  }

  /** Every partition that has a leader. */
  leaders(): IterableIterator<PartitionLeader & { topicId: string; partition: number }> {
    return this.leaderMap.values();
  }

  leaderOf(topicId: string, partition: number): PartitionLeader | undefined {
    return this.leaderMap.get(partitionKey(topicId, partition));
  }

  /** Forgets a deleted topic's partitions (their leader epochs go with them). */
  dropPartitions(topicId: string, fromPartition = 0): void {
    for (const [k, v] of this.leaderMap) if (v.topicId === topicId && v.partition >= fromPartition) this.leaderMap.delete(k);
  }
}
