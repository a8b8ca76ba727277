// Metadata v0-12
// v1: null topics = all topics; rack, controller id, internal flag.
// v2: cluster id.  v4: AllowAutoTopicCreation.  v7: leader epochs.
// v8-10: authorized operations.  v9: flexible.  v10: topic ids (lookup by id).
// v12: topic name nullable in requests (lookup by id only).
// Brokers are listed with their address on the listener the client connected through; one
// without that listener is left out, and a partition it leads answers LISTENER_NOT_FOUND
// (v6+; LEADER_NOT_AVAILABLE before), as Kafka does.
import type { MetadataRequest, MetadataResponse, MetadataResponseTopic } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { ZERO_UUID } from "../../protocol/primitives.js";
import type { TopicInfo } from "../../cluster/topics.js";
import { defineHandler, type RequestContext } from "../handler.js";
import { AclOperation as Op, CLUSTER_NAME, ResourceType } from "../../security/acl.js";
import { addressOn, brokersOn } from "../broker.js";

/** Operations reported in topicAuthorizedOperations (KIP-430). */
const TOPIC_OPERATIONS = [Op.READ, Op.WRITE, Op.CREATE, Op.DELETE, Op.ALTER, Op.DESCRIBE, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS];
const OPERATIONS_NOT_REQUESTED = -2147483648;

export const metadata = defineHandler<MetadataRequest, MetadataResponse>({
  apiKey: 3,
  minVersion: 0,
  maxVersion: 12,
  access: { kind: "per-resource", note: "topics the principal may not DESCRIBE are hidden or answered with TOPIC_AUTHORIZATION_FAILED; auto-creation needs CREATE" },
  async handle(req, ctx) {
    const { broker, apiVersion } = ctx;
    const allTopics = req.topics === null || (apiVersion === 0 && req.topics.length === 0);
    const topics: MetadataResponseTopic[] = [];
    if (allTopics) {
      // As in Kafka, topics the principal may not DESCRIBE are left out of a full listing.
      for (const t of broker.topics.all()) if (mayDescribe(ctx, t.name)) topics.push(describeTopic(t, ctx, req.includeTopicAuthorizedOperations));
    } else {
      const autoCreate = apiVersion < 4 || req.allowAutoTopicCreation;
      for (const wanted of req.topics ?? []) {
        if (wanted.name === null || wanted.name === "") {
          const byId = wanted.topicId !== ZERO_UUID ? broker.topics.byTopicId(wanted.topicId) : undefined;
          if (byId && !mayDescribe(ctx, byId.name)) topics.push(missingTopic(null, wanted.topicId, ErrorCode.TOPIC_AUTHORIZATION_FAILED));
          else topics.push(byId ? describeTopic(byId, ctx, req.includeTopicAuthorizedOperations) : missingTopic(null, wanted.topicId, ErrorCode.UNKNOWN_TOPIC_ID));
          continue;
        }
        let topic = broker.topics.byTopicName(wanted.name);
        if (topic && !mayDescribe(ctx, topic.name)) {
          topics.push(missingTopic(wanted.name, ZERO_UUID, ErrorCode.TOPIC_AUTHORIZATION_FAILED));
          continue;
        }
        // Auto-creation needs CREATE on the cluster or the topic; without it the topic is
        // unknown to a principal that may describe it, and unauthorized to one that may not.
        if (!topic && autoCreate && !mayCreate(ctx, wanted.name)) {
          topics.push(missingTopic(wanted.name, ZERO_UUID, mayDescribe(ctx, wanted.name) ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.TOPIC_AUTHORIZATION_FAILED));
          continue;
        }
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
      brokers: brokersOn(broker, ctx.conn.listener),
      clusterId: broker.clusterId,
      controllerId: broker.self.nodeId,
      topics,
      clusterAuthorizedOperations: OPERATIONS_NOT_REQUESTED,
    };
  },
});

function describeTopic(t: TopicInfo, ctx: RequestContext, withOperations: boolean): MetadataResponseTopic {
  const partitions = [];
  const listener = ctx.conn.listener;
  const live = brokersOn(ctx.broker, listener).map((b) => b.nodeId);
  for (let p = 0; p < t.partitions; p++) {
    const found = ctx.broker.leaderOf(t.topicId, p);
    const leader = found && addressOn(found, listener) ? found : null;
    const nodes = leader ? [leader.nodeId] : [];
    // Every live broker can serve a partition's committed data (KIP-392 read replica), and
    // clients fetch only from a listed replica; the leader alone is "in sync" (it alone writes).
    const replicas = leader ? [leader.nodeId, ...live.filter((id) => id !== leader.nodeId)] : [];
    const noLeader = found && ctx.apiVersion >= 6 ? ErrorCode.LISTENER_NOT_FOUND : ErrorCode.LEADER_NOT_AVAILABLE;
    partitions.push({
      errorCode: leader ? ErrorCode.NONE : noLeader,
      partitionIndex: p,
      leaderId: leader ? leader.nodeId : -1,
      leaderEpoch: ctx.broker.leaderEpochOf(t.topicId, p),
      replicaNodes: replicas,
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
    topicAuthorizedOperations: withOperations ? TOPIC_OPERATIONS.filter((op) => ctx.authorize(ResourceType.TOPIC, t.name, op)).reduce((acc, op) => acc | (1 << op), 0) : OPERATIONS_NOT_REQUESTED,
  };
}

function missingTopic(name: string | null, topicId: string, errorCode: number): MetadataResponseTopic {
  return { errorCode, name, topicId, isInternal: false, partitions: [], topicAuthorizedOperations: OPERATIONS_NOT_REQUESTED };
}

function mayDescribe(ctx: RequestContext, topic: string): boolean {
  return ctx.authorize(ResourceType.TOPIC, topic, Op.DESCRIBE);
}

function mayCreate(ctx: RequestContext, topic: string): boolean {
  return ctx.authorize(ResourceType.CLUSTER, CLUSTER_NAME, Op.CREATE) || ctx.authorize(ResourceType.TOPIC, topic, Op.CREATE);
}
