import fs from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { createRegistry, type Registry } from "../../src/common/metrics.js";
import { createLogger } from "../../src/common/logger.js";
import { startOpsServer } from "../../src/common/http.js";
import { interBrokerListenerOf, listenersOf, usesSasl, usesTls, type BrokerConfig } from "../config.js";
import { ErrorCode } from "../protocol/errors.js";
import { TopicRegistry, INTERNAL_OFFSETS_TOPIC, type TopicInfo } from "../cluster/topics.js";
import { Controller } from "../cluster/controller.js";
import { PartitionManager } from "../cluster/partitions.js";
import { OffsetsTopic } from "../cluster/offsets-topic.js";
import { GroupCoordinator } from "../groups/coordinator.js";
import { TxnService } from "../txn/txn-service.js";
import { txnRoutes } from "../txn/txn-rpc.js";
import { QuotaMeters } from "../security/quotas.js";
import { COORDINATOR_KEY_GROUP, COORDINATOR_KEY_TRANSACTION } from "./handlers/group-access.js";
import { openStorage, type Storage } from "../storage/open.js";
import { retentionFromConfigs } from "../storage/retention.js";
import { FetchSessionCache } from "./fetch-sessions.js";
import { createBrokerMetrics, type BrokerMetrics } from "./metrics.js";
import { createDispatch, supportedApis } from "./dispatch.js";
import { KafkaListener } from "./listener.js";
import { HANDLERS } from "./handlers/index.js";
import { bootstrapUsers } from "../security/users-file.js";
import { loadTls } from "../security/tls.js";
import type { AdvertisedListener, Broker, BrokerEndpoint } from "./broker.js";
import { StandaloneLeadership, type Leadership, type TopicPartition } from "../cluster/leadership.js";
import { ClusterMode } from "./cluster-mode.js";

export interface RunningBroker {
  readonly broker: Broker;
  /** The bound port of the first listener (the only one without FLOE_LISTENERS). */
  readonly port: number;
  /** Bound port of each listener, by name. */
  readonly ports: ReadonlyMap<string, number>;
  readonly httpPort: number | null;
  /** Resolves if the broker can no longer serve and its process should restart (multi-broker: its WAL was taken over). */
  readonly fatal: Promise<Error>;
  close(): Promise<void>;
}

/**
 * A broker process: recovers storage, replays metadata, then listens. Standalone (the
 * embedded default) it is its own controller and leads every partition; in a multi-broker
 * cluster (`cluster-mode.ts`) the shared metadata log says who leads what.
 */
class BrokerRuntime implements Broker {
  readonly topics = new TopicRegistry();
  readonly controller: Controller;
  readonly partitions: PartitionManager;
  readonly fetchSessions = new FetchSessionCache();
  readonly quotaMeters: QuotaMeters;
  groups!: GroupCoordinator;
  self!: BrokerEndpoint;
  offsets!: OffsetsTopic;
  leadership: Leadership = new StandaloneLeadership(() => this.self);
  cluster: ClusterMode | null = null;
  /** Offsets partitions taken over whose groups are still being read in: their groups have no coordinator yet. */
  readonly loadingOffsets = new Set<number>();
  txn!: TxnService;

  constructor(
    readonly config: BrokerConfig,
    readonly logger: Logger,
    readonly registry: Registry,
    readonly metrics: BrokerMetrics,
    readonly storage: Storage,
  ) {
    this.controller = new Controller(this.topics, storage.metadata, {
      onTopicCreated: (t) => this.partitions.ensurePartitions(t),
      onPartitionsCreated: (t, from) => this.partitions.ensurePartitions(t, from),
      onTopicDeleted: (t) => {
        this.cluster?.leadership.forgetTopic(t.topicId);
        return this.partitions.dropTopic(t);
      },
    });
    this.quotaMeters = new QuotaMeters(config.quotaWindowSamples, config.quotaWindowSampleMs);
    this.partitions = new PartitionManager(storage.log, metrics, logger, { messageMaxBytes: config.messageMaxBytes, loadReportIntervalMs: config.loadReportIntervalMs });
  }

