import { ErrorCode } from "../protocol/errors.js";
import type { Clock } from "../storage/clock.js";
import { TxnStateMachine, type ProducerIdentity, type TxnDecision, type TxnOffset, type TxnPartition, type TxnRecord } from "./txn-state.js";

/** What the coordinator needs from the rest of the broker; injected so tests can crash it anywhere. */
export interface TxnCoordinatorDeps {
  clock: Pick<Clock, "nowMs">;
  maxTimeoutMs: number;
  allocateProducerId(): Promise<bigint>;
  /** Durable (WAL-fsynced) append to `__transaction_state`. */
  persist(record: TxnRecord): Promise<void>;
  /** Appends a commit or abort marker to each partition; resolves once every marker is durable. */
  writeMarkers(partitions: TxnPartition[], producerId: bigint, producerEpoch: number, commit: boolean, transactionalId: string): Promise<void>;
  /** Writes a committed transaction's offsets to `__consumer_offsets`. */
  commitOffsets(offsets: TxnOffset[]): Promise<void>;
  /**
   * Whether this coordinator still owns the id (leads its `__transaction_state` partition).
   * A record made durable after the partition moved away is not applied here, and the
   * call fails (the client retries at the new owner, which replays it). Default: always.
   */
  owns?(transactionalId: string): boolean;
}

export interface InitResult {
  errorCode: number;
  errorMessage: string | null;
  producerId: bigint;
  producerEpoch: number;
}

export interface TxnResult {
  errorCode: number;
  errorMessage: string | null;
}

const OK: TxnResult = { errorCode: ErrorCode.NONE, errorMessage: null };

/**
 * Drives the state machine: each decision's record is made durable before it is applied
 * and answered. EndTxn, fencing and timeouts go Prepare* -> markers (and offsets) ->
 * Complete*; a crash anywhere in between leaves a Prepare* record that `resume` finishes.
 * Requests for one transactional id run one at a time.
 */
export class TxnCoordinator {
  readonly state: TxnStateMachine;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: TxnCoordinatorDeps) {
    this.state = new TxnStateMachine(deps.maxTimeoutMs);
  }

  async initProducerId(transactionalId: string, timeoutMs: number, expected: ProducerIdentity | null, fencedCode: number): Promise<InitResult> {
    return this.serial(transactionalId, async () => {
      // A fresh id is allocated before deciding (allocation is async); unused ids are simply skipped.
      const spare = await this.deps.allocateProducerId();
      const d = this.state.initProducerId(transactionalId, timeoutMs, expected, this.deps.clock.nowMs(), () => spare, fencedCode);
      if (d.kind === "error") return { errorCode: d.errorCode, errorMessage: d.message, producerId: -1n, producerEpoch: -1 };
      if (d.record?.status === "PrepareAbort") {
        // The previous producer left a transaction open: it is fenced and its work aborted;
        // the client retries and gets the next epoch.
        await this.commit(d.record);
        await this.finish(d.record);
        return { errorCode: ErrorCode.CONCURRENT_TRANSACTIONS, errorMessage: `aborting the open transaction of ${transactionalId}`, producerId: -1n, producerEpoch: -1 };
      }
      if (d.record) await this.commit(d.record);
      const cur = this.state.get(transactionalId)!;
      return { errorCode: ErrorCode.NONE, errorMessage: null, producerId: cur.producerId, producerEpoch: cur.producerEpoch };
    });
  }

  addPartitions(transactionalId: string, who: ProducerIdentity, partitions: TxnPartition[], fencedCode: number): Promise<TxnResult> {
    return this.serial(transactionalId, () => this.apply(this.state.add(transactionalId, who, partitions, [], this.deps.clock.nowMs(), fencedCode)));
  }

  addOffsets(transactionalId: string, who: ProducerIdentity, groupId: string, fencedCode: number): Promise<TxnResult> {
    return this.serial(transactionalId, () => this.apply(this.state.add(transactionalId, who, [], [groupId], this.deps.clock.nowMs(), fencedCode)));
  }

  txnOffsetCommit(transactionalId: string, who: ProducerIdentity, offsets: TxnOffset[], fencedCode: number): Promise<TxnResult> {
    return this.serial(transactionalId, () => this.apply(this.state.commitOffsets(transactionalId, who, offsets, this.deps.clock.nowMs(), fencedCode)));
  }

  endTxn(transactionalId: string, who: ProducerIdentity, commit: boolean, fencedCode: number): Promise<TxnResult> {
    return this.serial(transactionalId, async () => {
      const d = this.state.endTxn(transactionalId, who, commit, this.deps.clock.nowMs(), fencedCode);
      if (d.kind === "error") return { errorCode: d.errorCode, errorMessage: d.message };
      if (d.record) {
        await this.commit(d.record);
        await this.finish(d.record);
      }
      return OK;
    });
  }

  /** Aborts timed-out transactions and finishes any left preparing; call periodically. */
  async tick(): Promise<void> {
    const now = this.deps.clock.nowMs();
    const work: Promise<unknown>[] = [];
    for (const t of this.state.all()) {
      if (t.status === "Ongoing" && now - t.startMs >= t.timeoutMs && this.owns(t.transactionalId)) {
        work.push(
          this.serial(t.transactionalId, async () => {
            const spare = await this.deps.allocateProducerId();
            const [abort] = this.state.expired(this.deps.clock.nowMs(), () => spare).filter((r) => r.transactionalId === t.transactionalId);
            if (!abort) return;
            await this.commit(abort);
            await this.finish(abort);
          }),
        );
      }
    }
    await Promise.all([...work, this.resume()]);
  }

  /** Finishes transactions a crash (or a failed marker write) left in Prepare*. */
  async resume(): Promise<void> {
    await Promise.all(
      this.state.unfinished().filter((t) => this.owns(t.transactionalId)).map((t) =>
        this.serial(t.transactionalId, async () => {
          const cur = this.state.get(t.transactionalId);
          if (cur && (cur.status === "PrepareCommit" || cur.status === "PrepareAbort")) await this.finish(cur);
        }),
      ),
    );
  }

  private async apply(d: TxnDecision): Promise<TxnResult> {
    if (d.kind === "error") return { errorCode: d.errorCode, errorMessage: d.message };
    if (d.record) await this.commit(d.record);
    return OK;
  }

  private async commit(record: TxnRecord): Promise<void> {
    await this.deps.persist(record);
    // Moved meanwhile: the new owner replays this record and finishes what it started.
    if (!this.owns(record.transactionalId)) throw new Error(`transactional id ${record.transactionalId} moved to another coordinator`);
    this.state.apply(record);
  }

  private owns(transactionalId: string): boolean {
    return this.deps.owns?.(transactionalId) ?? true;
  }

  private async finish(prepared: TxnRecord): Promise<void> {
    const commit = prepared.status === "PrepareCommit";
    await this.deps.writeMarkers(prepared.partitions, prepared.producerId, prepared.producerEpoch, commit, prepared.transactionalId);
    if (commit && prepared.offsets.length > 0) await this.deps.commitOffsets(prepared.offsets);
    await this.commit(this.state.complete(prepared, this.deps.clock.nowMs()));
  }

  private serial<T>(transactionalId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(transactionalId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const settled = run.catch(() => undefined);
    this.queues.set(transactionalId, settled);
    void settled.then(() => {
      if (this.queues.get(transactionalId) === settled) this.queues.delete(transactionalId);
    });
    return run;
  }
}
