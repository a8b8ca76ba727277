/**
 * A `Broker` for handler unit tests: the real topic registry, controller and group
 * coordinator over in-memory stores, no listener and no storage. Anything a handler
 * under test should not touch (partition data, fetch sessions) throws when used.
 */
import { QuotaMeters } from "../../security/quotas.js";
import { quotaCharger } from "../dispatch.js";
import { loadBrokerConfig, type BrokerConfig } from "../../config.js";
import { silentLogger } from "../../../src/common/logger.js";
import { createRegistry } from "../../../src/common/metrics.js";
import { TopicRegistry } from "../../cluster/topics.js";
import { Controller, memoryJournal, type ControllerRecord } from "../../cluster/controller.js";
import type { OffsetCommitRecord } from "../../cluster/offsets-topic.js";
import { GroupCoordinator } from "../../groups/coordinator.js";
import { createBrokerMetrics } from "../metrics.js";
import type { Broker, BrokerEndpoint } from "../broker.js";
import type { Handler, RequestContext } from "../handler.js";
import type { ConnectionInfo } from "../connection.js";
import { authorizerFor, refusal } from "../access.js";

export interface TestBroker extends Broker {
  /** Records the controller made durable, in order. */
  readonly journal: ControllerRecord[];
  /** Offset commits and group deletions the coordinator persisted, in order. */
  readonly persisted: ({ groupId: string; commits: OffsetCommitRecord[] } | { groupId: string; deleted: true })[];
  /** Where `coordinatorFor` points; null means no coordinator is available. */
  coordinator: BrokerEndpoint | null;
  close(): void;
}

function unavailable(what: string): never {
  throw new Error(`${what} is not available in handler unit tests`);
}

function throwing<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get(_t, prop) {
      if (prop === "then") return undefined;
      return unavailable(`${what}.${String(prop)}`);
    },
  });
}

export async function createTestBroker(overrides: Partial<BrokerConfig> = {}): Promise<TestBroker> {
  const config = loadBrokerConfig({}, { groupInitialRebalanceDelayMs: 0, ...overrides });
  const logger = silentLogger();
  const registry = createRegistry("broker-test", false);
  const topics = new TopicRegistry();
  const journal: ControllerRecord[] = [];
  const controller = new Controller(topics, memoryJournal((r) => journal.push(r)));
  await controller.ensureClusterId();
  const persisted: TestBroker["persisted"] = [];
  const groups = new GroupCoordinator({
    offsetStore: {
      async persist(groupId: string, commits: OffsetCommitRecord[]) {
        persisted.push({ groupId, commits });
      },
      async persistGroupDeleted(groupId: string) {
        persisted.push({ groupId, deleted: true });
      },
    },
    groupMinSessionTimeoutMs: config.groupMinSessionTimeoutMs,
    groupMaxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
    initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
    logger,
  });
  const self: BrokerEndpoint = { nodeId: config.nodeId, rack: config.rack || null, listeners: [{ name: TEST_LISTENER, host: "localhost", port: 9092 }] };
  const broker: TestBroker = {
    config,
    logger,
    registry,
    metrics: createBrokerMetrics(registry),
    quotaMeters: new QuotaMeters(config.quotaWindowSamples, config.quotaWindowSampleMs),
    self,
    get clusterId() {
      return controller.clusterId;
    },
    topics,
    controller,
    groups,
    partitions: throwing("partitions"),
    // No transaction coordinator here: nothing is ever pending; anything else throws.
    txn: new Proxy({} as Broker["txn"], {
      get(_t, prop) {
        if (prop === "pendingOffsets") return async () => new Set<string>();
        if (prop === "then") return undefined;
        return unavailable(`txn.${String(prop)}`);
      },
    }),
    fetchSessions: throwing("fetchSessions"),
    journal,
    persisted,
    coordinator: self,
    supportedApis: () => [],
    autoCreateTopic: () => unavailable("autoCreateTopic"),
    brokers: () => [self],
    leaderOf: () => self,
    leaderEpochOf: () => 0,
    servesPartition: () => true,
    readReplicaFor: () => null,
    servesCommittedReads: () => false,
    coordinatorFor() {
      return broker.coordinator;
    },
    close() {
      groups.close();
    },
  };
  return broker;
}

let nextConnectionId = 1;

/** The listener test connections come through, as a broker without FLOE_LISTENERS names its one listener. */
export const TEST_LISTENER = "PLAINTEXT";

/** A connection as a plaintext listener makes it (`sasl` set: as a SASL listener does). */
export function testConnection(overrides: Partial<ConnectionInfo> = {}): ConnectionInfo {
  return { id: nextConnectionId++, remoteAddress: "127.0.0.1", remotePort: 40000, listener: TEST_LISTENER, clientSoftwareName: "test", clientSoftwareVersion: "0", principal: "User:ANONYMOUS", sasl: null, ...overrides };
}

/** Calls a handler the way the dispatcher does, at one version. */
export async function call<Req, Res>(handler: Handler<Req, Res>, broker: Broker, apiVersion: number, req: Req, clientId = "test-client"): Promise<Res> {
  return (await callOn(handler, broker, apiVersion, req, testConnection(), clientId)).response;
}

/** Like `call`, on a given connection; also says whether the handler asked to close it. */
export async function callOn<Req, Res>(handler: Handler<Req, Res>, broker: Broker, apiVersion: number, req: Req, conn: ConnectionInfo, clientId = "test-client"): Promise<{ response: Res; closeReason: string | null }> {
  if (apiVersion < handler.minVersion || apiVersion > handler.maxVersion) throw new Error(`v${apiVersion} is outside v${handler.minVersion}-${handler.maxVersion}`);
  let closeReason: string | null = null;
  const authorize = authorizerFor(broker.config, broker.controller.acls, conn.principal, conn.remoteAddress);
  const ctx: RequestContext = { apiKey: handler.apiKey, apiVersion, correlationId: 1, clientId, conn, broker, authorize, closeAfterResponse: (reason) => (closeReason = reason), chargeQuota: quotaCharger(broker, conn.principal, clientId, () => undefined) };
  const denied = refusal(handler, req, ctx);
  const res = denied ? denied.response : await handler.handle(req, ctx);
  if (res === null) throw new Error("handler sent no response");
  return { response: res, closeReason };
}