  get clusterId(): string {
    return this.controller.clusterId;
  }

  brokers(): BrokerEndpoint[] {
    return this.leadership.brokers();
  }

  leaderOf(topicId: string, partition: number): BrokerEndpoint | null {
    return this.leadership.leaderOf(topicId, partition);
  }

  leaderEpochOf(topicId: string, partition: number): number {
    return this.leadership.leaderEpochOf(topicId, partition);
  }

  readReplicaFor(topicId: string, partition: number, rack: string): BrokerEndpoint | null {
    return this.leadership.readReplicaFor(topicId, partition, rack);
  }

  servesCommittedReads(): boolean {
    return this.leadership.servesCommittedReads();
  }

  servesPartition(topicId: string, partition: number): boolean {
    return this.leadership.ackRefusal(topicId, partition) === null;
  }

  /**
   * A group's coordinator is the leader of its `__consumer_offsets` partition, a
   * transactional id's the leader of its `__transaction_state` partition, once that broker
   * has read the partition in.
   */
  coordinatorFor(keyType: number, key: string): BrokerEndpoint | null {
    if (!this.cluster) return this.self;
    if (keyType !== COORDINATOR_KEY_GROUP && keyType !== COORDINATOR_KEY_TRANSACTION) return null;
    const group = keyType === COORDINATOR_KEY_GROUP;
    const topic = group ? this.offsets.topic : this.txn.topic.topic;
    const partition = group ? this.offsets.partitionFor(key) : this.txn.topic.partitionFor(key);
    const leader = this.leaderOf(topic.topicId, partition);
    const loading = group ? this.loadingOffsets.has(partition) : this.txn.isLoading(partition);
    if (leader?.nodeId === this.self.nodeId && loading) return null;
    return leader;
  }

  /** Reads one offsets partition in (a broker that now leads it coordinates its groups). */
  async loadOffsetsPartition(partition: number): Promise<void> {
    this.loadingOffsets.add(partition);
    const begun = Date.now();
    try {
      await this.offsets.replay(this.offsetsVisitor(), partition);
      this.logger.info({ partition, loadMs: Date.now() - begun }, "loaded the groups of an offsets partition");
    } catch (err) {
      this.logger.error({ err, partition }, "could not load the groups of an offsets partition; their coordinator stays unavailable");
      return;
    } finally {
      this.loadingOffsets.delete(partition);
    }
  }

  offsetsVisitor() {
    return {
      offsets: (groupId: string, commits: Parameters<GroupCoordinator["loadOffsets"]>[1]) => this.groups.loadOffsets(groupId, commits),
      offsetsDeleted: (groupId: string, partitions: { topic: string; partition: number }[]) => this.groups.loadOffsetsDeleted(groupId, partitions),
      deleted: (groupId: string) => this.groups.loadGroupDeleted(groupId),
    };
  }

  /**
   * Partition-level hooks of cluster mode: coordinators follow their internal partitions.
   * (Before the coordinators exist, start-up loads what this broker leads.)
   */
  gained(tp: TopicPartition): void {
    if (this.offsets && tp.topicId === this.offsets.topic.topicId) void this.loadOffsetsPartition(tp.partition);
    if (this.txn && tp.topicId === this.txn.topic.topic.topicId) void this.txn.loadPartition(tp.partition);
  }

  lost(tp: TopicPartition): void {
    this.txn?.forgetVerified(tp.topicId, tp.partition);
    if (this.txn && tp.topicId === this.txn.topic.topic.topicId) this.txn.unloadPartition(tp.partition);
    if (!this.offsets || tp.topicId !== this.offsets.topic.topicId) return;
    const n = this.groups.unloadGroups((g) => this.offsets.partitionFor(g) === tp.partition);
    if (n > 0) this.logger.info({ partition: tp.partition, groups: n }, "offsets partition moved away; its groups now have another coordinator");
  }

