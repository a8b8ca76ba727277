// TxnOffsetCommit v0-4
// v1: same as v0.  v2: CommittedLeaderEpoch.  v3: GenerationId, MemberId, GroupInstanceId
// (KIP-447), flexible, PRODUCER_FENCED.  v4: TRANSACTION_ABORTABLE.
// The offsets are held in the transaction and written to `__consumer_offsets` only when it
// commits, so OffsetFetch shows them exactly when the output they describe is visible.
// v3+: a consumer naming its member id and generation must still be that member of that
// generation (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID), which fences zombie
// consumers (KIP-447).
import type { TxnOffsetCommitRequest, TxnOffsetCommitResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck, topicCheck, transactionalIdCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { groupAccess } from "./group-access.js";
import { OFFSET_METADATA_BYTES_MAX } from "./08-offset-commit.js";
import { coordinatorCall, fencedCodeFor } from "./txn-access.js";
import type { TxnOffset } from "../../txn/txn-state.js";

export const txnOffsetCommit = defineHandler<TxnOffsetCommitRequest, TxnOffsetCommitResponse>({
  apiKey: 28,
  minVersion: 0,
  maxVersion: 4,
  access: {
    kind: "needs",
    needs: (req) => [transactionalIdCheck(req.transactionalId, Op.WRITE), groupCheck(req.groupId, Op.READ), ...req.topics.map((t) => topicCheck(t.name, Op.READ))],
    denied: (req, errorCode) => answer(req, () => errorCode),
  },
  async handle(req, ctx) {
    const { broker, apiVersion } = ctx;
    // Sent to the group's coordinator (as in Kafka); the offsets are held by the
    // transaction's coordinator, which may be another broker.
    const group = groupAccess(broker, req.groupId);
    if (group !== ErrorCode.NONE) return answer(req, () => group);
    if (!req.transactionalId) return answer(req, () => ErrorCode.INVALID_REQUEST);
    if (apiVersion >= 3) {
      const refusal = broker.groups.txnOffsetCommitRefusal({ groupId: req.groupId, generationId: req.generationId, memberId: req.memberId, groupInstanceId: req.groupInstanceId });
      if (refusal !== ErrorCode.NONE) return answer(req, () => refusal);
    }
    const errors = new Map<string, number>();
    const offsets: TxnOffset[] = [];
    for (const t of req.topics) {
      const topic = broker.topics.byTopicName(t.name);
      for (const p of t.partitions) {
        const k = `${t.name}\u0000${p.partitionIndex}`;
        if (!topic || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) errors.set(k, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        else if (p.committedMetadata !== null && Buffer.byteLength(p.committedMetadata) > OFFSET_METADATA_BYTES_MAX) errors.set(k, ErrorCode.OFFSET_METADATA_TOO_LARGE);
        else offsets.push({ groupId: req.groupId, topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, leaderEpoch: apiVersion >= 2 ? p.committedLeaderEpoch : -1, metadata: p.committedMetadata });
      }
    }
    let code: number = ErrorCode.NONE;
    if (offsets.length > 0) {
      const who = { producerId: req.producerId, producerEpoch: req.producerEpoch };
      code = (await coordinatorCall(broker, "TxnOffsetCommit", req.transactionalId, () => broker.txn.txnOffsetCommit(req.transactionalId, who, offsets, fencedCodeFor(apiVersion, 3)))).errorCode;
    }
    return answer(req, (topic, partition) => errors.get(`${topic}\u0000${partition}`) ?? code);
  },
});

function answer(req: TxnOffsetCommitRequest, codeOf: (topic: string, partition: number) => number): TxnOffsetCommitResponse {
  return {
    throttleTimeMs: 0,
    topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: codeOf(t.name, p.partitionIndex) })) })),
  };
}
