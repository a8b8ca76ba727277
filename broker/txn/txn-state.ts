import { ErrorCode } from "../protocol/errors.js";

/**
 * The transaction coordinator's state for each transactional id, as a pure state machine.
 * Every change is a `TxnRecord` that the coordinator writes to `__transaction_state`
 * (through the WAL) before it answers; `apply` folds records in, live and on replay, so the
 * state after a restart is the state the last durable record left.
 *
 *   Empty --AddPartitions/AddOffsets--> Ongoing --EndTxn--> PrepareCommit | PrepareAbort
 *   Prepare* --markers written--> CompleteCommit | CompleteAbort --Add*--> Ongoing
 *
 * InitProducerId on an Ongoing transaction (a new producer instance) or a timed-out
 * transaction bumps the epoch, which fences the old producer, and aborts.
 */
export type TxnStatus = "Empty" | "Ongoing" | "PrepareCommit" | "PrepareAbort" | "CompleteCommit" | "CompleteAbort";

export interface TxnPartition {
  topic: string;
  partition: number;
}

export interface TxnRecord {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
  /** The epoch before the last bump, so a producer that bumped can retry (KIP-360); -1 if none. */
  lastProducerEpoch: number;
  timeoutMs: number;
  status: TxnStatus;
  partitions: TxnPartition[];
  /** Groups whose offsets ride on this transaction (AddOffsetsToTxn). */
  groups: string[];
  /** TxnOffsetCommit offsets, written to `__consumer_offsets` only when the transaction commits. */
  offsets: TxnOffset[];
  /** When the transaction started (first AddPartitions/AddOffsets), -1 when none is open. */
  startMs: number;
  updateMs: number;
}

export interface TxnOffset {
  groupId: string;
  topic: string;
  partition: number;
  offset: bigint;
  leaderEpoch: number;
  metadata: string | null;
}

export const PRODUCER_EPOCH_MAX = 32767;

/** What a request turns into: an error to answer, or records to persist and then act on. */
export type TxnDecision =
  | { kind: "error"; errorCode: number; message: string }
  | { kind: "ok"; record: TxnRecord | null };

export interface ProducerIdentity {
  producerId: bigint;
  producerEpoch: number;
}

const err = (errorCode: number, message: string): TxnDecision => ({ kind: "error", errorCode, message });

function key(p: TxnPartition): string {
  return `${p.topic}\u0000${p.partition}`;
}

export class TxnStateMachine {
  private readonly txns = new Map<string, TxnRecord>();

  constructor(readonly maxTimeoutMs: number) {}

  get(transactionalId: string): TxnRecord | undefined {
    return this.txns.get(transactionalId);
  }

  all(): TxnRecord[] {
    return [...this.txns.values()];
  }

  apply(record: TxnRecord): void {
    this.txns.set(record.transactionalId, record);
  }

  /** Drops the ids `which` selects (their `__transaction_state` partition moved to another broker); returns how many. */
  forget(which: (transactionalId: string) => boolean): number {
    let n = 0;
    for (const id of [...this.txns.keys()]) {
      if (!which(id)) continue;
      this.txns.delete(id);
      n++;
    }
    return n;
  }

  /**
   * InitProducerId with a transactional id. `allocate` hands out a fresh producer id (when
   * the id is new or the epoch is exhausted). `expected` is the v3+ producer id/epoch the
   * client already holds, or null.
   * Returns the record to persist; when the transaction was open, the record is a
   * PrepareAbort at the bumped epoch and the caller answers CONCURRENT_TRANSACTIONS after
   * finishing the abort, so the client retries and gets the bumped epoch.
   */
  initProducerId(transactionalId: string, timeoutMs: number, expected: ProducerIdentity | null, nowMs: number, allocate: () => bigint, fencedCode: number): TxnDecision {
    if (timeoutMs <= 0 || timeoutMs > this.maxTimeoutMs) {
      return err(ErrorCode.INVALID_TRANSACTION_TIMEOUT, `transaction.timeout.ms ${timeoutMs} must be in 1..${this.maxTimeoutMs} (transaction.max.timeout.ms)`);
    }
    const cur = this.txns.get(transactionalId);
    if (!cur) {
      return { kind: "ok", record: fresh(transactionalId, allocate(), timeoutMs, nowMs) };
    }
    if (cur.status === "PrepareCommit" || cur.status === "PrepareAbort") {
      return err(ErrorCode.CONCURRENT_TRANSACTIONS, `transaction ${transactionalId} is completing`);
    }
    if (expected && expected.producerId >= 0n) {
      const sameProducer = expected.producerId === cur.producerId;
      const retryOfBump = sameProducer && expected.producerEpoch === cur.lastProducerEpoch && cur.status !== "Ongoing";
      if (!sameProducer || (expected.producerEpoch !== cur.producerEpoch && !retryOfBump)) {
        return err(fencedCode, `producer ${expected.producerId} epoch ${expected.producerEpoch} is not the current producer of ${transactionalId}`);
      }
      if (retryOfBump) return { kind: "ok", record: null };
    }
    const bumped = bump(cur, allocate);
    if (cur.status === "Ongoing") {
      return { kind: "ok", record: { ...cur, ...bumped, status: "PrepareAbort", updateMs: nowMs } };
    }
    return { kind: "ok", record: { ...cur, ...bumped, timeoutMs, status: "Empty", partitions: [], groups: [], offsets: [], startMs: -1, updateMs: nowMs } };
  }

