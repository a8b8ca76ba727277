import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import { collectedGauge } from "../../src/common/metrics.js";
import type { Logger } from "pino";
import type { BrokerConfig } from "../config.js";
import { ClusterLeadership, type TopicPartition } from "../cluster/leadership.js";
import { ClusterNode, clusterTimingsOf } from "../cluster/cluster-node.js";
import { callPartitions, controllerRoutes, partitionRoutes } from "../cluster/controller-rpc.js";
import type { PartitionManager } from "../cluster/partitions.js";
import type { TopicRegistry } from "../cluster/topics.js";
import { systemClock } from "../storage/clock.js";
import type { Storage } from "../storage/open.js";
import { salvageWal } from "../storage/wal-salvage.js";
import type { BrokerEndpoint } from "./broker.js";

/**
 * A broker's part in a multi-broker cluster (FLOE_CLUSTER_MODE=multi), wired to the rest of
 * the runtime: leadership from the shared metadata log, the controller election and
 * membership (ClusterNode), partition releases before moves, drains, and the poll that
 * reads what other brokers append. See ADR 0003 and docs/architecture.md.
 */
export interface ClusterModeDeps {
  config: BrokerConfig;
  /** Where the cluster gauges go (`/metrics`). */
  registry?: Registry;
  logger: Logger;
  storage: Storage;
  partitions: PartitionManager;
  topics: TopicRegistry;
  /** This broker now leads / no longer leads a partition (after the log store took it over). */
  onGained(tp: TopicPartition): void;
  onLost(tp: TopicPartition): void;
  /** This process can no longer write (another broker took its WAL over): it must restart. */
  onFatal(err: Error): void;
}

/** How long a release may take on the broker (flushing the WAL), and how long the controller waits for it. */
const RELEASE_DEADLINE_MS = 20_000;
const RELEASE_CALL_TIMEOUT_MS = 30_000;

export class ClusterMode {
  readonly leadership: ClusterLeadership;
  private node: ClusterNode | null = null;
  private poll: NodeJS.Timeout | null = null;
  private polling = false;
  private pollFailures = 0;
  private unobserve: () => void = () => undefined;

  constructor(private readonly deps: ClusterModeDeps) {
    const { storage, config, partitions, logger } = deps;
    this.leadership = new ClusterLeadership({
      state: storage.log.cluster,
      selfId: config.nodeId,
      canAcknowledge: () => this.node?.writeLease.canAcknowledge() ?? false,
      onGained: (tp, leaderEpoch) => {
        try {
          partitions.takeOver(tp.topicId, tp.partition);
        } catch (err) {
          logger.error({ err, ...tp, leaderEpoch }, "could not take over the partition");
          return;
        }
        logger.info({ ...tp, leaderEpoch }, "now leading the partition");
        deps.onGained(tp);
      },
      onLost: (tp) => {
        logger.info(tp, "no longer leading the partition");
        deps.onLost(tp);
      },
      logger,
    });
    partitions.setLeadership(this.leadership);
    if (deps.registry) this.registerMetrics(deps.registry);
  }

  private registerMetrics(registry: Registry): void {
    const gauge = (name: string, help: string, value: () => number) => collectedGauge(registry, name, help, value);
    gauge("floe_cluster_partitions_led", "Partitions this broker leads now.", () => this.leadership.ledPartitions().length);
    gauge("floe_cluster_is_controller", "1 while this broker is the cluster's controller.", () => (this.node?.clusterController ? 1 : 0));
    gauge("floe_cluster_write_lease_remaining_seconds", "How long this broker may still acknowledge writes without another accepted heartbeat (0: it may not).", () => (this.node?.writeLease.remainingMs() ?? 0) / 1000);
    gauge("floe_cluster_brokers", "Brokers the metadata log knows that are not fenced.", () => this.leadership.brokers().length);
    gauge("floe_cluster_load_imbalance_ratio", "On the controller: the busiest live broker's load (bytes in + out per second of the partitions it leads) over the mean; 1 is even, 0 until rates are reported.", () => this.node?.clusterController?.loadImbalance() ?? 0);
    gauge("floe_cluster_load_moves", "On the controller: leader moves it made to even out load (two per swap) since it took office.", () => this.node?.clusterController?.loadMoves ?? 0);
    gauge("floe_cluster_leaderless_partitions", "Partitions with no live leader (their leader is dead and its WAL not yet recovered, or none was named).", () => {
      let n = 0;
      for (const t of this.deps.topics.all()) for (let p = 0; p < t.partitions; p++) if (!this.leadership.leaderOf(t.topicId, p)) n++;
      return n;
    });
  }

  /** Starts following the metadata log; call once storage has recovered (the log store applies each record first). */
  follow(): void {
    const log = this.deps.storage.metadataLog;
    this.unobserve = log.subscribe((r) => {
      this.leadership.observe(r);
      // Another broker recovered this process's WAL (it was declared dead): the WAL is fenced against it for good.
      if (r.type === "wal-recovered" && r.id === this.deps.config.nodeId && this.node?.member.epochs.has(r.brokerEpoch as number)) {
        this.deps.onFatal(new Error(`another broker recovered this broker's WAL (broker epoch ${String(r.brokerEpoch)}) after it was declared dead; restarting with a new epoch`));
      }
    });
    const tick = () => {
      const fenced = this.deps.storage.walFencedBy();
      if (fenced) this.deps.onFatal(fenced);
      if (this.polling) return;
      this.polling = true;
      log
        .catchUp()
        .then(() => {
          this.pollFailures = 0;
        })
        .catch((err: unknown) => {
          // Logged once per run of failures: the store may be down for a while.
          if (this.pollFailures++ === 0) this.deps.logger.warn({ err }, "reading the metadata log failed; retrying");
        })
        .finally(() => {
          this.polling = false;
        });
    };
    this.poll = setInterval(tick, this.deps.config.metadataPollIntervalMs);
    this.poll.unref();
  }

