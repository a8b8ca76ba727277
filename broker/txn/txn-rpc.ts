import type { FastifyInstance } from "fastify";
import { postInternal, STATUS_NOT_OWNER } from "../cluster/internal-http.js";
import type { TxnOffset } from "./txn-state.js";

/**
 * Transaction calls between brokers of a cluster. A transactional id's coordinator leads its
 * `__transaction_state` partition, but the partitions it marks, the group whose offsets it
 * commits, and the broker a producer or consumer talks to may all be elsewhere:
 *
 * - `markers`: the coordinator asks a partition's leader to append a commit/abort marker;
 * - `offsets`: the coordinator hands a committed transaction's offsets to the group's coordinator;
 * - `verify`: a partition leader asks the coordinator whether a transactional batch may be
 *   written (the producer is current and its open transaction holds the partition);
 * - `offset-commit`: a group coordinator forwards TxnOffsetCommit to the transaction's coordinator;
 * - `pending-offsets`: a group coordinator asks which of a group's offsets wait in open transactions.
 *
 * A broker that does not own what is asked answers 421; callers retry (the coordinator's
 * ticker, or the client after a retriable error).
 */

export interface MarkerCall {
  topic: string;
  partition: number;
  producerId: string;
  producerEpoch: number;
  commit: boolean;
  coordinatorEpoch: number;
}

export interface OffsetsCall {
  groupId: string;
  offsets: WireOffset[];
}

export interface VerifyCall {
  transactionalId: string;
  producerId: string;
  producerEpoch: number;
  topic: string;
  partition: number;
}

export interface OffsetCommitCall {
  transactionalId: string;
  producerId: string;
  producerEpoch: number;
  offsets: WireOffset[];
  fencedCode: number;
}

type WireOffset = Omit<TxnOffset, "offset"> & { offset: string };

export interface Refusal {
  errorCode: number;
  message: string;
}

/** What the owner does for each call; `null` answers mean "not mine" (421). */
export interface TxnCallHandlers {
  marker(call: MarkerCall): Promise<void> | null;
  offsets(groupId: string, offsets: TxnOffset[]): Promise<void> | null;
  verify(call: VerifyCall): Refusal | null | "not-owner";
  offsetCommit(call: OffsetCommitCall & { offsetsDecoded: TxnOffset[] }): Promise<{ errorCode: number; errorMessage: string | null }> | null;
  pendingOffsets(groupId: string): string[];
}

const isInt = (v: unknown): v is number => Number.isInteger(v);
const isId = (v: unknown): v is string => typeof v === "string" && /^-?\d+$/.test(v);
const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0;

function offsetsProblem(v: unknown): string | null {
  if (!Array.isArray(v)) return "offsets must be an array";
  for (const o of v as Partial<WireOffset>[]) {
    if (!isName(o?.groupId) || !isName(o.topic) || !isInt(o.partition) || !isId(o.offset) || !isInt(o.leaderEpoch) || (o.metadata !== null && typeof o.metadata !== "string")) {
      return "each offset needs groupId, topic, partition, offset (decimal string), leaderEpoch and metadata";
    }
  }
  return null;
}

const decodeOffsets = (offsets: WireOffset[]): TxnOffset[] => offsets.map((o) => ({ ...o, offset: BigInt(o.offset) }));
const encodeOffsets = (offsets: TxnOffset[]): WireOffset[] => offsets.map((o) => ({ ...o, offset: o.offset.toString() }));

const PROBLEMS = {
  markers: (b: Partial<MarkerCall>) => (!isName(b.topic) || !isInt(b.partition) || !isId(b.producerId) || !isInt(b.producerEpoch) || typeof b.commit !== "boolean" || !isInt(b.coordinatorEpoch) ? "needs topic, partition, producerId, producerEpoch, commit and coordinatorEpoch" : null),
  offsets: (b: Partial<OffsetsCall>) => (!isName(b.groupId) ? "needs groupId" : offsetsProblem(b.offsets)),
  verify: (b: Partial<VerifyCall>) => (!isName(b.transactionalId) || !isId(b.producerId) || !isInt(b.producerEpoch) || !isName(b.topic) || !isInt(b.partition) ? "needs transactionalId, producerId, producerEpoch, topic and partition" : null),
  offsetCommit: (b: Partial<OffsetCommitCall>) => (!isName(b.transactionalId) || !isId(b.producerId) || !isInt(b.producerEpoch) || !isInt(b.fencedCode) ? "needs transactionalId, producerId, producerEpoch and fencedCode" : offsetsProblem(b.offsets)),
  pendingOffsets: (b: { groupId?: unknown }) => (typeof b.groupId !== "string" ? "needs groupId" : null),
};

