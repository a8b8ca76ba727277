// Metadata v0-12
// v1: null topics = all topics; rack, controller id, internal flag.
// v2: cluster id.  v4: AllowAutoTopicCreation.  v7: leader epochs.
// v8-10: authorized operations.  v9: flexible.  v10: topic ids (lookup by id).
// v12: topic name nullable in requests (lookup by id only).
// Every partition lists one replica, its leader: durability comes from the WAL and the
// object store, not from follower replicas.
import type { MetadataRequest, MetadataResponse, MetadataResponseTopic } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { ZERO_UUID } from "../../protocol/primitives.js";
import type { TopicInfo } from "../../cluster/topics.js";
import { defineHandler, type RequestContext } from "../handler.js";

/** READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: all allowed until ACLs land. */
const TOPIC_OPERATIONS_ALL = [3, 4, 5, 6, 7, 8, 10, 11].reduce((acc, op) => acc | (1 << op), 0);
const OPERATIONS_NOT_REQUESTED = -2147483648;

export const metadata = defineHandler<MetadataRequest, MetadataResponse>({
  apiKey: 3,
  minVersion: 0,
  maxVersion: 12,
  async handle(req, ctx) {
    const { broker, apiVersion } = ctx;
    const allTopics = req.topics === null || (apiVersion === 0 && req.topics.length === 0);
    const topics: MetadataResponseTopic[] = [];
    if (allTopics) {
      for (const t of broker.topics.all()) topics.push(describeTopic(t, ctx, req.includeTopicAuthorizedOperations));
    } else {
      const autoCreate = apiVersion < 4 || req.allowAutoTopicCreation;
      for (const wanted of req.topics ?? []) {
        if (wanted.name === null || wanted.name === "") {
          const byId = wanted.topicId !== ZERO_UUID ? broker.topics.byTopicId(wanted.topicId) : undefined;
          topics.push(byId ? describeTopic(byId, ctx, req.includeTopicAuthorizedOperations) : missingTopic(null, wanted.topicId, ErrorCode.UNKNOWN_TOPIC_ID));
          continue;
        }
        let topic = broker.topics.byTopicName(wanted.name);
        if (!topic && autoCreate) {
          const created = await broker.autoCreateTopic(wanted.name);
          if ("errorCode" in created) {
            topics.push(missingTopic(wanted.name, ZERO_UUID, created.errorCode));
            continue;
          }
          topic = created;
        }
        topics.push(topic ? describeTopic(topic, ctx, req.includeTopicAuthorizedOperations) : missingTopic(wanted.name, ZERO_UUID, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
      }
    }
    return {
      throttleTimeMs: 0,
      brokers: broker.brokers().map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack })),
      clusterId: broker.clusterId,
      controllerId: broker.self.nodeId,
      topics,
      clusterAuthorizedOperations: OPERATIONS_NOT_REQUESTED,
    };
  },
});

function describeTopic(t: TopicInfo, ctx: RequestContext, withOperations: boolean): MetadataResponseTopic {
  const partitions = [];
  for (let p = 0; p < t.partitions; p++) {
    const leader = ctx.broker.leaderOf(t.topicId, p);
    const nodes = leader ? [leader.nodeId] : [];
    partitions.push({
      errorCode: leader ? ErrorCode.NONE : ErrorCode.LEADER_NOT_AVAILABLE,
      partitionIndex: p,
      leaderId: leader ? leader.nodeId : -1,
      leaderEpoch: t.leaderEpochs[p] ?? 0,
      replicaNodes: nodes,
      isrNodes: nodes,
      offlineReplicas: [],
    });
  }
  return {
    errorCode: ErrorCode.NONE,
    name: t.name,
    topicId: t.topicId,
    isInternal: t.internal,
    partitions,
    topicAuthorizedOperations: withOperations ? TOPIC_OPERATIONS_ALL : OPERATIONS_NOT_REQUESTED,
  };
}

function missingTopic(name: string | null, topicId: string, errorCode: number): MetadataResponseTopic {
  return { errorCode, name, topicId, isInternal: false, partitions: [], topicAuthorizedOperations: OPERATIONS_NOT_REQUESTED };
}
