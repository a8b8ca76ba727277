// Produce v0-11
// v0-2 carry message formats 0/1, which Floe does not store: those batches are refused with
// UNSUPPORTED_FOR_MESSAGE_FORMAT, but the versions stay advertised because librdkafka turns
// compression off when Produce v0 is missing from ApiVersions.
// v3: transactional id, record batch v2, exactly one batch per partition.
// v5: log start offset.  v7: zstd.  v8: per-record errors and an error message.
// v9: flexible.  v10: current leader and node endpoints on NOT_LEADER_OR_FOLLOWER (KIP-951).
// v11: TRANSACTION_ABORTABLE may be returned.
// Transactional batches (v3+ with a transactional id) are checked against the coordinator:
// a fenced epoch is INVALID_PRODUCER_EPOCH, a partition outside the open transaction
// INVALID_TXN_STATE. Control batches come from the coordinator only.
// acks: 0 (no response), 1 and -1 both answer once the batch is durable in the WAL.
import type { ProduceRequest, ProduceResponse, ProduceResponsePartitionProduceResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { topicCheck, transactionalIdCheck, deniedMessageOf } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsProduceResponse, defaultsProduceResponseTopicProduceResponse, defaultsProduceResponsePartitionProduceResponse } from "../../protocol/messages/index.js";

export const produce = defineHandler<ProduceRequest, ProduceResponse>({
  apiKey: 0,
  minVersion: 0,
  maxVersion: 11,
  access: {
    kind: "needs",
    needs: (req) => [...(req.transactionalId ? [transactionalIdCheck(req.transactionalId, Op.WRITE)] : []), ...req.topicData.map((t) => topicCheck(t.name, Op.WRITE))],
    // acks=0: the client reads no response, so a refused batch is dropped unanswered.
    denied: (req, errorCode) =>
      req.acks === 0
        ? null
        : {
            ...defaultsProduceResponse(),
            responses: req.topicData.map((t) => ({
              ...defaultsProduceResponseTopicProduceResponse(),
              name: t.name,
              partitionResponses: t.partitionData.map((p) => ({ ...defaultsProduceResponsePartitionProduceResponse(), index: p.index, errorCode, errorMessage: deniedMessageOf(errorCode) })),
            })),
          },
  },
  async handle(req, ctx) {
    const { broker, apiVersion } = ctx;
    const validAcks = req.acks === 0 || req.acks === 1 || req.acks === -1;
    const pending: Promise<ProduceResponsePartitionProduceResponse>[][] = [];
    for (const topicData of req.topicData) {
      const topic = broker.topics.byTopicName(topicData.name);
      pending.push(
        topicData.partitionData.map(async (pd) => {
          const base = partitionResponse(pd.index);
          if (!validAcks) return { ...base, errorCode: ErrorCode.INVALID_REQUIRED_ACKS, errorMessage: `acks must be -1, 0 or 1, got ${req.acks}` };
          if (!topic || pd.index < 0 || pd.index >= topic.partitions) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
          if (topic.internal) return { ...base, errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: `cannot produce to internal topic ${topic.name}` };
          const leader = broker.leaderOf(topic.topicId, pd.index);
          if (!leader || leader.nodeId !== broker.self.nodeId) {
            return {
              ...base,
              errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER,
              currentLeader: { leaderId: leader?.nodeId ?? -1, leaderEpoch: leader ? broker.leaderEpochOf(topic.topicId, pd.index) : -1 },
            };
          }
          // Transactional batches: the producer must be current and the partition in its open transaction.
          const txnCheck = req.transactionalId !== null ? broker.txn.produceCheck(req.transactionalId, topic, pd.index) : undefined;
          const r = await broker.partitions.produce(topic, pd.index, pd.records, apiVersion, txnCheck);
          return { ...base, errorCode: r.errorCode, errorMessage: r.errorMessage, baseOffset: r.baseOffset, logAppendTimeMs: r.logAppendTimeMs, logStartOffset: r.logStartOffset };
        }),
      );
    }
    const responses = await Promise.all(
      req.topicData.map(async (t, i) => ({ name: t.name, partitionResponses: await Promise.all(pending[i]!) })),
    );
    // The quota counts what the client sent, written or not (as Kafka's does).
    const throttleTimeMs = ctx.chargeQuota("producer_byte_rate", req.topicData.reduce((n, t) => n + t.partitionData.reduce((m, pd) => m + (pd.records?.length ?? 0), 0), 0));
    if (req.acks === 0) return null;
    return { responses, throttleTimeMs, nodeEndpoints: [] };
  },
});

function partitionResponse(index: number): ProduceResponsePartitionProduceResponse {
  return {
    index,
    errorCode: ErrorCode.NONE,
    baseOffset: -1n,
    logAppendTimeMs: -1n,
    logStartOffset: -1n,
    recordErrors: [],
    errorMessage: null,
    currentLeader: { leaderId: -1, leaderEpoch: -1 },
  };
}
