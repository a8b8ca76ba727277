import fs from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { createRegistry, type Registry } from "../../src/common/metrics.js";
import { createLogger } from "../../src/common/logger.js";
import { startOpsServer } from "../../src/common/http.js";
import { advertisedHostOf, type BrokerConfig } from "../config.js";
import { ErrorCode } from "../protocol/errors.js";
import { TopicRegistry, INTERNAL_OFFSETS_TOPIC, type TopicInfo } from "../cluster/topics.js";
import { Controller } from "../cluster/controller.js";
import { PartitionManager } from "../cluster/partitions.js";
import { OffsetsTopic } from "../cluster/offsets-topic.js";
import { GroupCoordinator } from "../groups/coordinator.js";
import { TxnService } from "../txn/txn-service.js";
import { openStorage, type Storage } from "../storage/open.js";
import { retentionFromConfigs } from "../storage/retention.js";
import { FetchSessionCache } from "./fetch-sessions.js";
import { createBrokerMetrics, type BrokerMetrics } from "./metrics.js";
import { createDispatch, supportedApis } from "./dispatch.js";
import { KafkaListener } from "./listener.js";
import { HANDLERS } from "./handlers/index.js";
import { bootstrapUsers } from "../security/users-file.js";
import { loadTls } from "../security/tls.js";
import type { Broker, BrokerEndpoint } from "./broker.js";

export interface RunningBroker {
  readonly broker: Broker;
  readonly port: number;
  readonly httpPort: number | null;
  close(): Promise<void>;
}

/**
 * A single broker process: recovers storage, replays metadata, then listens. Until the
 * multi-broker controller lands this broker is its own controller and leads every partition.
 */
class BrokerRuntime implements Broker {
  readonly topics = new TopicRegistry();
  readonly controller: Controller;
  readonly partitions: PartitionManager;
  readonly fetchSessions = new FetchSessionCache();
  groups!: GroupCoordinator;
  self!: BrokerEndpoint;
  offsets!: OffsetsTopic;
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
      onTopicDeleted: (t) => this.partitions.dropTopic(t),
    });
    this.partitions = new PartitionManager(storage.log, metrics, logger, { messageMaxBytes: config.messageMaxBytes });
  }

  get clusterId(): string {
    return this.controller.clusterId;
  }

  brokers(): BrokerEndpoint[] {
    return [this.self];
  }

  leaderOf(): BrokerEndpoint | null {
    return this.self;
  }

  coordinatorFor(): BrokerEndpoint | null {
    return this.self;
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
  // Time/size retention reads the topic's current configs at every pass (unknown topic: skip).
  storage.log.setRetentionPolicy((topicId) => {
    const topic = runtime.topics.byTopicId(topicId);
    return topic ? retentionFromConfigs(topic.configs) : null;
  });

  // 3. Consumer groups: offsets come back from the internal topic.
  let offsetsTopic = runtime.topics.byTopicName(INTERNAL_OFFSETS_TOPIC);
  if (!offsetsTopic) {
    const created = await runtime.controller.createTopic(INTERNAL_OFFSETS_TOPIC, config.offsetsPartitions, { "cleanup.policy": "compact" }, { internal: true });
    if (!created.topic) throw new Error(`could not create ${INTERNAL_OFFSETS_TOPIC}: ${created.errorMessage}`);
    offsetsTopic = created.topic;
  }
  runtime.offsets = new OffsetsTopic(storage.log, offsetsTopic);
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
  await runtime.offsets.replay({
    offsets: (groupId, commits) => runtime.groups.loadOffsets(groupId, commits),
    offsetsDeleted: (groupId, partitions) => runtime.groups.loadOffsetsDeleted(groupId, partitions),
    deleted: (groupId) => runtime.groups.loadGroupDeleted(groupId),
  });

  // 3b. Transactions: `__transaction_state` replayed (after the offsets, so a commit a crash
  // interrupted re-applies its offsets last); its ticker completes unfinished ones once serving.
  runtime.txn = await TxnService.start(
    {
      log: storage.log,
      topics: runtime.topics,
      controller: runtime.controller,
      partitionManager: runtime.partitions,
      groups: runtime.groups,
      offsets: runtime.offsets,
      leads: (topicId, partition) => (runtime as Broker).leaderOf(topicId, partition)?.nodeId === config.nodeId,
      logger: logger.child({ component: "txn" }),
    },
    { partitions: config.transactionPartitions, maxTimeoutMs: config.transactionMaxTimeoutMs },
  );

  // 4. Listeners. TLS files are read first: a missing or expired certificate stops the start here.
  const tlsOn = config.securityProtocol === "SSL" || config.securityProtocol === "SASL_SSL";
  const tlsSettings = { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, caFile: config.tlsCaFile, clientAuth: config.tlsClientAuth, reloadIntervalMs: config.tlsReloadIntervalMs };
  const tlsListener = tlsOn ? { settings: tlsSettings, loaded: await loadTls(tlsSettings), principal: config.tlsPrincipal } : undefined;
  const listener = new KafkaListener(
    {
      host: config.host,
      port: config.port,
      maxRequestBytes: config.maxRequestBytes,
      maxInFlight: config.maxInFlightRequestsPerConnection,
      sasl: config.securityProtocol === "SASL_PLAINTEXT" || config.securityProtocol === "SASL_SSL",
      maxUnauthenticatedRequestBytes: config.saslMaxReceiveBytes,
      tls: tlsListener,
    },
    createDispatch(runtime, HANDLERS, metrics),
    logger,
    metrics,
  );
  const port = await listener.listen();
  runtime.self = { nodeId: config.nodeId, host: advertisedHostOf(config), port: config.advertisedPort || port, rack: config.rack || null };
  let ops: Awaited<ReturnType<typeof startOpsServer>> | null = null;
  if (config.httpPort >= 0) {
    ops = await startOpsServer({
      host: config.host,
      port: config.httpPort,
      registry,
      ready: () => ready,
      logger,
      routes: (app) => {
        // The pod's preStop hook (GET) or an operator (POST): stop taking new clients and
        // upload everything acknowledged, so the WAL is empty before the process exits and the
        // next start replays nothing. With the multi-broker controller a drain will also move
        // this broker's partitions away first.
        app.route({
          method: ["GET", "POST"],
          url: "/admin/v1/drain",
          handler: async (_req, reply) => {
            ready = false;
            const begun = Date.now();
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
  ready = true;
  logger.info(
    { port, security: config.securityProtocol, advertised: `${runtime.self.host}:${runtime.self.port}`, httpPort: ops?.port ?? null, clusterId: runtime.clusterId, dataDir: config.dataDir, topics: runtime.topics.size, startupMs: Date.now() - started },
    "broker ready",
  );

  let closing: Promise<void> | null = null;
  return {
    broker: runtime,
    port,
    httpPort: ops?.port ?? null,
    close() {
      closing ??= (async () => {
        ready = false;
        await listener.close();
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
