// OffsetDelete v0
// Deletes a group's committed offsets for partitions it is no longer subscribed to.
// Group-level errors (GROUP_ID_NOT_FOUND, NOT_COORDINATOR, ...) are top-level;
// GROUP_SUBSCRIBED_TO_TOPIC and UNKNOWN_TOPIC_OR_PARTITION are per partition.
import type { OffsetDeleteRequest, OffsetDeleteResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck, topicCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsOffsetDeleteResponse } from "../../protocol/messages/index.js";
import { groupAccess } from "./group-access.js";

export const offsetDelete = defineHandler<OffsetDeleteRequest, OffsetDeleteResponse>({
  apiKey: 47,
  minVersion: 0,
  maxVersion: 0,
  access: {
    kind: "needs",
    needs: (req) => [groupCheck(req.groupId, Op.DELETE), ...req.topics.map((t) => topicCheck(t.name, Op.READ))],
    denied: (req, errorCode) => ({
      ...defaultsOffsetDeleteResponse(),
      errorCode,
      topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) })),
    }),
  },
  async handle(req, ctx) {
    const { broker } = ctx;
    const access = groupAccess(broker, req.groupId);
    if (access !== ErrorCode.NONE) return { errorCode: access, throttleTimeMs: 0, topics: [] };
    const unknown = new Set<string>();
    const valid = [];
    for (const t of req.topics) {
      const topic = broker.topics.byTopicName(t.name);
      const partitions = [];
      for (const p of t.partitions) {
        if (!topic || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) unknown.add(`${t.name}\u0000${p.partitionIndex}`);
        else partitions.push(p.partitionIndex);
      }
      if (partitions.length > 0) valid.push({ name: t.name, partitionIndexes: partitions });
    }
    const deleted = await broker.groups.deleteOffsets(req.groupId, valid);
    if (deleted.errorCode !== ErrorCode.NONE) return { errorCode: deleted.errorCode, throttleTimeMs: 0, topics: [] };
    const codeOf = new Map<string, number>();
    for (const t of deleted.topics) for (const p of t.partitions) codeOf.set(`${t.name}\u0000${p.partitionIndex}`, p.errorCode);
    const topics = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        const key = `${t.name}\u0000${p.partitionIndex}`;
        return { partitionIndex: p.partitionIndex, errorCode: unknown.has(key) ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : (codeOf.get(key) ?? ErrorCode.NONE) };
      }),
    }));
    return { errorCode: ErrorCode.NONE, throttleTimeMs: 0, topics };
  },
});
