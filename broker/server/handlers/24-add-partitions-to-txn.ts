// AddPartitionsToTxn v0-3
// v1: same as v0.  v2: PRODUCER_FENCED.  v3: flexible.
// v4+ (KIP-890) batch several transactions and are sent by brokers only: not served.
// Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED
// (nothing is added), as Kafka answers.
import type { AddPartitionsToTxnRequest, AddPartitionsToTxnResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { topicCheck, transactionalIdCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { coordinatorCall, fencedCodeFor, txnAccess } from "./txn-access.js";

export const addPartitionsToTxn = defineHandler<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>({
  apiKey: 24,
  minVersion: 0,
  maxVersion: 3,
  access: {
    kind: "needs",
    needs: (req) => [transactionalIdCheck(req.v3AndBelowTransactionalId, Op.WRITE), ...req.v3AndBelowTopics.map((t) => topicCheck(t.name, Op.WRITE))],
    denied: (req, errorCode) => answer(req, () => errorCode, errorCode),
  },
  async handle(req, ctx) {
    const { broker, apiVersion } = ctx;
    const id = req.v3AndBelowTransactionalId;
    const access = txnAccess(broker, id);
    if (access !== ErrorCode.NONE) return answer(req, () => access);
    const unknown = new Set<string>();
    for (const t of req.v3AndBelowTopics) {
      const topic = broker.topics.byTopicName(t.name);
      for (const p of t.partitions) if (!topic || topic.internal || p < 0 || p >= topic.partitions) unknown.add(`${t.name}\u0000${p}`);
    }
    if (unknown.size > 0) return answer(req, (t, p) => (unknown.has(`${t}\u0000${p}`) ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.OPERATION_NOT_ATTEMPTED));
    const partitions = req.v3AndBelowTopics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.name, partition })));
    const who = { producerId: req.v3AndBelowProducerId, producerEpoch: req.v3AndBelowProducerEpoch };
    const r = await coordinatorCall(broker, "AddPartitionsToTxn", id, () => broker.txn.coordinator.addPartitions(id, who, partitions, fencedCodeFor(apiVersion, 2)));
    return answer(req, () => r.errorCode);
  },
});

function answer(req: AddPartitionsToTxnRequest, codeOf: (topic: string, partition: number) => number, topLevel = ErrorCode.NONE as number): AddPartitionsToTxnResponse {
  return {
    throttleTimeMs: 0,
    // Encoded from v4 only; v0-3 carry the code per partition.
    errorCode: topLevel,
    resultsByTransaction: [],
    resultsByTopicV3AndBelow: req.v3AndBelowTopics.map((t) => ({
      name: t.name,
      resultsByPartition: t.partitions.map((p) => ({ partitionIndex: p, partitionErrorCode: codeOf(t.name, p) })),
    })),
  };
}
