import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type {
  AlterConfigsRequest,
  CreatePartitionsRequest,
  CreateTopicsRequest,
  DeleteTopicsRequest,
  DescribeConfigsRequest,
  IncrementalAlterConfigsRequest,
} from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { ZERO_UUID } from "../../protocol/primitives.js";
import { createTopics } from "./19-create-topics.js";
import { deleteTopics } from "./20-delete-topics.js";
import { describeConfigs } from "./32-describe-configs.js";
import { alterConfigs } from "./33-alter-configs.js";
import { createPartitions } from "./37-create-partitions.js";
import { incrementalAlterConfigs, ConfigOperation } from "./44-incremental-alter-configs.js";
import { describeCluster } from "./60-describe-cluster.js";
import { ConfigSource, ConfigType, ResourceType } from "./config-view.js";
import { call, createTestBroker, type TestBroker } from "./test-broker.js";

type Topic = CreateTopicsRequest["topics"][number];

function topic(name: string, numPartitions = 3, configs: Record<string, string | null> = {}, extra: Partial<Topic> = {}): Topic {
  return { name, numPartitions, replicationFactor: -1, assignments: [], configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })), ...extra };
}

function create(topics: Topic[], validateOnly = false): CreateTopicsRequest {
  return { topics, timeoutMs: 30_000, validateOnly };
}

function describeTopic(name: string, opts: Partial<DescribeConfigsRequest> = {}, keys: string[] | null = null): DescribeConfigsRequest {
  return { resources: [{ resourceType: ResourceType.TOPIC, resourceName: name, configurationKeys: keys }], includeSynonyms: false, includeDocumentation: false, ...opts };
}

function incremental(name: string, configs: { name: string; op: number; value: string | null }[], validateOnly = false): IncrementalAlterConfigsRequest {
  return {
    resources: [{ resourceType: ResourceType.TOPIC, resourceName: name, configs: configs.map((c) => ({ name: c.name, configOperation: c.op, value: c.value })) }],
    validateOnly,
  };
}

let broker: TestBroker;
beforeEach(async () => {
  broker = await createTestBroker({ defaultPartitions: 2 });
});
afterEach(() => broker.close());