  /** AddPartitionsToTxn and AddOffsetsToTxn (`groups`). Returns null record when nothing is new. */
  add(transactionalId: string, who: ProducerIdentity, partitions: TxnPartition[], groups: string[], nowMs: number, fencedCode: number): TxnDecision {
    const checked = this.checkProducer(transactionalId, who, fencedCode);
    if (checked.kind === "error") return checked;
    const cur = checked.txn;
    if (cur.status === "PrepareCommit" || cur.status === "PrepareAbort") {
      return err(ErrorCode.CONCURRENT_TRANSACTIONS, `transaction ${transactionalId} is completing`);
    }
    const ongoing = cur.status === "Ongoing";
    const have = new Set((ongoing ? cur.partitions : []).map(key));
    const newPartitions = partitions.filter((p) => !have.has(key(p)));
    const haveGroups = new Set(ongoing ? cur.groups : []);
    const newGroups = groups.filter((g) => !haveGroups.has(g));
    if (ongoing && newPartitions.length === 0 && newGroups.length === 0) return { kind: "ok", record: null };
    return {
      kind: "ok",
      record: {
        ...cur,
        status: "Ongoing",
        partitions: [...(ongoing ? cur.partitions : []), ...dedupe(newPartitions)],
        groups: [...(ongoing ? cur.groups : []), ...new Set(newGroups)],
        offsets: ongoing ? cur.offsets : [],
        startMs: ongoing ? cur.startMs : nowMs,
        updateMs: nowMs,
      },
    };
  }

  /**
   * TxnOffsetCommit: holds the offsets in the transaction; a later offset for the same
   * group partition replaces the earlier one. The group must have been added first.
   */
  commitOffsets(transactionalId: string, who: ProducerIdentity, offsets: TxnOffset[], nowMs: number, fencedCode: number): TxnDecision {
    const checked = this.checkProducer(transactionalId, who, fencedCode);
    if (checked.kind === "error") return checked;
    const cur = checked.txn;
    if (cur.status !== "Ongoing") return err(ErrorCode.INVALID_TXN_STATE, `transaction ${transactionalId} is ${cur.status}; TxnOffsetCommit needs an open transaction`);
    const missing = offsets.find((o) => !cur.groups.includes(o.groupId));
    if (missing) return err(ErrorCode.INVALID_TXN_STATE, `group ${missing.groupId} was not added to transaction ${transactionalId} (AddOffsetsToTxn)`);
    const slot = (o: TxnOffset) => `${o.groupId}\u0000${o.topic}\u0000${o.partition}`;
    const merged = new Map(cur.offsets.map((o) => [slot(o), o]));
    for (const o of offsets) merged.set(slot(o), o);
    return { kind: "ok", record: { ...cur, offsets: [...merged.values()], updateMs: nowMs } };
  }

  /**
   * EndTxn. The record is the Prepare* state: once it is durable the caller writes markers
   * and then persists `complete(...)`. A retried EndTxn of a finished transaction answers
   * NONE with no record.
   */
  endTxn(transactionalId: string, who: ProducerIdentity, commit: boolean, nowMs: number, fencedCode: number): TxnDecision {
    const checked = this.checkProducer(transactionalId, who, fencedCode);
    if (checked.kind === "error") return checked;
    const cur = checked.txn;
    switch (cur.status) {
      case "Ongoing":
        return { kind: "ok", record: { ...cur, status: commit ? "PrepareCommit" : "PrepareAbort", updateMs: nowMs } };
      case "PrepareCommit":
      case "PrepareAbort":
        return err(ErrorCode.CONCURRENT_TRANSACTIONS, `transaction ${transactionalId} is completing`);
      case "CompleteCommit":
        return commit ? { kind: "ok", record: null } : err(ErrorCode.INVALID_TXN_STATE, `transaction ${transactionalId} was committed; it cannot be aborted`);
      case "CompleteAbort":
        return !commit ? { kind: "ok", record: null } : err(ErrorCode.INVALID_TXN_STATE, `transaction ${transactionalId} was aborted; it cannot be committed`);
      case "Empty":
        return err(ErrorCode.INVALID_TXN_STATE, `transaction ${transactionalId} has nothing to end`);
    }
  }

