// Every API in HANDLERS, with FLOE_AUTHORIZER=acl: denied without its ACLs (with the error
// code clients expect, in a response every advertised version can encode) and let through
// with them. Driven by the handler table: a new handler fails here until it has a sample.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { API_SPECS } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { encodeResponse } from "../../protocol/framing.js";
import { ZERO_UUID } from "../../protocol/primitives.js";
import { AclOperation as Op, CLUSTER_NAME, PatternType, PermissionType, ResourceType as R } from "../../security/acl.js";
import { authorizerFor, refusal } from "../access.js";
import type { RequestContext } from "../handler.js";
import { HANDLERS } from "./index.js";
import { call, callOn, createTestBroker, testConnection, type TestBroker } from "./test-broker.js";

type Grant = [resourceType: number, name: string, operation: number];
interface Sample {
  what: string;
  request: (b: TestBroker) => Record<string, unknown>;
  grants: Grant[];
  deniedCode: number;
}

const T = "orders";
const G = "billing";
const topicId = (b: TestBroker) => b.topics.byTopicName(T)!.topicId;

const SAMPLES: Record<number, Sample[]> = {
  0: [{ what: "produce", request: () => ({ acks: -1, topicData: [{ name: T, partitionData: [{ index: 0, records: null }] }] }), grants: [[R.TOPIC, T, Op.WRITE]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED }],
  1: [
    {
      what: "fetch by topic id",
      request: (b) => ({ topics: [{ topic: "", topicId: topicId(b), partitions: [{ partition: 0, fetchOffset: 0n, currentLeaderEpoch: -1, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1024, replicaDirectoryId: ZERO_UUID }] }] }),
      grants: [[R.TOPIC, T, Op.READ]],
      deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    },
  ],
  2: [{ what: "list offsets", request: () => ({ topics: [{ name: T, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n, maxNumOffsets: 1 }] }] }), grants: [[R.TOPIC, T, Op.DESCRIBE]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED }],
  8: [
    {
      what: "offset commit",
      request: () => ({ groupId: G, topics: [{ name: T, partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, commitTimestamp: -1n, committedMetadata: null }] }] }),
      grants: [[R.GROUP, G, Op.READ], [R.TOPIC, T, Op.READ]],
      deniedCode: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    },
  ],
  9: [
    {
      what: "offset fetch (v8+ groups, v0-7 group id)",
      request: () => ({ groupId: G, topics: [{ name: T, partitionIndexes: [0] }], groups: [{ groupId: G, memberId: null, memberEpoch: -1, topics: [{ name: T, partitionIndexes: [0] }] }] }),
      grants: [[R.GROUP, G, Op.DESCRIBE], [R.TOPIC, T, Op.DESCRIBE]],
      deniedCode: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    },
  ],
  10: [
    { what: "group coordinator", request: () => ({ key: G, keyType: 0, coordinatorKeys: [G] }), grants: [[R.GROUP, G, Op.DESCRIBE]], deniedCode: ErrorCode.GROUP_AUTHORIZATION_FAILED },
    { what: "transaction coordinator", request: () => ({ key: "tx", keyType: 1, coordinatorKeys: ["tx"] }), grants: [[R.TRANSACTIONAL_ID, "tx", Op.DESCRIBE]], deniedCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED },
  ],
  11: [{ what: "join group", request: () => ({ groupId: G, memberId: "", protocolType: "consumer", protocols: [] }), grants: [[R.GROUP, G, Op.READ]], deniedCode: ErrorCode.GROUP_AUTHORIZATION_FAILED }],
  12: [{ what: "heartbeat", request: () => ({ groupId: G, generationId: 1, memberId: "m" }), grants: [[R.GROUP, G, Op.READ]], deniedCode: ErrorCode.GROUP_AUTHORIZATION_FAILED }],
  13: [{ what: "leave group", request: () => ({ groupId: G, memberId: "m", members: [] }), grants: [[R.GROUP, G, Op.READ]], deniedCode: ErrorCode.GROUP_AUTHORIZATION_FAILED }],
  14: [{ what: "sync group", request: () => ({ groupId: G, generationId: 1, memberId: "m", assignments: [] }), grants: [[R.GROUP, G, Op.READ]], deniedCode: ErrorCode.GROUP_AUTHORIZATION_FAILED }],
  15: [{ what: "describe groups", request: () => ({ groups: [G] }), grants: [[R.GROUP, G, Op.DESCRIBE]], deniedCode: ErrorCode.GROUP_AUTHORIZATION_FAILED }],
  19: [
    { what: "create topic with CREATE on the topic", request: () => ({ topics: [{ name: "new-topic", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }] }), grants: [[R.TOPIC, "new-topic", Op.CREATE]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED },
    { what: "create topic with CREATE on the cluster", request: () => ({ topics: [{ name: "new-topic", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }] }), grants: [[R.CLUSTER, CLUSTER_NAME, Op.CREATE]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED },
  ],
  20: [
    { what: "delete topic by name", request: () => ({ topicNames: [T], topics: [{ name: T, topicId: ZERO_UUID }] }), grants: [[R.TOPIC, T, Op.DELETE]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED },
    { what: "delete topic by id (v6)", request: (b) => ({ topicNames: [T], topics: [{ name: null, topicId: topicId(b) }] }), grants: [[R.TOPIC, T, Op.DELETE]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED },
  ],
  22: [
    { what: "transactional producer", request: () => ({ transactionalId: "tx", transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 }), grants: [[R.TRANSACTIONAL_ID, "tx", Op.WRITE]], deniedCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED },
    { what: "idempotent producer, IDEMPOTENT_WRITE", request: () => ({ transactionalId: null, transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 }), grants: [[R.CLUSTER, CLUSTER_NAME, Op.IDEMPOTENT_WRITE]], deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED },
    { what: "idempotent producer, WRITE on a topic", request: () => ({ transactionalId: null, transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 }), grants: [[R.TOPIC, T, Op.WRITE]], deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED },
  ],
  24: [
    {
      what: "add partitions to txn",
      request: () => ({ v3AndBelowTransactionalId: "tx", v3AndBelowProducerId: 1n, v3AndBelowProducerEpoch: 0, v3AndBelowTopics: [{ name: T, partitions: [0] }] }),
      grants: [[R.TRANSACTIONAL_ID, "tx", Op.WRITE], [R.TOPIC, T, Op.WRITE]],
      deniedCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    },
  ],
  25: [{ what: "add offsets to txn", request: () => ({ transactionalId: "tx", producerId: 1n, producerEpoch: 0, groupId: G }), grants: [[R.TRANSACTIONAL_ID, "tx", Op.WRITE], [R.GROUP, G, Op.READ]], deniedCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED }],
  26: [{ what: "end txn", request: () => ({ transactionalId: "tx", producerId: 1n, producerEpoch: 0, committed: true }), grants: [[R.TRANSACTIONAL_ID, "tx", Op.WRITE]], deniedCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED }],
  28: [
    {
      what: "txn offset commit",
      request: () => ({ transactionalId: "tx", groupId: G, producerId: 1n, producerEpoch: 0, generationId: -1, memberId: "", groupInstanceId: null, topics: [{ name: T, partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: null }] }] }),
      grants: [[R.TRANSACTIONAL_ID, "tx", Op.WRITE], [R.GROUP, G, Op.READ], [R.TOPIC, T, Op.READ]],
      deniedCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    },
  ],
  61: [{ what: "describe producers", request: () => ({ topics: [{ name: T, partitionIndexes: [0] }] }), grants: [[R.TOPIC, T, Op.READ]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED }],
  23: [{ what: "offset for leader epoch", request: () => ({ replicaId: -1, topics: [{ topic: T, partitions: [{ partition: 0, currentLeaderEpoch: 0, leaderEpoch: 0 }] }] }), grants: [[R.TOPIC, T, Op.DESCRIBE]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED }],
  29: [{ what: "describe acls", request: () => ({ resourceTypeFilter: R.ANY, resourceNameFilter: null, patternTypeFilter: PatternType.ANY, principalFilter: null, hostFilter: null, operation: Op.ANY, permissionType: PermissionType.ANY }), grants: [[R.CLUSTER, CLUSTER_NAME, Op.DESCRIBE]], deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED }],
  30: [
    {
      what: "create acls",
      request: () => ({ creations: [{ resourceType: R.TOPIC, resourceName: T, resourcePatternType: PatternType.LITERAL, principal: "User:bob", host: "*", operation: Op.READ, permissionType: PermissionType.ALLOW }] }),
      grants: [[R.CLUSTER, CLUSTER_NAME, Op.ALTER]],
      deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    },
  ],
  31: [
    {
      what: "delete acls",
      request: () => ({ filters: [{ resourceTypeFilter: R.TOPIC, resourceNameFilter: T, patternTypeFilter: PatternType.LITERAL, principalFilter: "User:bob", hostFilter: null, operation: Op.ANY, permissionType: PermissionType.ANY }] }),
      grants: [[R.CLUSTER, CLUSTER_NAME, Op.ALTER]],
      deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    },
  ],
  32: [
    { what: "describe topic configs", request: () => ({ resources: [{ resourceType: 2, resourceName: T, configurationKeys: null }] }), grants: [[R.TOPIC, T, Op.DESCRIBE_CONFIGS]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED },
    { what: "describe broker configs", request: () => ({ resources: [{ resourceType: 4, resourceName: "1", configurationKeys: null }] }), grants: [[R.CLUSTER, CLUSTER_NAME, Op.DESCRIBE_CONFIGS]], deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED },
  ],
  33: [{ what: "alter topic configs", request: () => ({ resources: [{ resourceType: 2, resourceName: T, configs: [{ name: "retention.ms", value: "1000" }] }] }), grants: [[R.TOPIC, T, Op.ALTER_CONFIGS]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED }],
  37: [{ what: "create partitions", request: () => ({ topics: [{ name: T, count: 2, assignments: null }] }), grants: [[R.TOPIC, T, Op.ALTER]], deniedCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED }],
  42: [{ what: "delete groups", request: () => ({ groupsNames: [G] }), grants: [[R.GROUP, G, Op.DELETE]], deniedCode: ErrorCode.GROUP_AUTHORIZATION_FAILED }],
  44: [{ what: "incremental alter broker configs", request: () => ({ resources: [{ resourceType: 4, resourceName: "1", configs: [{ name: "log.retention.ms", configOperation: 0, value: "1" }] }] }), grants: [[R.CLUSTER, CLUSTER_NAME, Op.ALTER_CONFIGS]], deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED }],
  47: [{ what: "offset delete", request: () => ({ groupId: G, topics: [{ name: T, partitions: [{ partitionIndex: 0 }] }] }), grants: [[R.GROUP, G, Op.DELETE], [R.TOPIC, T, Op.READ]], deniedCode: ErrorCode.GROUP_AUTHORIZATION_FAILED }],
  48: [{ what: "describe client quotas", request: () => ({ components: [], strict: false }), grants: [[R.CLUSTER, CLUSTER_NAME, Op.DESCRIBE_CONFIGS]], deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED }],
  49: [{ what: "alter client quotas", request: () => ({ entries: [{ entity: [{ entityType: "user", entityName: "bob" }], ops: [{ key: "producer_byte_rate", value: 1024, remove: false }] }], validateOnly: false }), grants: [[R.CLUSTER, CLUSTER_NAME, Op.ALTER_CONFIGS]], deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED }],
  50: [{ what: "describe scram users", request: () => ({ users: [{ name: "bob" }] }), grants: [[R.CLUSTER, CLUSTER_NAME, Op.DESCRIBE]], deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED }],
  51: [{ what: "alter scram users", request: () => ({ deletions: [{ name: "bob", mechanism: 1 }], upsertions: [] }), grants: [[R.CLUSTER, CLUSTER_NAME, Op.ALTER]], deniedCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED }],
};

/** Handlers that are not gated by declared needs, and why; each has its own test below. */
const NOT_GATED: Record<number, string> = { 3: "per-resource", 16: "per-resource", 17: "public", 18: "public", 36: "public", 60: "authenticated", 65: "per-resource", 66: "per-resource" };

const PRINCIPAL = "User:alice";

let broker: TestBroker;
beforeEach(async () => {
  broker = await createTestBroker({ authorizer: "acl", superUsers: "User:admin" });
  await broker.controller.createTopic(T, 1, {});
});
afterEach(() => broker.close());

function contextFor(apiKey: number, apiVersion: number, principal = PRINCIPAL): RequestContext {
  const conn = testConnection({ principal });
  return { apiKey, apiVersion, correlationId: 1, clientId: "matrix", conn, broker, authorize: authorizerFor(broker.config, broker.controller.acls, principal, conn.remoteAddress), closeAfterResponse: () => undefined, chargeQuota: () => 0 };
}

async function allow(grants: Grant[], permissionType: number = PermissionType.ALLOW): Promise<void> {
  for (const [resourceType, resourceName, operation] of grants) {
    await broker.controller.createAcl({ resourceType, resourceName, patternType: PatternType.LITERAL, principal: PRINCIPAL, host: "*", operation, permissionType });
  }
}

/** Every errorCode field anywhere in a response. */
function errorCodesIn(value: unknown, out: number[] = []): number[] {
  if (Array.isArray(value)) for (const v of value) errorCodesIn(v, out);
  else if (value && typeof value === "object" && !Buffer.isBuffer(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k === "errorCode" && typeof v === "number") out.push(v);
      else errorCodesIn(v, out);
    }
  }
  return out;
}

describe("ACL matrix over HANDLERS", () => {
  it("every handler is either sampled here or listed as not gated, with the matching access kind", () => {
    for (const h of HANDLERS.values()) {
      if (h.access.kind === "needs") expect(SAMPLES[h.apiKey], `no ACL sample for api key ${h.apiKey}`).toBeDefined();
      else expect(NOT_GATED[h.apiKey], `api key ${h.apiKey} is ${h.access.kind}`).toBe(h.access.kind);
    }
    for (const key of Object.keys(SAMPLES)) expect(HANDLERS.get(Number(key))?.access.kind).toBe("needs");
  });

  const cases = Object.entries(SAMPLES).flatMap(([key, samples]) => samples.map((s) => [Number(key), s] as const));
  it.each(cases)("api %i: %o denied without its ACLs, allowed with them, denied again by a DENY", async (apiKey, sample) => {
    const handler = HANDLERS.get(apiKey)!;
    const spec = API_SPECS.get(apiKey)!;
    for (let v = handler.minVersion; v <= handler.maxVersion; v++) {
      const req = { ...spec.request.defaults(), ...sample.request(broker) };
      const denied = refusal(handler, req, contextFor(apiKey, v));
      expect(denied, `v${v} let through without ACLs`).not.toBeNull();
      expect(denied!.response).not.toBeNull();
      expect(() => encodeResponse(apiKey, v, 1, denied!.response)).not.toThrow();
      expect(errorCodesIn(denied!.response)).toContain(sample.deniedCode);
      // A super user needs no ACL.
      expect(refusal(handler, req, contextFor(apiKey, v, "User:admin"))).toBeNull();
    }
    // Each grant alone is not enough when a sample needs several.
    if (sample.grants.length > 1) {
      await allow(sample.grants.slice(0, 1));
      expect(refusal(handler, { ...spec.request.defaults(), ...sample.request(broker) }, contextFor(apiKey, handler.maxVersion))).not.toBeNull();
    }
    await allow(sample.grants);
    for (let v = handler.minVersion; v <= handler.maxVersion; v++) {
      expect(refusal(handler, { ...spec.request.defaults(), ...sample.request(broker) }, contextFor(apiKey, v)), `v${v} refused with its ACLs`).toBeNull();
    }
    await allow(sample.grants.slice(-1), PermissionType.DENY);
    expect(refusal(handler, { ...spec.request.defaults(), ...sample.request(broker) }, contextFor(apiKey, handler.maxVersion))).not.toBeNull();
  });

  it("with FLOE_AUTHORIZER=none every sample is let through without ACLs", async () => {
    const open = await createTestBroker({ authorizer: "none" });
    await open.controller.createTopic(T, 1, {});
    try {
      for (const [apiKey, sample] of cases) {
        const handler = HANDLERS.get(apiKey)!;
        const conn = testConnection({ principal: PRINCIPAL });
        const ctx: RequestContext = { apiKey, apiVersion: handler.maxVersion, correlationId: 1, clientId: "matrix", conn, broker: open, authorize: authorizerFor(open.config, open.controller.acls, PRINCIPAL, conn.remoteAddress), closeAfterResponse: () => undefined, chargeQuota: () => 0 };
        expect(refusal(handler, { ...API_SPECS.get(apiKey)!.request.defaults(), ...sample.request(open) }, ctx)).toBeNull();
      }
    } finally {
      open.close();
    }
  });
});

describe("handlers that check per resource", () => {
  const metadata = HANDLERS.get(3)!;
  const listGroups = HANDLERS.get(16)!;

  async function metadataAs(topics: { name: string }[] | null, allowAutoTopicCreation = false) {
    const req = { ...API_SPECS.get(3)!.request.defaults(), topics: topics?.map((t) => ({ topicId: ZERO_UUID, name: t.name })) ?? null, allowAutoTopicCreation };
    return (await callOn(metadata, broker, 12, req, testConnection({ principal: PRINCIPAL }))).response as { topics: { name: string | null; errorCode: number; topicAuthorizedOperations: number }[] };
  }

  it("Metadata hides topics the principal may not DESCRIBE, and shows them once allowed", async () => {
    await broker.controller.createTopic("secret", 1, {});
    expect((await metadataAs(null)).topics).toEqual([]);
    await allow([[R.TOPIC, T, Op.READ]]); // READ implies DESCRIBE
    const listed = (await metadataAs(null)).topics;
    expect(listed.map((t) => t.name)).toEqual([T]);
    const named = (await metadataAs([{ name: "secret" }, { name: T }])).topics;
    expect(named.map((t) => [t.name, t.errorCode])).toEqual([["secret", ErrorCode.TOPIC_AUTHORIZATION_FAILED], [T, ErrorCode.NONE]]);
  });

  it("Metadata refuses auto-creation without CREATE and allows it with CREATE", async () => {
    let created = 0;
    broker.autoCreateTopic = async (name) => {
      created++;
      return (await broker.controller.createTopic(name, 1, {})).topic!;
    };
    expect((await metadataAs([{ name: "fresh" }], true)).topics[0]!.errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    await allow([[R.TOPIC, "fresh", Op.DESCRIBE]]);
    expect((await metadataAs([{ name: "fresh" }], true)).topics[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(created).toBe(0);
    await allow([[R.TOPIC, "fresh", Op.CREATE]]);
    expect((await metadataAs([{ name: "fresh" }], true)).topics[0]!.errorCode).toBe(ErrorCode.NONE);
    expect(created).toBe(1);
  });

  it("ListGroups lists only groups the principal may DESCRIBE, all of them with DESCRIBE on the cluster", async () => {
    const joinReq = (groupId: string) => ({ ...API_SPECS.get(11)!.request.defaults(), groupId, memberId: "", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, protocolType: "consumer", protocols: [{ name: "range", metadata: Buffer.alloc(0) }] });
    // The groups are made by another principal, allowed to join any group.
    await broker.controller.createAcl({ resourceType: R.GROUP, resourceName: "*", patternType: PatternType.LITERAL, principal: "User:ANONYMOUS", host: "*", operation: Op.READ, permissionType: PermissionType.ALLOW });
    const joins = [G, "other"].map((g) => call(HANDLERS.get(11)!, broker, 3, joinReq(g)));
    await Promise.all(joins);
    const list = async () => ((await callOn(listGroups, broker, 5, API_SPECS.get(16)!.request.defaults(), testConnection({ principal: PRINCIPAL }))).response as { groups: { groupId: string }[] }).groups.map((g) => g.groupId).sort();
    expect(await list()).toEqual([]);
    await allow([[R.GROUP, G, Op.DESCRIBE]]);
    expect(await list()).toEqual([G]);
    await allow([[R.CLUSTER, CLUSTER_NAME, Op.DESCRIBE]]);
    expect(await list()).toEqual(["other", G].sort());
  });
});
