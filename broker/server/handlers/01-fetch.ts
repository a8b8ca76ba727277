// Fetch v4-17
// v4: isolation level, last stable offset, aborted transactions (record batch v2 only:
// v0-3 expect message formats 0/1 and are not advertised). read_committed reads stop at the
// last stable offset and carry the aborted transactions of the range read; the client drops
// their records and every control batch (markers are never records to a consumer).  v5: log start offset.
// v7: incremental fetch sessions (KIP-227).  v9: current leader epoch (KIP-320).
// v10: zstd.  v11: rack id, preferred read replica.  v12: flexible, diverging epoch.
// v13: topic ids replace names.  v15: replica state.  v16: node endpoints (KIP-951).
// v17: replica directory id.
// Long poll: when less than min.bytes is ready, wait up to max.wait.ms for an append to any
// requested partition, then read again.
import type { FetchRequest, FetchResponse, FetchResponsePartitionData } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { ZERO_UUID } from "../../protocol/primitives.js";
import { defineHandler, type RequestContext } from "../handler.js";
import { topicCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsFetchResponse, defaultsFetchResponseableTopicResponse, defaultsFetchResponsePartitionData } from "../../protocol/messages/index.js";
import { FINAL_EPOCH, INITIAL_EPOCH, partitionKey, type FetchSession, type SessionPartition } from "../fetch-sessions.js";
import { leadPartition } from "./partition-leader.js";
import { addressOn } from "../broker.js";

