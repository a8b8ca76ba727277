// OffsetForLeaderEpoch v0-4
// v1: leader epoch in the result.  v2: current leader epoch (fencing).  v3: replica id
// (consumers send -1; the Java consumer validates its position only with v3+).  v4: flexible.
// The end offset of an epoch is where the next epoch starts. A partition's leader epoch
// changes only when leadership moves, which a single broker never does, so every epoch up
// to the current one ends at the log end offset; the epoch history arrives with partition
// moves (multi-broker clusters).
import type { OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { topicCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsOffsetForLeaderEpochResponse } from "../../protocol/messages/index.js";
import { leadPartition } from "./partition-leader.js";

export const offsetForLeaderEpoch = defineHandler<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse>({
  apiKey: 23,
  minVersion: 0,
  maxVersion: 4,
  access: {
    kind: "needs",
    needs: (req) => req.topics.map((t) => topicCheck(t.topic, Op.DESCRIBE)),
    denied: (req, errorCode) => ({
      ...defaultsOffsetForLeaderEpochResponse(),
      topics: req.topics.map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => ({ errorCode, partition: p.partition, leaderEpoch: -1, endOffset: -1n })) })),
    }),
  },
  handle(req, ctx) {
    const { broker } = ctx;
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => {
        const topic = broker.topics.byTopicName(t.topic);
        return {
          topic: t.topic,
          partitions: t.partitions.map((p) => {
            const lead = leadPartition(broker, topic, p.partition, p.currentLeaderEpoch);
            if (lead.errorCode !== ErrorCode.NONE) return { errorCode: lead.errorCode, partition: p.partition, leaderEpoch: -1, endOffset: -1n };
            if (p.leaderEpoch > lead.leaderEpoch) return { errorCode: ErrorCode.NONE, partition: p.partition, leaderEpoch: -1, endOffset: -1n };
            return {
              errorCode: ErrorCode.NONE,
              partition: p.partition,
              leaderEpoch: lead.leaderEpoch,
              endOffset: broker.partitions.log.highWatermark(topic!.topicId, p.partition),
            };
          }),
        };
      }),
    };
  },
});