  /** Joins the cluster once the listener has its address: election, registration, heartbeats. */
  start(self: BrokerEndpoint, internalUrl: string): void {
    const { config, storage, topics, logger } = this.deps;
    this.node = new ClusterNode({
      store: storage.objectStore,
      log: storage.metadataLog,
      state: storage.log.cluster,
      clock: systemClock,
      registration: { id: config.nodeId, incarnationId: randomBytes(8).toString("hex"), zone: config.rack, listeners: [...self.listeners], walType: config.walType, internalUrl },
      internalUrl,
      timings: clusterTimingsOf(config),
      partitions: () => topics.all().flatMap((t) => Array.from({ length: t.partitions }, (_, partition) => ({ topicId: t.topicId, partition }))),
      release: async (brokerId, partitions, generation) => {
        const url = storage.log.cluster.broker(brokerId)?.internalUrl;
        if (!url) return false;
        const answer = await callPartitions(url, "release", { generation, partitions }, RELEASE_CALL_TIMEOUT_MS);
        return typeof answer.released === "number";
      },
      resume: async (brokerId, partitions, generation) => {
        const url = storage.log.cluster.broker(brokerId)?.internalUrl;
        if (url) await callPartitions(url, "resume", { generation, partitions }, 5000);
      },
      recoverWal: async (dead) => {
        if (dead.walType === "file") throw new Error("a file WAL is recovered only by its own broker");
        const result = await salvageWal({ walType: dead.walType, brokerId: dead.id, sharedDir: config.walDir || undefined, objectStore: storage.objectStore, metadata: storage.metadataLog, selfId: config.nodeId, logger });
        logger.info({ broker: dead.id, ...result }, "recovered a dead broker's WAL into the object store");
      },
      loadReport: () => this.deps.partitions.traffic.reportIfDue(),
      loadBalance: { thresholdRatio: config.loadBalanceThresholdPercent / 100, minBytesPerSec: config.loadBalanceMinBytesPerSec, cooldownMs: config.loadBalanceCooldownMs },
      logger: logger.child({ component: "cluster" }),
    });
    this.node.start();
    logger.info({ internalUrl, sessionTimeoutMs: config.brokerSessionTimeoutMs, controllerLeaseMs: config.controllerLeaseMs }, "joining the cluster");
  }

  /** Controller calls (when this broker is the controller) and the broker's own partition calls. */
  routes(app: FastifyInstance): void {
    controllerRoutes(app, () => this.node?.controllerApi() ?? null);
    partitionRoutes(app, {
      release: (call) => this.release(call.partitions, call.generation),
      resume: (call) => ({ resumed: this.leadership.resume(call.partitions, call.generation) }),
    });
  }

  /**
   * Stops writes to the partitions, waits for appends already under way, and uploads the
   * WAL, so the next leader finds every acknowledged record in committed objects.
   */
  async release(partitions: readonly TopicPartition[], generation: number): Promise<{ released: number }> {
    const mine = this.leadership.release(partitions, generation);
    if (mine.length === 0) return { released: 0 };
    const begun = Date.now();
    // What this release's upload wrote to the object store (pending WAL data; an upload the
    // timer started meanwhile counts too): a move copies no partition data beyond this.
    const bytesBefore = this.deps.storage.log.statsSnapshot().bytesUploaded;
    try {
      await withDeadline(
        (async () => {
          await this.deps.partitions.settled(mine);
          await this.deps.storage.log.flush();
        })(),
        RELEASE_DEADLINE_MS,
        "uploading the WAL took too long",
      );
    } catch (err) {
      // The controller sees the failure and does not move them: write them again.
      this.leadership.resume(mine, generation);
      throw err;
    }
    this.deps.logger.info({ partitions: mine.length, generation, uploadMs: Date.now() - begun, bytes: this.deps.storage.log.statsSnapshot().bytesUploaded - bytesBefore }, "released partitions for a move");
    return { released: mine.length };
  }

  /**
   * Scale-in: asks the controller to move every partition away and waits until this broker
   * leads none (reporting progress), then uploads what is left in the WAL.
   */
  async drain(timeoutMs: number): Promise<{ drained: boolean; partitionsLeft: number; waitedMs: number }> {
    const begun = Date.now();
    const { logger } = this.deps;
    let asked = false;
    let lastAsk = 0;
    let lastReport = 0;
    while (Date.now() - begun < timeoutMs) {
      const left = this.leadership.ledPartitions().length;
      // Asked again now and then: the controller may have changed since (a new one learns the drain from the log too).
      if (!asked || (left > 0 && Date.now() - lastAsk >= 5000)) {
        lastAsk = Date.now();
        try {
          await this.node?.drain();
          asked = true;
        } catch (err) {
          logger.debug({ err }, "drain: controller not reachable yet; retrying");
        }
      }
      if (asked && left === 0) {
        await this.deps.storage.log.flush();
        return { drained: true, partitionsLeft: 0, waitedMs: Date.now() - begun };
      }
      if (Date.now() - lastReport >= 2000) {
        lastReport = Date.now();
        logger.info({ partitionsLeft: left, waitedMs: Date.now() - begun }, "draining: waiting for partitions to move away");
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return { drained: false, partitionsLeft: this.leadership.ledPartitions().length, waitedMs: Date.now() - begun };
  }

  async stop(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    this.unobserve();
    await this.node?.stop();
  }
}

async function withDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (over ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