  /** The record that finishes a Prepare* transaction once every marker is durable. */
  complete(cur: TxnRecord, nowMs: number): TxnRecord {
    if (cur.status !== "PrepareCommit" && cur.status !== "PrepareAbort") throw new Error(`transaction ${cur.transactionalId} is ${cur.status}, not preparing`);
    return { ...cur, status: cur.status === "PrepareCommit" ? "CompleteCommit" : "CompleteAbort", partitions: [], groups: [], offsets: [], startMs: -1, updateMs: nowMs };
  }

  /**
   * Ongoing transactions older than their timeout: for each, a PrepareAbort record at a
   * bumped epoch, so the producer that let it expire is fenced.
   */
  expired(nowMs: number, allocate: () => bigint): TxnRecord[] {
    const out: TxnRecord[] = [];
    for (const t of this.txns.values()) {
      if (t.status !== "Ongoing" || nowMs - t.startMs < t.timeoutMs) continue;
      out.push({ ...t, ...bump(t, allocate), status: "PrepareAbort", updateMs: nowMs });
    }
    return out;
  }

  /** Transactions left in Prepare* (by a crash between the record and the markers). */
  unfinished(): TxnRecord[] {
    return this.all().filter((t) => t.status === "PrepareCommit" || t.status === "PrepareAbort");
  }

  private checkProducer(transactionalId: string, who: ProducerIdentity, fencedCode: number): { kind: "error"; errorCode: number; message: string } | { kind: "ok"; txn: TxnRecord } {
    const cur = this.txns.get(transactionalId);
    if (!cur) return { kind: "error", errorCode: ErrorCode.INVALID_PRODUCER_ID_MAPPING, message: `transactional id ${transactionalId} has no producer id; call InitProducerId first` };
    if (cur.producerId !== who.producerId) {
      return { kind: "error", errorCode: ErrorCode.INVALID_PRODUCER_ID_MAPPING, message: `producer ${who.producerId} is not the producer of ${transactionalId}` };
    }
    if (who.producerEpoch !== cur.producerEpoch) {
      return { kind: "error", errorCode: fencedCode, message: `producer ${who.producerId} epoch ${who.producerEpoch} is fenced by epoch ${cur.producerEpoch}` };
    }
    return { kind: "ok", txn: cur };
  }
}

function fresh(transactionalId: string, producerId: bigint, timeoutMs: number, nowMs: number): TxnRecord {
  return { transactionalId, producerId, producerEpoch: 0, lastProducerEpoch: -1, timeoutMs, status: "Empty", partitions: [], groups: [], offsets: [], startMs: -1, updateMs: nowMs };
}

/** The next epoch, or a new producer id at epoch 0 when the epoch is used up. */
function bump(cur: TxnRecord, allocate: () => bigint): Pick<TxnRecord, "producerId" | "producerEpoch" | "lastProducerEpoch"> {
  if (cur.producerEpoch >= PRODUCER_EPOCH_MAX - 1) return { producerId: allocate(), producerEpoch: 0, lastProducerEpoch: -1 };
  return { producerId: cur.producerId, producerEpoch: cur.producerEpoch + 1, lastProducerEpoch: cur.producerEpoch };
}

function dedupe(ps: TxnPartition[]): TxnPartition[] {
  const seen = new Map<string, TxnPartition>();
  for (const p of ps) seen.set(key(p), p);
  return [...seen.values()];
}

/** `__transaction_state` record layout (JSON, versioned): key `{"v":1,"t":id}`, value the record. */
export function encodeTxnRecord(r: TxnRecord): { key: Buffer; value: Buffer } {
  return {
    key: Buffer.from(JSON.stringify({ v: 1, t: r.transactionalId })),
    value: Buffer.from(JSON.stringify({ ...r, producerId: r.producerId.toString(), offsets: r.offsets.map((o) => ({ ...o, offset: o.offset.toString() })) })),
  };
}

export function decodeTxnRecord(key: Buffer, value: Buffer): TxnRecord {
  const k = JSON.parse(key.toString("utf8")) as { v: number; t: string };
  if (k.v !== 1) throw new Error(`__transaction_state key version ${k.v} is not supported`);
  const v = JSON.parse(value.toString("utf8")) as Omit<TxnRecord, "producerId" | "offsets"> & { producerId: string; offsets: (Omit<TxnOffset, "offset"> & { offset: string })[] };
  if (v.transactionalId !== k.t) throw new Error(`__transaction_state record for ${v.transactionalId} under key ${k.t}`);
  return { ...v, producerId: BigInt(v.producerId), offsets: v.offsets.map((o) => ({ ...o, offset: BigInt(o.offset) })) };
}
