import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { BrokerConfig } from "../config.js";
import type { TopicRegistry } from "../cluster/topics.js";
import type { Controller } from "../cluster/controller.js";
import type { GroupCoordinator } from "../groups/coordinator.js";
import type { BrokerMetrics } from "./metrics.js";
import type { PartitionManager } from "../cluster/partitions.js";
import type { TopicInfo } from "../cluster/topics.js";
import type { FetchSessionCache } from "./fetch-sessions.js";
import type { TxnService } from "../txn/txn-service.js";
import type { QuotaMeters } from "../security/quotas.js";

/** Where clients reach a broker on one of its named listeners. */
export interface AdvertisedListener {
  name: string;
  host: string;
  port: number;
}

/**
 * A broker as clients see it: its id, rack and address on each listener it has. A client
 * is told only the addresses on the listener it connected through (Kafka's rule), so an
 * in-cluster client never gets an external name and the other way round.
 */
export interface BrokerEndpoint {
  nodeId: number;
  rack: string | null;
  listeners: readonly AdvertisedListener[];
}

/**
 * Name of the one listener of a broker registered before named listeners existed (its
 * record carries a bare host and port): it answers on any listener, being the broker's only one.
 */
export const UNNAMED_LISTENER = "";

/** The broker's address on `listener`, or null when it has no such listener (clients there are not told of it). */
export function addressOn(b: BrokerEndpoint, listener: string): { host: string; port: number } | null {
  return b.listeners.find((l) => l.name === listener) ?? b.listeners.find((l) => l.name === UNNAMED_LISTENER) ?? null;
}

/** The brokers reachable on `listener`, with their address there: Metadata's and DescribeCluster's broker lists. */
export function brokersOn(broker: Pick<Broker, "brokers">, listener: string): { nodeId: number; host: string; port: number; rack: string | null }[] {
  return broker.brokers().flatMap((b) => {
    const a = addressOn(b, listener);
    return a ? [{ nodeId: b.nodeId, host: a.host, port: a.port, rack: b.rack }] : [];
  });
}

/**
 * Everything a request handler may use, in one place. The concrete wiring (storage,
 * coordinator, listeners) lives in `runtime.ts`; handlers depend only on this shape.
 */
export interface Broker {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly metrics: BrokerMetrics;
  readonly self: BrokerEndpoint;
  readonly clusterId: string;
  readonly topics: TopicRegistry;
  readonly controller: Controller;
  readonly groups: GroupCoordinator;
  /** Transaction coordinator (`__transaction_state`) and the produce-side transaction check. */
  readonly txn: TxnService;
  readonly partitions: PartitionManager;
  readonly fetchSessions: FetchSessionCache;
  /** Byte-rate meters of client quotas (the quotas themselves are in `controller.quotas`). */
  readonly quotaMeters: QuotaMeters;
  /** What ApiVersions advertises: exactly the handlers that are registered. */
  supportedApis(): { apiKey: number; minVersion: number; maxVersion: number }[];
  /**
   * A topic a client asked for that does not exist: created with defaults when
   * auto-creation is on, else null. Returns an error code when the name is invalid.
   */
  autoCreateTopic(name: string): Promise<TopicInfo | { errorCode: number }>;
  /** Live brokers (in standalone mode, this one). */
  brokers(): BrokerEndpoint[];
  /** The broker that leads a partition, or null if none does right now. */
  leaderOf(topicId: string, partition: number): BrokerEndpoint | null;
  /**
   * Whether this broker may serve the partition now: it leads it and (multi-broker) its
   * write lease holds, so a cut-off broker stops serving reads too, never showing data
   * that was written but no longer acknowledged.
   */
  servesPartition(topicId: string, partition: number): boolean;
  /** KIP-392: a same-zone broker a consumer in `rack` should fetch the partition's committed data from (null: the leader). */
  readReplicaFor(topicId: string, partition: number, rack: string): BrokerEndpoint | null;
  /** Whether this broker serves committed data of partitions it does not lead (as a read replica). */
  servesCommittedReads(): boolean;
  /** The partition's current leader epoch (KIP-320); raised on every move. */
  leaderEpochOf(topicId: string, partition: number): number;
  /** The broker that coordinates a group or transactional id (key type 0 group, 1 transaction). */
  coordinatorFor(keyType: number, key: string): BrokerEndpoint | null;
}