  supportedApis() {
    return supportedApis(HANDLERS);
  }

  async autoCreateTopic(name: string): Promise<TopicInfo | { errorCode: number }> {
    if (!this.config.autoCreateTopics) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
    const created = await this.controller.createTopic(name, this.config.defaultPartitions, {});
    if (created.topic) {
      this.logger.info({ topic: name, partitions: this.config.defaultPartitions }, "auto-created topic");
      return created.topic;
    }
    const raced = this.topics.byTopicName(name);
    return raced ?? { errorCode: created.errorCode };
  }
}

export async function startBroker(config: BrokerConfig, logger: Logger = createLogger("broker", config.logLevel)): Promise<RunningBroker> {
  const started = Date.now();
  await fs.mkdir(config.dataDir, { recursive: true });
  const registry = createRegistry("broker");
  const metrics = createBrokerMetrics(registry);
  let ready = false;

  let reportFatal: (err: Error) => void = () => undefined;
  const fatal = new Promise<Error>((resolve) => {
    let reported = false;
    reportFatal = (err) => {
      if (reported) return;
      reported = true;
      resolve(err);
    };
  });
  const storage = await openStorage({ config, logger, registry, dataDir: path.resolve(config.dataDir) });
  const runtime = new BrokerRuntime(config, logger, registry, metrics, storage);

  // 1. Metadata: topics, cluster id, producer-id blocks, replayed in order.
  for (const record of storage.metadataRecords) runtime.controller.replay(record);
  // Topics or users another broker changes in the shared log apply here as this broker reads them.
  runtime.controller.follow(storage.metadataLog);
  await runtime.controller.ensureClusterId();
  if (config.saslUsersFile) await bootstrapUsers(runtime.controller, config.saslUsersFile, config.scramIterations, logger);
  for (const t of runtime.topics.all()) runtime.partitions.ensurePartitions(t);

  // 2. Data: the WAL replays into the log store; producer state is rebuilt from it.
  await storage.recover((topicId, partition, header) => runtime.partitions.recovered(topicId, partition, header));
  if (config.clusterMode === "multi") {
    runtime.cluster = new ClusterMode({ config, logger, registry, storage, partitions: runtime.partitions, topics: runtime.topics, onGained: (tp) => runtime.gained(tp), onLost: (tp) => runtime.lost(tp), onFatal: (err) => reportFatal(err) });
    runtime.leadership = runtime.cluster.leadership;
    runtime.cluster.follow();
  }
  // Time/size retention reads the topic's current configs at every pass (unknown topic: skip).
  storage.log.setRetentionPolicy((topicId) => {
    const topic = runtime.topics.byTopicId(topicId);
    return topic ? retentionFromConfigs(topic.configs) : null;
  });

  // 3. Consumer groups: offsets come back from the internal topic.
  let offsetsTopic = runtime.topics.byTopicName(INTERNAL_OFFSETS_TOPIC);
  if (!offsetsTopic) {
    const created = await runtime.controller.createTopic(INTERNAL_OFFSETS_TOPIC, config.offsetsPartitions, { "cleanup.policy": "compact" }, { internal: true });
    // Another broker of the cluster may have created it first.
    offsetsTopic = created.topic ?? runtime.topics.byTopicName(INTERNAL_OFFSETS_TOPIC);
    if (!offsetsTopic) throw new Error(`could not create ${INTERNAL_OFFSETS_TOPIC}: ${created.errorMessage}`);
  }
  // Offset commits are appended under the same leadership rules as produce.
  const internalLog = {
    append: (topicId: string, partition: number, batches: Buffer[]) => runtime.partitions.appendInternal(topicId, partition, batches),
    read: storage.log.read.bind(storage.log),
    logStartOffset: storage.log.logStartOffset.bind(storage.log),
    highWatermark: storage.log.highWatermark.bind(storage.log),
  };
  runtime.offsets = new OffsetsTopic(internalLog, offsetsTopic);
  runtime.groups = new GroupCoordinator({
    offsetStore: {
      persist: (groupId, commits) => runtime.offsets.persist(groupId, commits),
      persistGroupDeleted: (groupId) => runtime.offsets.persistGroupDeleted(groupId),
      persistOffsetsDeleted: (groupId, partitions) => runtime.offsets.persistOffsetsDeleted(groupId, partitions),
    },
    groupMinSessionTimeoutMs: config.groupMinSessionTimeoutMs,
    groupMaxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
    initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
    logger: logger.child({ component: "groups" }),
  });
  if (!runtime.cluster) await runtime.offsets.replay(runtime.offsetsVisitor());
  else {
    // Only the offsets partitions this broker leads; others load as they move here.
    const mine = runtime.cluster.leadership.ledPartitions().filter((tp) => tp.topicId === offsetsTopic.topicId);
    for (const tp of mine) await runtime.loadOffsetsPartition(tp.partition);
  }

  // 3b. Transactions: `__transaction_state` replayed (after the offsets, so a commit a crash
  // interrupted re-applies its offsets last); its ticker completes unfinished ones once serving.
  const cluster = runtime.cluster;
  runtime.txn = await TxnService.start(
    {
      log: internalLog,
      topics: runtime.topics,
      controller: runtime.controller,
      partitionManager: runtime.partitions,
      groups: runtime.groups,
      offsets: runtime.offsets,
      selfId: config.nodeId,
      leaderOf: (topicId, partition) => runtime.leaderOf(topicId, partition)?.nodeId ?? null,
      groupCoordinatorOf: (groupId) => runtime.coordinatorFor(COORDINATOR_KEY_GROUP, groupId)?.nodeId ?? null,
      leaderEpochOf: (topicId, partition) => runtime.leaderEpochOf(topicId, partition),
      peers: cluster
        ? {
            urlOf: (nodeId) => storage.log.cluster.broker(nodeId)?.internalUrl ?? null,
            others: () => runtime.brokers().map((b) => b.nodeId).filter((id) => id !== config.nodeId),
          }
        : null,
      metrics,
      logger: logger.child({ component: "txn" }),
    },
    { partitions: config.transactionPartitions, maxTimeoutMs: config.transactionMaxTimeoutMs },
  );
  if (cluster) {
    const mine = cluster.leadership.ledPartitions().filter((tp) => tp.topicId === runtime.txn.topic.topic.topicId);
    for (const tp of mine) await runtime.txn.loadPartition(tp.partition);
  }

  // 4. Listeners, each with its own security. TLS files are read first: a missing or expired
  // certificate stops the start here. All TLS listeners share one certificate.
  const listenerConfigs = listenersOf(config);
  const tlsSettings = { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, caFile: config.tlsCaFile, clientAuth: config.tlsClientAuth, reloadIntervalMs: config.tlsReloadIntervalMs };
  const loadedTls = listenerConfigs.some((l) => usesTls(l.protocol)) ? await loadTls(tlsSettings) : null;
  const dispatch = createDispatch(runtime, HANDLERS, metrics);
  const listeners: KafkaListener[] = [];
  const advertised: AdvertisedListener[] = [];
  const ports = new Map<string, number>();
  for (const l of listenerConfigs) {
    const listener = new KafkaListener(
      {
        name: l.name,
        host: l.host,
        port: l.port,
        maxRequestBytes: config.maxRequestBytes,
        maxInFlight: config.maxInFlightRequestsPerConnection,
        sasl: usesSasl(l.protocol),
        maxUnauthenticatedRequestBytes: config.saslMaxReceiveBytes,
        tls: usesTls(l.protocol) ? { settings: tlsSettings, loaded: loadedTls!, principal: config.tlsPrincipal } : undefined,
      },
      dispatch,
      logger.child({ listener: l.name }),
      metrics,
    );
    let bound: number;
    try {
      bound = await listener.listen();
    } catch (err) {
      await Promise.all([...listeners, listener].map((opened) => opened.close()));
      throw new Error(`listener ${l.name} could not listen on ${l.host}:${l.port}: ${(err as Error).message}`, { cause: err });
    }
    listeners.push(listener);
    ports.set(l.name, bound);
    advertised.push({ name: l.name, host: l.advertisedHost, port: l.advertisedPort || bound });
  }
  const port = listeners[0]!.boundPort;
  runtime.self = { nodeId: config.nodeId, rack: config.rack || null, listeners: advertised };
  let ops: Awaited<ReturnType<typeof startOpsServer>> | null = null;
  if (config.httpPort >= 0) {
    ops = await startOpsServer({
      host: config.host,
      port: config.httpPort,
      registry,
      ready: () => ready,
      logger,
      routes: (app) => {
        runtime.cluster?.routes(app);
        if (runtime.cluster) txnRoutes(app, runtime.txn.callHandlers());
        // The pod's preStop hook (GET) or an operator (POST): in a cluster, move every
        // partition to other brokers first (clients follow the new leaders); then upload
        // everything acknowledged, so the WAL is empty before the process exits and the next
        // start replays nothing.
        app.route({
          method: ["GET", "POST"],
          url: "/admin/v1/drain",
          handler: async (req, reply) => {
            const begun = Date.now();
            if (runtime.cluster) {
              const timeoutMs = Number((req.query as { timeoutMs?: string }).timeoutMs ?? config.drainTimeoutMs);
              const moved = await runtime.cluster.drain(Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : config.drainTimeoutMs);
              if (!moved.drained) {
                logger.warn(moved, "drain: partitions did not all move away in time");
                reply.code(503);
                return { ...moved, walBytes: storage.walUsedBytes() };
              }
            }
            ready = false;
            try {
              await storage.log.flush();
            } catch (err) {
              logger.warn({ err }, "drain: upload failed; the WAL keeps the data and replays it on the next start");
              reply.code(503);
              return { drained: false, error: (err as Error).message, walBytes: storage.walUsedBytes() };
            }
            const result = { drained: true, walBytes: storage.walUsedBytes(), uploadMs: Date.now() - begun };
            logger.info(result, "drained: everything acknowledged is in the object store");
            return result;
          },
        });
      },
    });
  }
  if (runtime.cluster) {
    const interBroker = advertised.find((a) => a.name === interBrokerListenerOf(config, listenerConfigs).name)!;
    const internalUrl = config.internalUrl || `http://${interBroker.host}:${ops!.port}`;
    runtime.cluster.start(runtime.self, internalUrl);
  }
  ready = true;
  logger.info(
    { port, listeners: listenerConfigs.map((l, i) => `${l.name} ${l.protocol} ${l.host}:${listeners[i]!.boundPort} advertised ${advertised[i]!.host}:${advertised[i]!.port}`), httpPort: ops?.port ?? null, clusterId: runtime.clusterId, dataDir: config.dataDir, topics: runtime.topics.size, startupMs: Date.now() - started },
    "broker ready",
  );

  let closing: Promise<void> | null = null;
  return {
    broker: runtime,
    port,
    ports,
    httpPort: ops?.port ?? null,
    fatal,
    close() {
      closing ??= (async () => {
        ready = false;
        // Hands the controller lease over at once rather than letting it expire.
        await runtime.cluster?.stop();
        await Promise.all(listeners.map((l) => l.close()));
        await runtime.txn.close();
        runtime.groups.close();
        await ops?.close();
        await storage.close();
        logger.info("broker stopped");
      })();
      return closing;
    },
  };
}