describe("CreateTopics", () => {
  it("creates topics with defaults for -1 and reports partitions, replication 1, id and configs at v7", async () => {
    const res = await call(createTopics, broker, 7, create([topic("orders", -1), topic("events", 4, { "retention.ms": "1000" }, { replicationFactor: 3 })]));
    const [orders, events] = res.topics;
    expect(orders).toMatchObject({ name: "orders", errorCode: ErrorCode.NONE, errorMessage: null, numPartitions: 2, replicationFactor: 1 });
    expect(orders!.topicId).toBe(broker.topics.byTopicName("orders")!.topicId);
    expect(events).toMatchObject({ name: "events", errorCode: ErrorCode.NONE, numPartitions: 4, replicationFactor: 1 });
    const retention = events!.configs!.find((c) => c.name === "retention.ms")!;
    expect(retention).toEqual({ name: "retention.ms", value: "1000", readOnly: false, configSource: ConfigSource.DYNAMIC_TOPIC_CONFIG, isSensitive: false });
    expect(events!.configs!.find((c) => c.name === "cleanup.policy")).toMatchObject({ value: "delete", configSource: ConfigSource.DEFAULT_CONFIG });
    expect(broker.topics.byTopicName("events")).toMatchObject({ partitions: 4, configs: { "retention.ms": "1000" } });
  });

  it("refuses invalid names, existing topics, bad counts, bad configs and manual assignments", async () => {
    await call(createTopics, broker, 0, create([topic("taken")]));
    const res = await call(createTopics, broker, 4, create([
      topic("bad name!"),
      topic("taken"),
      topic("zero", 0),
      topic("rf0", 1, {}, { replicationFactor: 0 }),
      topic("badcfg", 1, { "retention.ms": "soon" }),
      topic("unknowncfg", 1, { "no.such.config": "1" }),
      topic("nullcfg", 1, { "retention.ms": null }),
      topic("manual", -1, {}, { assignments: [{ partitionIndex: 0, brokerIds: [1] }] }),
      topic("__consumer_offsets"),
    ]));
    const codes = Object.fromEntries(res.topics.map((t) => [t.name, t.errorCode]));
    expect(codes).toEqual({
      "bad name!": ErrorCode.INVALID_TOPIC_EXCEPTION,
      taken: ErrorCode.TOPIC_ALREADY_EXISTS,
      zero: ErrorCode.INVALID_PARTITIONS,
      rf0: ErrorCode.INVALID_REPLICATION_FACTOR,
      badcfg: ErrorCode.INVALID_CONFIG,
      unknowncfg: ErrorCode.INVALID_CONFIG,
      nullcfg: ErrorCode.INVALID_CONFIG,
      manual: ErrorCode.INVALID_REQUEST,
      __consumer_offsets: ErrorCode.INVALID_REQUEST,
    });
    for (const t of res.topics) expect(t.errorMessage).toBeTruthy();
    expect(broker.topics.all().map((t) => t.name)).toEqual(["taken"]);
  });

  it("answers a name given twice once, with INVALID_REQUEST, and creates the others", async () => {
    const res = await call(createTopics, broker, 5, create([topic("dup"), topic("solo"), topic("dup", 5)]));
    expect(res.topics.map((t) => [t.name, t.errorCode])).toEqual([
      ["dup", ErrorCode.INVALID_REQUEST],
      ["solo", ErrorCode.NONE],
    ]);
    expect(broker.topics.byTopicName("dup")).toBeUndefined();
  });

  it("validateOnly checks without creating anything", async () => {
    const before = broker.journal.length;
    const res = await call(createTopics, broker, 7, create([topic("dry", 6, { "cleanup.policy": "compact" })], true));
    expect(res.topics[0]).toMatchObject({ errorCode: ErrorCode.NONE, numPartitions: 6, replicationFactor: 1, topicId: ZERO_UUID });
    expect(res.topics[0]!.configs!.find((c) => c.name === "cleanup.policy")!.value).toBe("compact");
    expect(broker.topics.byTopicName("dry")).toBeUndefined();
    expect(broker.journal.length).toBe(before);
    const bad = await call(createTopics, broker, 1, create([topic("dry", 6, { "cleanup.policy": "shred" })], true));
    expect(bad.topics[0]!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
  });
});

describe("DeleteTopics", () => {
  it("deletes by name (v0-5) and by id (v6), reporting unknown names and ids", async () => {
    await call(createTopics, broker, 7, create([topic("a"), topic("b"), topic("c")]));
    const byName = await call(deleteTopics, broker, 5, { topics: [], topicNames: ["a", "nope"], timeoutMs: 1000 } satisfies DeleteTopicsRequest);
    expect(byName.responses.map((r) => [r.name, r.errorCode])).toEqual([
      ["a", ErrorCode.NONE],
      ["nope", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    ]);
    const bId = broker.topics.byTopicName("b")!.topicId;
    const byId = await call(deleteTopics, broker, 6, {
      topics: [
        { name: null, topicId: bId },
        { name: null, topicId: "AAAAAAAAAAAAAAAAAAAAAQ" },
        { name: "c", topicId: ZERO_UUID },
      ],
      topicNames: [],
      timeoutMs: 1000,
    });
    expect(byId.responses).toEqual([
      { name: "b", topicId: bId, errorCode: ErrorCode.NONE, errorMessage: null },
      expect.objectContaining({ name: null, errorCode: ErrorCode.UNKNOWN_TOPIC_ID }),
      expect.objectContaining({ name: "c", errorCode: ErrorCode.NONE }),
    ]);
    expect(broker.topics.all()).toEqual([]);
  });

  it("refuses duplicates, both name and id, and internal topics", async () => {
    await call(createTopics, broker, 7, create([topic("x")]));
    await broker.controller.createTopic("__consumer_offsets", 1, {}, { internal: true });
    const x = broker.topics.byTopicName("x")!;
    const res = await call(deleteTopics, broker, 6, {
      topics: [
        { name: "x", topicId: x.topicId },
        { name: "__consumer_offsets", topicId: ZERO_UUID },
      ],
      topicNames: [],
      timeoutMs: 1000,
    });
    expect(res.responses.map((r) => r.errorCode)).toEqual([ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST]);
    const dup = await call(deleteTopics, broker, 1, { topics: [], topicNames: ["x", "x"], timeoutMs: 1000 });
    expect(dup.responses).toEqual([expect.objectContaining({ name: "x", errorCode: ErrorCode.INVALID_REQUEST })]);
    expect(broker.topics.byTopicName("x")).toBeDefined();
  });
});

describe("CreatePartitions", () => {
  it("grows a topic, validates only on request, refuses shrinking, unknown topics and assignments", async () => {
    await call(createTopics, broker, 7, create([topic("grow", 2)]));
    const req = (count: number, validateOnly = false, assignments: CreatePartitionsRequest["topics"][number]["assignments"] = null): CreatePartitionsRequest => ({
      topics: [{ name: "grow", count, assignments }],
      timeoutMs: 1000,
      validateOnly,
    });
    expect((await call(createPartitions, broker, 0, req(5, true))).results[0]!.errorCode).toBe(ErrorCode.NONE);
    expect(broker.topics.byTopicName("grow")!.partitions).toBe(2);
    expect((await call(createPartitions, broker, 3, req(5))).results[0]).toEqual({ name: "grow", errorCode: ErrorCode.NONE, errorMessage: null });
    expect(broker.topics.byTopicName("grow")!.partitions).toBe(5);
    expect((await call(createPartitions, broker, 2, req(3))).results[0]!.errorCode).toBe(ErrorCode.INVALID_PARTITIONS);
    expect((await call(createPartitions, broker, 2, req(8, false, [{ brokerIds: [1] }]))).results[0]!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    const unknown = await call(createPartitions, broker, 1, { topics: [{ name: "nope", count: 3, assignments: null }], timeoutMs: 1000, validateOnly: false });
    expect(unknown.results[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

describe("DescribeConfigs", () => {
  beforeEach(async () => {
    await call(createTopics, broker, 7, create([topic("cfg", 1, { "retention.ms": "5000" })]));
  });

  it("lists every topic config with overrides as DYNAMIC_TOPIC_CONFIG and the rest as defaults", async () => {
    const res = await call(describeConfigs, broker, 4, describeTopic("cfg", { includeSynonyms: true, includeDocumentation: true }));
    const result = res.results[0]!;
    expect(result).toMatchObject({ errorCode: ErrorCode.NONE, errorMessage: null, resourceType: ResourceType.TOPIC, resourceName: "cfg" });
    const byName = new Map(result.configs.map((c) => [c.name, c]));
    expect(byName.get("retention.ms")).toMatchObject({
      value: "5000",
      readOnly: false,
      isDefault: false,
      configSource: ConfigSource.DYNAMIC_TOPIC_CONFIG,
      configType: ConfigType.LONG,
      synonyms: [
        { name: "retention.ms", value: "5000", source: ConfigSource.DYNAMIC_TOPIC_CONFIG },
        { name: "retention.ms", value: "604800000", source: ConfigSource.DEFAULT_CONFIG },
      ],
    });
    expect(byName.get("retention.ms")!.documentation).toMatch(/older than/);
    expect(byName.get("cleanup.policy")).toMatchObject({ value: "delete", isDefault: true, configSource: ConfigSource.DEFAULT_CONFIG, configType: ConfigType.LIST });
    expect(byName.get("max.message.bytes")!.synonyms).toEqual([{ name: "message.max.bytes", value: String(broker.config.messageMaxBytes), source: ConfigSource.DEFAULT_CONFIG }]);
  });

  it("leaves out synonyms and documentation unless asked, and filters by key", async () => {
    const res = await call(describeConfigs, broker, 1, describeTopic("cfg", {}, ["cleanup.policy", "retention.ms", "not.a.config"]));
    expect(res.results[0]!.configs.map((c) => c.name)).toEqual(["cleanup.policy", "retention.ms"]);
    for (const c of res.results[0]!.configs) {
      expect(c.synonyms).toEqual([]);
      expect(c.documentation).toBeNull();
    }
  });

  it("describes this broker read-only, refuses other broker ids, unknown topics and resource types", async () => {
    const res = await call(describeConfigs, broker, 3, {
      resources: [
        { resourceType: ResourceType.BROKER, resourceName: String(broker.self.nodeId), configurationKeys: null },
        { resourceType: ResourceType.BROKER, resourceName: "", configurationKeys: ["num.partitions"] },
        { resourceType: ResourceType.BROKER, resourceName: "99", configurationKeys: null },
        { resourceType: ResourceType.BROKER_LOGGER, resourceName: String(broker.self.nodeId), configurationKeys: null },
        { resourceType: ResourceType.TOPIC, resourceName: "missing", configurationKeys: null },
        { resourceType: ResourceType.GROUP, resourceName: "g", configurationKeys: null },
      ],
      includeSynonyms: false,
      includeDocumentation: false,
    });
    const [self, clusterDefault, other, logger, missing, group] = res.results;
    const byName = new Map(self!.configs.map((c) => [c.name, c]));
    expect(byName.get("num.partitions")).toMatchObject({ value: "2", readOnly: true, configSource: ConfigSource.STATIC_BROKER_CONFIG, configType: ConfigType.INT });
    expect(byName.get("auto.create.topics.enable")).toMatchObject({ value: "true", configSource: ConfigSource.DEFAULT_CONFIG, configType: ConfigType.BOOLEAN });
    expect(byName.get("broker.rack")!.value).toBeNull();
    for (const name of ["message.max.bytes", "socket.request.max.bytes", "group.initial.rebalance.delay.ms", "group.min.session.timeout.ms", "group.max.session.timeout.ms", "offsets.topic.num.partitions"]) {
      expect(byName.has(name), name).toBe(true);
    }
    expect(clusterDefault!.configs.map((c) => [c.name, c.value])).toEqual([["num.partitions", "2"]]);
    expect(other!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect(logger).toMatchObject({ errorCode: ErrorCode.NONE, configs: [] });
    expect(missing!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(group!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });
});

describe("AlterConfigs", () => {
  it("replaces all overrides, validates only on request, refuses bad configs and brokers", async () => {
    await call(createTopics, broker, 7, create([topic("alt", 1, { "retention.ms": "5000", "cleanup.policy": "compact" })]));
    const req = (configs: Record<string, string | null>, validateOnly = false): AlterConfigsRequest => ({
      resources: [{ resourceType: ResourceType.TOPIC, resourceName: "alt", configs: Object.entries(configs).map(([name, value]) => ({ name, value })) }],
      validateOnly,
    });
    expect((await call(alterConfigs, broker, 0, req({ "retention.bytes": "100" }, true))).responses[0]!.errorCode).toBe(ErrorCode.NONE);
    expect(broker.topics.byTopicName("alt")!.configs).toEqual({ "retention.ms": "5000", "cleanup.policy": "compact" });
    const ok = await call(alterConfigs, broker, 2, req({ "retention.bytes": "100" }));
    expect(ok.responses).toEqual([{ errorCode: ErrorCode.NONE, errorMessage: null, resourceType: ResourceType.TOPIC, resourceName: "alt" }]);
    expect(broker.topics.byTopicName("alt")!.configs).toEqual({ "retention.bytes": "100" });
    expect((await call(alterConfigs, broker, 1, req({ "retention.bytes": "lots" }))).responses[0]!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect((await call(alterConfigs, broker, 1, req({ "no.such": "1" }))).responses[0]!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect((await call(alterConfigs, broker, 1, req({ "retention.ms": null }))).responses[0]!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect(broker.topics.byTopicName("alt")!.configs).toEqual({ "retention.bytes": "100" });

    const others = await call(alterConfigs, broker, 2, {
      resources: [
        { resourceType: ResourceType.BROKER, resourceName: "1", configs: [{ name: "num.partitions", value: "3" }] },
        { resourceType: ResourceType.TOPIC, resourceName: "missing", configs: [] },
      ],
      validateOnly: false,
    });
    expect(others.responses[0]).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "dynamic broker configs are not supported; set FLOE_* env" });
    expect(others.responses[1]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

describe("IncrementalAlterConfigs", () => {
  beforeEach(async () => {
    await call(createTopics, broker, 7, create([topic("inc", 1, { "retention.ms": "5000" })]));
  });
  const configsOf = () => broker.topics.byTopicName("inc")!.configs;

  it("SET and DELETE change single overrides and keep the rest", async () => {
    const res = await call(incrementalAlterConfigs, broker, 1, incremental("inc", [
      { name: "retention.bytes", op: ConfigOperation.SET, value: "100" },
      { name: "retention.ms", op: ConfigOperation.DELETE, value: null },
    ]));
    expect(res.responses[0]).toEqual({ errorCode: ErrorCode.NONE, errorMessage: null, resourceType: ResourceType.TOPIC, resourceName: "inc" });
    expect(configsOf()).toEqual({ "retention.bytes": "100" });
  });

  it("APPEND and SUBTRACT work on cleanup.policy starting from the default", async () => {
    await call(incrementalAlterConfigs, broker, 0, incremental("inc", [{ name: "cleanup.policy", op: ConfigOperation.APPEND, value: "compact" }]));
    expect(configsOf()["cleanup.policy"]).toBe("delete,compact");
    await call(incrementalAlterConfigs, broker, 0, incremental("inc", [{ name: "cleanup.policy", op: ConfigOperation.APPEND, value: "delete" }]));
    expect(configsOf()["cleanup.policy"]).toBe("delete,compact");
    await call(incrementalAlterConfigs, broker, 1, incremental("inc", [{ name: "cleanup.policy", op: ConfigOperation.SUBTRACT, value: "delete" }]));
    expect(configsOf()["cleanup.policy"]).toBe("compact");
    const described = await call(describeConfigs, broker, 2, describeTopic("inc", {}, ["cleanup.policy"]));
    expect(described.results[0]!.configs[0]).toMatchObject({ value: "compact", configSource: ConfigSource.DYNAMIC_TOPIC_CONFIG });
  });

  it("refuses APPEND on a non-list config, duplicate keys, unknown keys, bad values and brokers; validateOnly changes nothing", async () => {
    const codes = async (req: IncrementalAlterConfigsRequest) => (await call(incrementalAlterConfigs, broker, 1, req)).responses.map((r) => r.errorCode);
    expect(await codes(incremental("inc", [{ name: "retention.ms", op: ConfigOperation.APPEND, value: "1" }]))).toEqual([ErrorCode.INVALID_CONFIG]);
    expect(await codes(incremental("inc", [{ name: "retention.ms", op: ConfigOperation.SET, value: "1" }, { name: "retention.ms", op: ConfigOperation.SET, value: "2" }]))).toEqual([ErrorCode.INVALID_REQUEST]);
    expect(await codes(incremental("inc", [{ name: "nope", op: ConfigOperation.SET, value: "1" }]))).toEqual([ErrorCode.INVALID_CONFIG]);
    expect(await codes(incremental("inc", [{ name: "cleanup.policy", op: ConfigOperation.SET, value: "shred" }]))).toEqual([ErrorCode.INVALID_CONFIG]);
    expect(await codes(incremental("inc", [{ name: "retention.ms", op: 9, value: "1" }]))).toEqual([ErrorCode.INVALID_REQUEST]);
    expect(await codes(incremental("inc", [{ name: "retention.ms", op: ConfigOperation.SET, value: "1" }], true))).toEqual([ErrorCode.NONE]);
    expect(configsOf()).toEqual({ "retention.ms": "5000" });
    const brokerRes = await call(incrementalAlterConfigs, broker, 0, {
      resources: [{ resourceType: ResourceType.BROKER, resourceName: "", configs: [{ name: "num.partitions", configOperation: ConfigOperation.SET, value: "3" }] }],
      validateOnly: false,
    });
    expect(brokerRes.responses[0]!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });
});

describe("DescribeCluster", () => {
  it("lists the brokers with this one as controller, and refuses controller endpoints", async () => {
    const res = await call(describeCluster, broker, 1, { includeClusterAuthorizedOperations: false, endpointType: 1 });
    expect(res).toEqual({
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      endpointType: 1,
      clusterId: broker.clusterId,
      controllerId: broker.self.nodeId,
      brokers: [{ brokerId: broker.self.nodeId, host: "localhost", port: 9092, rack: null }],
      clusterAuthorizedOperations: -2147483648,
    });
    expect(broker.clusterId).not.toBe("");
    const v0 = await call(describeCluster, broker, 0, { includeClusterAuthorizedOperations: true, endpointType: 1 });
    expect(v0.clusterAuthorizedOperations).toBeGreaterThan(0);
    const controllers = await call(describeCluster, broker, 1, { includeClusterAuthorizedOperations: false, endpointType: 2 });
    expect(controllers.errorCode).toBe(ErrorCode.MISMATCHED_ENDPOINT_TYPE);
    expect((await call(describeCluster, broker, 1, { includeClusterAuthorizedOperations: false, endpointType: 7 })).errorCode).toBe(ErrorCode.UNSUPPORTED_ENDPOINT_TYPE);
  });
});
