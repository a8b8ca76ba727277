// OffsetFetch v0-9
// v0-1: named partitions only; no top-level error code, so a group-level error is
// reported on every partition asked for.
// v2: null Topics = every committed offset of the group; top-level ErrorCode.
// v3: throttle time.  v5: CommittedLeaderEpoch.  v6: flexible.
// v7: RequireStable (KIP-447): a partition with offsets pending in an open transaction
// answers UNSTABLE_OFFSET_COMMIT (retriable) instead of its last committed offset; in a
// cluster every broker is asked, as any may coordinate the transaction (txn-rpc.ts).
// v8: batched Groups, each with its own error code.  v9: MemberId/MemberEpoch for
// KIP-848 groups (ignored: classic groups only).
// A partition without a committed offset answers offset -1, as Kafka does.
import type { OffsetFetchRequest, OffsetFetchResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck, topicCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsOffsetFetchResponse, defaultsOffsetFetchResponsePartition } from "../../protocol/messages/index.js";
import type { Broker } from "../broker.js";
import { groupAccess } from "./group-access.js";

interface Wanted {
  name: string;
  partitionIndexes: number[];
}

interface PartitionOffset {
  partitionIndex: number;
  committedOffset: bigint;
  committedLeaderEpoch: number;
  metadata: string | null;
  errorCode: number;
}

interface GroupOffsets {
  errorCode: number;
  topics: { name: string; partitions: PartitionOffset[] }[];
}

export const offsetFetch = defineHandler<OffsetFetchRequest, OffsetFetchResponse>({
  apiKey: 9,
  minVersion: 0,
  maxVersion: 9,
  access: {
    kind: "needs",
    needs: (req, ctx) =>
      ctx.apiVersion >= 8
        ? req.groups.flatMap((g) => [groupCheck(g.groupId, Op.DESCRIBE), ...(g.topics ?? []).map((t) => topicCheck(t.name, Op.DESCRIBE))])
        : [groupCheck(req.groupId, Op.DESCRIBE), ...(req.topics ?? []).map((t) => topicCheck(t.name, Op.DESCRIBE))],
    denied: (req, errorCode) => ({
      ...defaultsOffsetFetchResponse(),
      errorCode,
      // v0-1 have no top-level error code: the partitions asked for carry it.
      topics: (req.topics ?? []).map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ ...defaultsOffsetFetchResponsePartition(), partitionIndex, errorCode })) })),
      groups: req.groups.map((g) => ({ groupId: g.groupId, topics: [], errorCode })),
    }),
  },
  async handle(req, ctx) {
    const { broker } = ctx;
    const v = ctx.apiVersion;
    if (v >= 8) {
      return {
        throttleTimeMs: 0,
        topics: [],
        errorCode: ErrorCode.NONE,
        groups: await Promise.all(
          req.groups.map(async (g) => {
            const fetched = await fetchGroup(broker, g.groupId, g.topics, req.requireStable);
            return { groupId: g.groupId, topics: fetched.topics, errorCode: fetched.errorCode };
          }),
        ),
      };
    }
    // v0-1 cannot express "all topics"; an absent list there asks for nothing.
    const topics = v < 2 ? (req.topics ?? []) : req.topics;
    const fetched = await fetchGroup(broker, req.groupId, topics, v >= 7 && req.requireStable);
    if (v < 2 && fetched.errorCode !== ErrorCode.NONE) {
      const errorCode = fetched.errorCode;
      const partitions = (t: Wanted) => t.partitionIndexes.map((partitionIndex) => ({ ...noOffset(partitionIndex), errorCode }));
      return { throttleTimeMs: 0, topics: (topics ?? []).map((t) => ({ name: t.name, partitions: partitions(t) })), errorCode, groups: [] };
    }
    return { throttleTimeMs: 0, topics: fetched.topics, errorCode: fetched.errorCode, groups: [] };
  },
});

function noOffset(partitionIndex: number): PartitionOffset {
  return { partitionIndex, committedOffset: -1n, committedLeaderEpoch: -1, metadata: "", errorCode: ErrorCode.NONE };
}

/** One group's offsets for `topics` (null: all it has committed). */
async function fetchGroup(broker: Broker, groupId: string, topics: readonly Wanted[] | null, requireStable = false): Promise<GroupOffsets> {
  const access = groupAccess(broker, groupId);
  if (access !== ErrorCode.NONE) return { errorCode: access, topics: [] };
  const fetched = broker.groups.fetchOffsets(groupId, topics === null ? null : topics.map((t) => ({ name: t.name, partitionIndexes: t.partitionIndexes })));
  if (fetched.errorCode !== ErrorCode.NONE) return { errorCode: fetched.errorCode, topics: [] };
  let pending: Set<string> | "unknown" = new Set<string>();
  if (requireStable) {
    // A broker that cannot say what its transactions hold leaves every offset unstable; the client retries.
    pending = await broker.txn.pendingOffsets(groupId).catch((err: unknown) => {
      broker.logger.warn({ err, groupId }, "could not ask every broker for the group's pending transactional offsets; answering UNSTABLE_OFFSET_COMMIT");
      return "unknown" as const;
    });
  }
  const unstable = (topic: string, partition: number) => pending === "unknown" || pending.has(`${topic}\u0000${partition}`);
  return {
    errorCode: ErrorCode.NONE,
    topics: fetched.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        committedOffset: p.committedOffset,
        committedLeaderEpoch: p.committedLeaderEpoch,
        metadata: p.metadata,
        errorCode: unstable(t.name, p.partitionIndex) ? ErrorCode.UNSTABLE_OFFSET_COMMIT : p.errorCode,
      })),
    })),
  };
}