export function txnRoutes(app: FastifyInstance, handlers: TxnCallHandlers): void {
  type Reply = { code(n: number): unknown };
  const route = <B>(url: string, problem: (b: Partial<B>) => string | null, run: (b: B, reply: Reply) => Promise<unknown>) => {
    app.post(url, async (req, reply) => {
      const body = (req.body ?? {}) as Partial<B>;
      const bad = problem(body);
      if (bad) {
        reply.code(400);
        return { error: `invalid call: ${bad}` };
      }
      try {
        return await run(body as B, reply);
      } catch (err) {
        reply.code(503);
        return { error: (err as Error).message };
      }
    });
  };
  const notOwner = (reply: Reply, what: string) => {
    reply.code(STATUS_NOT_OWNER);
    return { error: `this broker does not own ${what}` };
  };
  route<MarkerCall>("/internal/v1/txn/markers", PROBLEMS.markers, async (b, reply) => {
    const writing = handlers.marker(b);
    if (!writing) return notOwner(reply, `${b.topic}-${b.partition}`);
    await writing;
    return {};
  });
  route<OffsetsCall>("/internal/v1/txn/offsets", PROBLEMS.offsets, async (b, reply) => {
    const writing = handlers.offsets(b.groupId, decodeOffsets(b.offsets));
    if (!writing) return notOwner(reply, `group ${b.groupId}`);
    await writing;
    return {};
  });
  route<VerifyCall>("/internal/v1/txn/verify", PROBLEMS.verify, async (b, reply) => {
    const verdict = handlers.verify(b);
    if (verdict === "not-owner") return notOwner(reply, `transactional id ${b.transactionalId}`);
    return { refusal: verdict };
  });
  route<OffsetCommitCall>("/internal/v1/txn/offset-commit", PROBLEMS.offsetCommit, async (b, reply) => {
    const committing = handlers.offsetCommit({ ...b, offsetsDecoded: decodeOffsets(b.offsets) });
    if (!committing) return notOwner(reply, `transactional id ${b.transactionalId}`);
    return committing;
  });
  route<{ groupId: string }>("/internal/v1/txn/pending-offsets", PROBLEMS.pendingOffsets, async (b) => ({ pending: handlers.pendingOffsets(b.groupId) }));
}

/** The calling side: each call goes to one broker's internal URL. */
export const txnCalls = {
  marker: (url: string, call: MarkerCall, timeoutMs: number) => postInternal<object>(url, "/internal/v1/txn/markers", call, timeoutMs),
  offsets: (url: string, groupId: string, offsets: TxnOffset[], timeoutMs: number) => postInternal<object>(url, "/internal/v1/txn/offsets", { groupId, offsets: encodeOffsets(offsets) }, timeoutMs),
  verify: async (url: string, call: VerifyCall, timeoutMs: number) => (await postInternal<{ refusal: Refusal | null }>(url, "/internal/v1/txn/verify", call, timeoutMs)).refusal,
  offsetCommit: (url: string, call: Omit<OffsetCommitCall, "offsets"> & { offsets: TxnOffset[] }, timeoutMs: number) =>
    postInternal<{ errorCode: number; errorMessage: string | null }>(url, "/internal/v1/txn/offset-commit", { ...call, offsets: encodeOffsets(call.offsets) }, timeoutMs),
  pendingOffsets: async (url: string, groupId: string, timeoutMs: number) => (await postInternal<{ pending: string[] }>(url, "/internal/v1/txn/pending-offsets", { groupId }, timeoutMs)).pending,
};
