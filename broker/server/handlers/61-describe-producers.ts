// DescribeProducers v0
// The idempotent and transactional producers a partition leader knows (KIP-664): epoch,
// last sequence and timestamp, and the first offset of an open transaction (-1 if none).
import type { DescribeProducersRequest, DescribeProducersResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { topicCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { leadPartition } from "./partition-leader.js";

export const describeProducers = defineHandler<DescribeProducersRequest, DescribeProducersResponse>({
  apiKey: 61,
  minVersion: 0,
  maxVersion: 0,
  access: {
    kind: "needs",
    needs: (req) => req.topics.map((t) => topicCheck(t.name, Op.READ)),
    denied: (req, errorCode) => ({
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode, errorMessage: null, activeProducers: [] })) })),
    }),
  },
  handle(req, ctx) {
    const { broker } = ctx;
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => {
        const topic = broker.topics.byTopicName(t.name);
        return {
          name: t.name,
          partitions: t.partitionIndexes.map((partitionIndex) => {
            const lead = leadPartition(broker, topic, partitionIndex);
            if (lead.errorCode !== ErrorCode.NONE) return { partitionIndex, errorCode: lead.errorCode, errorMessage: null, activeProducers: [] };
            const open = new Map(broker.partitions.log.openTransactions(topic!.topicId, partitionIndex).map((o) => [o.producerId, o.firstOffset]));
            const activeProducers = broker.partitions.producerState(topic!.topicId, partitionIndex).snapshot().map((s) => ({
              producerId: s.producerId,
              producerEpoch: s.epoch,
              lastSequence: s.lastSeq,
              lastTimestamp: s.lastTimestampMs,
              coordinatorEpoch: -1,
              currentTxnStartOffset: open.get(s.producerId) ?? -1n,
            }));
            return { partitionIndex, errorCode: ErrorCode.NONE, errorMessage: null, activeProducers };
          }),
        };
      }),
    };
  },
});
