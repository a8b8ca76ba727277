// OffsetCommit v0-9
// v0: no group membership (simple commit, as with an empty generation).
// v1: GenerationId and MemberId; a per-partition CommitTimestamp (ignored).
// v2-4: RetentionTimeMs (ignored: offsets live as long as the group, like Kafka >= 2.1).
// v3: throttle time.  v6: CommittedLeaderEpoch.  v7: GroupInstanceId.  v8: flexible.
// v9: same as v8 (KIP-848 member epochs are not used: classic groups only).
// Partitions of unknown topics are UNKNOWN_TOPIC_OR_PARTITION and are not committed;
// metadata longer than Kafka's default offset.metadata.max.bytes is OFFSET_METADATA_TOO_LARGE.
import type { OffsetCommitRequest, OffsetCommitResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck, topicCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsOffsetCommitResponse } from "../../protocol/messages/index.js";
import { groupAccess } from "./group-access.js";

export const OFFSET_METADATA_BYTES_MAX = 4096;

type TopicResult = OffsetCommitResponse["topics"][number];

export const offsetCommit = defineHandler<OffsetCommitRequest, OffsetCommitResponse>({
  apiKey: 8,
  minVersion: 0,
  maxVersion: 9,
  access: {
    kind: "needs",
    needs: (req) => [groupCheck(req.groupId, Op.READ), ...req.topics.map((t) => topicCheck(t.name, Op.READ))],
    denied: (req, errorCode) => ({
      ...defaultsOffsetCommitResponse(),
      topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) })),
    }),
  },
  async handle(req, ctx) {
    const { broker } = ctx;
    const v = ctx.apiVersion;
    const allFailed = (errorCode: number): OffsetCommitResponse => ({
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) })),
    });
    const access = groupAccess(broker, req.groupId);
    if (access !== ErrorCode.NONE) return allFailed(access);

    // Check each partition first; only valid ones reach the coordinator.
    const results: TopicResult[] = [];
    const errors = new Map<string, number>();
    const valid = [];
    for (const t of req.topics) {
      const topic = broker.topics.byTopicName(t.name);
      const partitions = [];
      for (const p of t.partitions) {
        let errorCode: number = ErrorCode.NONE;
        if (!topic || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        else if (p.committedMetadata !== null && Buffer.byteLength(p.committedMetadata) > OFFSET_METADATA_BYTES_MAX) errorCode = ErrorCode.OFFSET_METADATA_TOO_LARGE;
        if (errorCode !== ErrorCode.NONE) errors.set(`${t.name}\u0000${p.partitionIndex}`, errorCode);
        else partitions.push({ partitionIndex: p.partitionIndex, committedOffset: p.committedOffset, committedLeaderEpoch: v >= 6 ? p.committedLeaderEpoch : -1, committedMetadata: p.committedMetadata });
      }
      if (partitions.length > 0) valid.push({ name: t.name, partitions });
    }

    const committed = await broker.groups.commitOffsets({
      groupId: req.groupId,
      generationId: v >= 1 ? req.generationIdOrMemberEpoch : -1,
      memberId: v >= 1 ? req.memberId : "",
      groupInstanceId: v >= 7 ? req.groupInstanceId : null,
      topics: valid,
    });
    const codeOf = new Map<string, number>();
    for (const t of committed.topics) for (const p of t.partitions) codeOf.set(`${t.name}\u0000${p.partitionIndex}`, p.errorCode);
    for (const t of req.topics) {
      results.push({
        name: t.name,
        partitions: t.partitions.map((p) => {
          const key = `${t.name}\u0000${p.partitionIndex}`;
          return { partitionIndex: p.partitionIndex, errorCode: errors.get(key) ?? codeOf.get(key) ?? ErrorCode.NONE };
        }),
      });
    }
    return { throttleTimeMs: 0, topics: results };
  },
});
