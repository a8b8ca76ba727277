// ListOffsets v0-6
// v0: OldStyleOffsets (MaxNumOffsets).  v1: one offset with its timestamp.
// v2: isolation level: read_committed's latest offset is the last stable offset (the first
// offset of the oldest open transaction), read_uncommitted's the high watermark.  v4: current leader epoch (fencing).  v6: flexible.
// Not advertised: v7 (max timestamp), v8/v9 (tiered-storage offsets), v10 (async remote).
// A timestamp lookup answers with the first batch whose max timestamp is at or after the
// target; for uncompressed batches the exact record is found inside it.
import type { ListOffsetsRequest, ListOffsetsResponse, ListOffsetsResponsePartitionResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { firstRecordAtOrAfter } from "../../protocol/records.js";
import { defineHandler } from "../handler.js";
import { topicCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsListOffsetsResponse, defaultsListOffsetsResponsePartitionResponse } from "../../protocol/messages/index.js";
import { leadPartition } from "./partition-leader.js";

const LATEST = -1n;
const EARLIEST = -2n;

export const listOffsets = defineHandler<ListOffsetsRequest, ListOffsetsResponse>({
  apiKey: 2,
  minVersion: 0,
  maxVersion: 6,
  access: {
    kind: "needs",
    needs: (req) => req.topics.map((t) => topicCheck(t.name, Op.DESCRIBE)),
    denied: (req, errorCode) => ({
      ...defaultsListOffsetsResponse(),
      topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ ...defaultsListOffsetsResponsePartitionResponse(), partitionIndex: p.partitionIndex, errorCode })) })),
    }),
  },
  async handle(req, ctx) {
    const { broker } = ctx;
    const log = broker.partitions.log;
    const topics = await Promise.all(
      req.topics.map(async (t) => {
        const topic = broker.topics.byTopicName(t.name);
        const partitions = await Promise.all(
          t.partitions.map(async (p): Promise<ListOffsetsResponsePartitionResponse> => {
            const out: ListOffsetsResponsePartitionResponse = { partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE, oldStyleOffsets: [], timestamp: -1n, offset: -1n, leaderEpoch: -1 };
            const lead = leadPartition(broker, topic, p.partitionIndex, p.currentLeaderEpoch);
            if (lead.errorCode !== ErrorCode.NONE) return { ...out, errorCode: lead.errorCode };
            const id = topic!.topicId;
            let offset: bigint;
            let timestamp = -1n;
            if (p.timestamp === LATEST) offset = ctx.apiVersion >= 2 && req.isolationLevel === 1 ? log.lastStableOffset(id, p.partitionIndex) : log.highWatermark(id, p.partitionIndex);
            else if (p.timestamp === EARLIEST) offset = log.logStartOffset(id, p.partitionIndex);
            else if (p.timestamp < 0n) return { ...out, errorCode: ErrorCode.INVALID_REQUEST };
            else {
              const found = await log.offsetForTimestamp(id, p.partitionIndex, p.timestamp);
              if (!found) return ctx.apiVersion === 0 ? out : { ...out, leaderEpoch: lead.leaderEpoch };
              offset = found.offset;
              timestamp = found.timestamp;
              if (found.batch) {
                const exact = firstRecordAtOrAfter(found.batch, p.timestamp);
                if (exact) ({ offset, timestamp } = exact);
              }
            }
            if (ctx.apiVersion === 0) return { ...out, oldStyleOffsets: [offset] };
            return { ...out, offset, timestamp, leaderEpoch: lead.leaderEpoch };
          }),
        );
        return { name: t.name, partitions };
      }),
    );
    return { throttleTimeMs: 0, topics };
  },
});