export const fetch = defineHandler<FetchRequest, FetchResponse>({
  apiKey: 1,
  minVersion: 4,
  maxVersion: 17,
  access: {
    kind: "needs",
    // v13+ names topics by id; an unknown id is left to the handler (UNKNOWN_TOPIC_ID).
    needs: (req, ctx) => req.topics.flatMap((t) => {
      const name = t.topic || ctx.broker.topics.byTopicId(t.topicId)?.name;
      return name ? [topicCheck(name, Op.READ)] : [];
    }),
    denied: (req, errorCode) => ({
      ...defaultsFetchResponse(),
      responses: req.topics.map((t) => ({
        ...defaultsFetchResponseableTopicResponse(),
        topic: t.topic,
        topicId: t.topicId,
        partitions: t.partitions.map((p) => ({ ...defaultsFetchResponsePartitionData(), partitionIndex: p.partition, errorCode })),
      })),
    }),
  },
  async handle(req, ctx) {
    const { broker, apiVersion } = ctx;
    const sessions = broker.fetchSessions;
    const empty = (errorCode: number, sessionId = 0): FetchResponse => ({ throttleTimeMs: 0, errorCode, sessionId, responses: [], nodeEndpoints: [] });

    // Work out which partitions this request covers, and whether it opens, continues or ends a session.
    let session: FetchSession | undefined;
    let incremental = false;
    if (apiVersion >= 7 && req.sessionId !== 0) {
      if (req.sessionEpoch === FINAL_EPOCH) {
        sessions.remove(req.sessionId);
      } else {
        session = sessions.get(req.sessionId);
        if (!session) return empty(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
        if (session.nextEpoch !== req.sessionEpoch) return empty(ErrorCode.INVALID_FETCH_SESSION_EPOCH);
        incremental = true;
      }
    } else if (apiVersion >= 7 && req.sessionEpoch !== INITIAL_EPOCH && req.sessionEpoch !== FINAL_EPOCH) {
      return empty(ErrorCode.INVALID_FETCH_SESSION_EPOCH);
    }
    const wanted = incremental ? session!.partitions : new Map<string, SessionPartition>();
    for (const t of req.topics) {
      const topic = apiVersion >= 13 ? broker.topics.byTopicId(t.topicId) : broker.topics.byTopicName(t.topic);
      const topicKey = topic ? topic.topicId : apiVersion >= 13 ? `id:${t.topicId}` : `name:${t.topic}`;
      for (const p of t.partitions) {
        const k = partitionKey(topicKey, p.partition);
        const existing = wanted.get(k);
        if (existing) {
          existing.fetchOffset = p.fetchOffset;
          existing.partitionMaxBytes = p.partitionMaxBytes;
          existing.currentLeaderEpoch = p.currentLeaderEpoch;
        } else {
          wanted.set(k, {
            key: topicKey,
            topicName: topic?.name ?? t.topic,
            topicId: topic?.topicId ?? (apiVersion >= 13 ? t.topicId : ZERO_UUID),
            partition: p.partition,
            fetchOffset: p.fetchOffset,
            partitionMaxBytes: p.partitionMaxBytes,
            currentLeaderEpoch: p.currentLeaderEpoch,
            sentHighWatermark: -2n,
            sentLogStartOffset: -2n,
          });
        }
      }
    }
    if (incremental) {
      for (const f of req.forgottenTopicsData) {
        const topic = apiVersion >= 13 ? broker.topics.byTopicId(f.topicId) : broker.topics.byTopicName(f.topic);
        const topicKey = topic ? topic.topicId : apiVersion >= 13 ? `id:${f.topicId}` : `name:${f.topic}`;
        for (const p of f.partitions) wanted.delete(partitionKey(topicKey, p));
      }
      session!.nextEpoch = session!.nextEpoch === 0x7fffffff ? 1 : session!.nextEpoch + 1;
    } else if (apiVersion >= 7 && req.sessionEpoch === INITIAL_EPOCH) {
      session = sessions.create();
      for (const [k, v] of wanted) session.partitions.set(k, v);
    }

    const maxWaitMs = Math.max(0, Math.min(req.maxWaitMs, broker.config.fetchMaxWaitMsCap));
    const deadline = Date.now() + maxWaitMs;
    const entries = [...wanted.values()];
    let result = await readPartitions(entries, req, ctx, incremental);
    while (result.bytes < Math.max(1, req.minBytes) && !result.answerNow && Date.now() < deadline) {
      const woken = await waitForAppend(entries, ctx, deadline - Date.now());
      if (!woken) break;
      result = await readPartitions(entries, req, ctx, incremental);
    }
    // Only what is actually sent counts as known to the client (earlier long-poll passes were discarded).
    for (const { entry, data } of result.partitions) {
      entry.sentHighWatermark = data.highWatermark;
      entry.sentLogStartOffset = data.logStartOffset;
    }
    if (session) {
      // Rotate partitions that returned data to the back, so a busy partition cannot starve the rest.
      for (const e of result.served) {
        const k = partitionKey(e.key, e.partition);
        session.partitions.delete(k);
        session.partitions.set(k, e);
      }
    }
    // Group partition results by topic, keeping request order.
    const byTopic = new Map<string, { topic: string; topicId: string; partitions: FetchResponsePartitionData[] }>();
    for (const { entry, data } of result.partitions) {
      let t = byTopic.get(entry.key);
      if (!t) {
        t = { topic: entry.topicName, topicId: entry.topicId, partitions: [] };
        byTopic.set(entry.key, t);
      }
      t.partitions.push(data);
    }
    broker.metrics.bytesOut.inc(result.bytes);
    for (const { entry, data } of result.partitions) if (data.records?.length) broker.partitions.traffic.add(entry.topicId, entry.partition, 0, data.records.length);
    const throttleTimeMs = ctx.chargeQuota("consumer_byte_rate", result.bytes);
    return { throttleTimeMs, errorCode: ErrorCode.NONE, sessionId: session?.id ?? 0, responses: [...byTopic.values()], nodeEndpoints: [] };
  },
});

interface ReadResult {
  partitions: { entry: SessionPartition; data: FetchResponsePartitionData }[];
  served: SessionPartition[];
  bytes: number;
  /** Something the client must hear without a long poll: an error, or a better replica to read from. */
  answerNow: boolean;
}

async function readPartitions(entries: SessionPartition[], req: FetchRequest, ctx: RequestContext, incremental: boolean): Promise<ReadResult> {
  const { broker } = ctx;
  const log = broker.partitions.log;
  const out: ReadResult = { partitions: [], served: [], bytes: 0, answerNow: false };
  let budget = req.maxBytes;
  for (const e of entries) {
    const data: FetchResponsePartitionData = {
      partitionIndex: e.partition,
      errorCode: ErrorCode.NONE,
      highWatermark: -1n,
      lastStableOffset: -1n,
      logStartOffset: -1n,
      divergingEpoch: { epoch: -1, endOffset: -1n },
      currentLeader: { leaderId: -1, leaderEpoch: -1 },
      snapshotId: { endOffset: -1n, epoch: -1 },
      abortedTransactions: null,
      preferredReadReplica: -1,
      records: null,
    };
    const topic = e.key.startsWith("name:") || e.key.startsWith("id:") ? undefined : broker.topics.byTopicId(e.topicId);
    const lead = leadPartition(broker, topic, e.partition, e.currentLeaderEpoch);
    const fromConsumer = req.replicaId < 0 && req.replicaState.replicaId < 0;
    // KIP-392 read replica: a consumer in this broker's zone reads committed data of a partition led elsewhere.
    if (lead.errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER && topic && fromConsumer && req.isolationLevel === 0 && broker.servesCommittedReads()) {
      const served = await readAsReplica(e, data, budget, ctx);
      budget -= served;
      out.bytes += served;
      if (data.errorCode !== ErrorCode.NONE) out.answerNow = true;
      out.partitions.push({ entry: e, data });
      if (served > 0) out.served.push(e);
      continue;
    }
    if (lead.errorCode !== ErrorCode.NONE) {
      const unknownId = ctx.apiVersion >= 13 && !topic;
      data.errorCode = unknownId ? ErrorCode.UNKNOWN_TOPIC_ID : lead.errorCode;
      if (lead.errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER || lead.errorCode === ErrorCode.FENCED_LEADER_EPOCH) {
        const leader = topic ? broker.leaderOf(topic.topicId, e.partition) : null;
        data.currentLeader = { leaderId: leader?.nodeId ?? -1, leaderEpoch: lead.leaderEpoch };
      }
      out.partitions.push({ entry: e, data });
      out.answerNow = true;
      continue;
    }
    const hw = log.highWatermark(e.topicId, e.partition);
    const start = log.logStartOffset(e.topicId, e.partition);
    const lso = log.lastStableOffset(e.topicId, e.partition);
    const readCommitted = req.isolationLevel === 1;
    data.highWatermark = hw;
    data.lastStableOffset = lso;
    data.logStartOffset = start;
    if (e.fetchOffset < start || e.fetchOffset > hw) {
      data.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
      out.partitions.push({ entry: e, data });
      out.answerNow = true;
      continue;
    }
    // A consumer in another zone that is catching up is sent to a broker in its own zone
    // (KIP-392); one at the tail of the committed objects stays here, where the newest data is.
    if (ctx.apiVersion >= 11 && req.rackId && fromConsumer && !readCommitted && e.fetchOffset < log.committedEnd(e.topicId, e.partition)) {
      const replica = broker.readReplicaFor(e.topicId, e.partition, req.rackId);
      // Only a broker the client can reach: one its Metadata (on this listener) lists.
      if (replica && replica.nodeId !== broker.self.nodeId && addressOn(replica, ctx.conn.listener)) {
        data.preferredReadReplica = replica.nodeId;
        data.records = Buffer.alloc(0);
        out.partitions.push({ entry: e, data });
        out.answerNow = true;
        continue;
      }
    }
    let records: Buffer | null = null;
    if (e.fetchOffset < hw && budget > 0) {
      const limit = Math.min(e.partitionMaxBytes, budget);
      let bytes: Buffer;
      try {
        bytes = await log.read(e.topicId, e.partition, e.fetchOffset, limit, readCommitted ? lso : undefined);
      } catch (err) {
        // A damaged object or an unreachable store: report it for this partition, never serve bad bytes.
        broker.logger.warn({ err, topicId: e.topicId, partition: e.partition, offset: e.fetchOffset.toString() }, "fetch could not read stored data");
        data.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
        out.partitions.push({ entry: e, data });
        out.answerNow = true;
        continue;
      }
      // KIP-74: the first non-empty partition returns at least one whole batch even when it is
      // larger than the limits, so a consumer can always make progress; later ones must fit.
      if (bytes.length > 0 && (out.bytes === 0 || bytes.length <= limit)) {
        records = bytes;
        budget -= bytes.length;
        out.bytes += bytes.length;
      }
    }
    data.records = records ?? Buffer.alloc(0);
    if (readCommitted) {
      data.abortedTransactions = records
        ? log.abortedTransactions(e.topicId, e.partition, e.fetchOffset, lso).map((a) => ({ producerId: a.producerId, firstOffset: a.firstOffset }))
        : [];
    }
    const changed = e.sentHighWatermark !== hw || e.sentLogStartOffset !== start;
    if (!incremental || records || changed) {
      out.partitions.push({ entry: e, data });
      if (records) out.served.push(e);
    }
  }
  return out;
}

/**
 * Serves a partition this broker does not lead from its committed objects (what the shared
 * metadata log says they hold), as a KIP-392 read replica. Beyond their end the answer is
 * OFFSET_OUT_OF_RANGE, which sends the consumer back to the leader. Returns the bytes served.
 */
async function readAsReplica(e: SessionPartition, data: FetchResponsePartitionData, budget: number, ctx: RequestContext): Promise<number> {
  const { broker } = ctx;
  const log = broker.partitions.log;
  const end = log.committedEnd(e.topicId, e.partition);
  const start = log.logStartOffset(e.topicId, e.partition);
  data.highWatermark = end;
  data.lastStableOffset = end;
  data.logStartOffset = start;
  data.records = Buffer.alloc(0);
  if (e.fetchOffset < start || e.fetchOffset > end) {
    data.errorCode = ErrorCode.OFFSET_OUT_OF_RANGE;
    return 0;
  }
  if (e.fetchOffset === end || budget <= 0) return 0;
  try {
    const bytes = await log.read(e.topicId, e.partition, e.fetchOffset, Math.min(e.partitionMaxBytes, budget), undefined, "objects");
    data.records = bytes;
    broker.metrics.readReplicaBytes.inc(bytes.length);
    return bytes.length;
  } catch (err) {
    broker.logger.warn({ err, topicId: e.topicId, partition: e.partition, offset: e.fetchOffset.toString() }, "read-replica fetch could not read stored data");
    data.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
    return 0;
  }
}

/** Resolves true on the first append to any of the partitions, false at the timeout. */
function waitForAppend(entries: SessionPartition[], ctx: RequestContext, timeoutMs: number): Promise<boolean> {
  const log = ctx.broker.partitions.log;
  return new Promise((resolve) => {
    const unsubscribe: (() => void)[] = [];
    let settled = false;
    const finish = (woken: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const u of unsubscribe) u();
      resolve(woken);
    };
    const timer = setTimeout(() => finish(false), Math.max(0, timeoutMs));
    for (const e of entries) {
      if (e.topicId === ZERO_UUID || e.key.includes(":")) continue;
      unsubscribe.push(log.onAppend(e.topicId, e.partition, () => finish(true)));
    }
  });
}
