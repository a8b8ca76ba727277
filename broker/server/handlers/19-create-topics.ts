// CreateTopics v0-7
// v1: validateOnly, per-topic error message.  v2: throttle time.
// v4: NumPartitions/ReplicationFactor may be -1 for the broker defaults (KIP-464).
// v5: flexible; results carry partitions, replication factor and configs (KIP-525).
// v7: results carry the topic id.
// Floe has no follower replicas (durability comes from the WAL and the object store), so
// any replication factor >= 1 (or -1) is accepted and every result reports 1. Partitions
// are placed by the broker: manual assignments are refused with INVALID_REQUEST.
// -1 partitions is accepted at every version. The timeout is not needed: a topic exists
// once its metadata record is durable, before the response is sent.
import type { CreateTopicsRequest, CreateTopicsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { ZERO_UUID } from "../../protocol/primitives.js";
import { defineHandler } from "../handler.js";
import { clusterCheck, topicCheck, deniedMessageOf } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsCreateTopicsResponse, defaultsCreateTopicsResponseCreatableTopicResult } from "../../protocol/messages/index.js";
import type { Broker } from "../broker.js";
import { createdTopicConfigs } from "./config-view.js";

type Result = CreateTopicsResponse["topics"][number];
type Wanted = CreateTopicsRequest["topics"][number];

export const createTopics = defineHandler<CreateTopicsRequest, CreateTopicsResponse>({
  apiKey: 19,
  minVersion: 0,
  maxVersion: 7,
  access: {
    kind: "needs",
    needs: (req) => req.topics.map((t) => [clusterCheck(Op.CREATE), topicCheck(t.name, Op.CREATE)]),
    denied: (req, errorCode) => ({
      ...defaultsCreateTopicsResponse(),
      topics: req.topics.map((t) => ({ ...defaultsCreateTopicsResponseCreatableTopicResult(), name: t.name, errorCode, errorMessage: deniedMessageOf(errorCode), numPartitions: -1, replicationFactor: -1, configs: null })),
    }),
  },
  async handle(req, ctx) {
    const validateOnly = ctx.apiVersion >= 1 && req.validateOnly;
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    const results: Result[] = [];
    const answered = new Set<string>();
    for (const t of req.topics) {
      if (answered.has(t.name)) continue;
      answered.add(t.name);
      if (counts.get(t.name)! > 1) {
        results.push(failed(t.name, ErrorCode.INVALID_REQUEST, `Create topics request from client contains multiple entries for topic '${t.name}'.`));
        continue;
      }
      results.push(await createOne(t, validateOnly, ctx.broker));
    }
    return { throttleTimeMs: 0, topics: results };
  },
});

async function createOne(t: Wanted, validateOnly: boolean, broker: Broker): Promise<Result> {
  if (t.assignments.length > 0) {
    return failed(t.name, ErrorCode.INVALID_REQUEST, "Manual partition assignment is not supported: Floe places partitions itself. Give numPartitions instead.");
  }
  if (t.replicationFactor !== -1 && t.replicationFactor < 1) {
    return failed(t.name, ErrorCode.INVALID_REPLICATION_FACTOR, "Replication factor must be larger than 0, or -1 to use the default value.");
  }
  if (t.numPartitions !== -1 && t.numPartitions < 1) {
    return failed(t.name, ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0, or -1 to use the default value.");
  }
  const configs: Record<string, string> = {};
  for (const c of t.configs) {
    if (c.name in configs) return failed(t.name, ErrorCode.INVALID_REQUEST, `Duplicate config name '${c.name}'.`);
    if (c.value === null) return failed(t.name, ErrorCode.INVALID_CONFIG, `Null value not supported for topic config '${c.name}'.`);
    configs[c.name] = c.value;
  }
  const partitions = t.numPartitions === -1 ? broker.config.defaultPartitions : t.numPartitions;
  const created = await broker.controller.createTopic(t.name, partitions, configs, { validateOnly });
  if (created.errorCode !== ErrorCode.NONE) return failed(t.name, created.errorCode, created.errorMessage);
  if (!validateOnly) broker.logger.info({ topic: t.name, partitions }, "created topic");
  return {
    name: t.name,
    topicId: created.topic?.topicId ?? ZERO_UUID,
    errorCode: ErrorCode.NONE,
    errorMessage: null,
    topicConfigErrorCode: ErrorCode.NONE,
    numPartitions: partitions,
    replicationFactor: 1,
    configs: createdTopicConfigs(created.topic ?? { configs }, broker.config),
  };
}

function failed(name: string, errorCode: number, errorMessage: string | null): Result {
  return {
    name,
    topicId: ZERO_UUID,
    errorCode,
    errorMessage,
    topicConfigErrorCode: ErrorCode.NONE,
    numPartitions: -1,
    replicationFactor: -1,
    configs: [],
  };
}
