import type { Logger } from "pino";
import type { Clock } from "../storage/clock.js";
import type { MetadataLog, MetadataRecord } from "../storage/metadata-log.js";
import { planLeaders, planLoadSwaps, type LeaderMove, type PartitionLeadership } from "./assignment.js";
import { PartitionLoads, type LoadReport } from "./partition-load.js";
import { CLUSTER_RECORD_TYPES, partitionKey, type BrokerEntry, type ClusterRecord, type ClusterState } from "./cluster-state.js";
import { Membership, type BrokerRegistration, type HeartbeatAnswer } from "./membership.js";
import type { ControllerApi } from "./controller-rpc.js";

/**
 * The elected controller's work for membership and leadership (topics stay with
 * `controller.ts`): it answers registrations and heartbeats, declares silent brokers dead,
 * and writes leader changes planned by `assignment.ts`. Every change is a record appended
 * with the lease generation, checked against the state the log holds at that moment, so a
 * deposed controller's late appends fail the check or are voided by `ClusterState`.
 *
 * A dead broker's partitions stay where they are until its WAL has been recovered: by the
 * broker itself when it registers again (its `file` WAL replays on restart), or by any
 * broker for `nfs` and `s3` WALs, which records `wal-recovered`. Only then may they move,
 * so no acknowledged record that exists only in that WAL is ever skipped.
 */
export interface ClusterControllerOptions {
  log: MetadataLog;
  state: ClusterState;
  clock: Clock;
  generation: number;
  holder: string;
  sessionTimeoutMs: number;
  /** Every partition that exists now (from the topic registry). */
  partitions(): { topicId: string; partition: number }[];
  /**
   * Asks a live leader to give partitions up before they move (ADR 0003, graceful moves):
   * it stops accepting writes for them and uploads what its WAL holds, so the new leader
   * continues from the committed end and nothing acknowledged is left behind. Resolves
   * false (or throws) when the broker could not; those moves wait for the next round.
   * Without it, only partitions whose leader is gone (or none) may move.
   */
  release?(brokerId: number, partitions: { topicId: string; partition: number }[], generation: number): Promise<boolean>;
  /** Undoes a release whose move will not be written (the release failed or timed out): the broker may write again. Best effort. */
  resume?(brokerId: number, partitions: { topicId: string; partition: number }[], generation: number): Promise<void>;
  /**
   * Recovers a fenced broker's shared WAL (`nfs`, `s3`) and uploads it (`wal-salvage.ts`),
   * after which its partitions may move. Without it they wait for the broker to return.
   */
  recoverWal?(broker: BrokerEntry): Promise<void>;
  /**
   * Balancing by load (bytes in + out) on top of counts, from the rates brokers report with
   * heartbeats; without it, counts only. See `planLoadSwaps`.
   */
  loadBalance?: { thresholdRatio: number; minBytesPerSec: number; cooldownMs: number };
  logger?: Logger;
}

/** At most this many swaps (two moves each) per load round: load moves are gradual. */
export const LOAD_SWAPS_PER_ROUND = 4;

/** Bounds one metadata entry (about 100 bytes an assignment). */
export const LEADERS_PER_RECORD_MAX = 2000;

export class ControllerDeposedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ControllerDeposedError";
  }
}

export class ClusterController {
  readonly membership: Membership;
  private active = true;
  /**
   * Partitions a live leader released whose move this controller has not written yet (the
   * append failed). Their leader refuses writes until a leader record names someone, so
   * every round writes one for each: the planned move if it still stands, else the same
   * leader again with the next epoch (which lets it write again).
   */
  private readonly releasedUnwritten = new Map<string, LeaderMove>();
  private rebalancing: Promise<number> = Promise.resolve(0);
  /** Fenced brokers whose WAL is being recovered now: broker id → broker epoch. */
  private readonly recovering = new Map<number, number>();
  /** The traffic of every partition, as its leader last reported it. */
  readonly loads: PartitionLoads;
  /** When this controller first saw each partition's current leader epoch (rates measured before that are not the new leader's). */
  private readonly leaderSeen = new Map<string, { leaderEpoch: number; sinceMs: number }>();
  /** When each partition last moved, by this controller: it may not move for load within the cooldown. */
  private readonly movedAt = new Map<string, number>();
  private lastLoadRoundMs: number;
  /** Leader moves made for load (each swap is two). */
  loadMoves = 0;

  constructor(private readonly opts: ClusterControllerOptions) {
    this.membership = new Membership(opts.clock, opts.sessionTimeoutMs);
    this.loads = new PartitionLoads((topicId, partition) => this.leaderSince(topicId, partition), () => opts.clock.nowMs());
    this.lastLoadRoundMs = opts.clock.nowMs();
  }

  private leaderSince(topicId: string, partition: number): { leader: number; sinceMs: number } | null {
    const current = this.opts.state.leaderOf(topicId, partition);
    if (!current) return null;
    const k = partitionKey(topicId, partition);
    const seen = this.leaderSeen.get(k);
    if (seen?.leaderEpoch === current.leaderEpoch) return { leader: current.leader, sinceMs: seen.sinceMs };
    const sinceMs = this.opts.clock.nowMs();
    this.leaderSeen.set(k, { leaderEpoch: current.leaderEpoch, sinceMs });
    return { leader: current.leader, sinceMs };
  }

  /** Takes office: records the election, then learns the brokers the log knows. */
  async start(): Promise<void> {
    const { generation, holder } = this.opts;
    await this.write(() => ({ type: "controller-elected", generation, holder }));
    for (const b of this.opts.state.brokers()) {
      if (b.fenced) this.membership.noteEpoch(b.brokerEpoch);
      else this.membership.restore(b);
    }
    await this.rebalance();
  }

  /** Deposed (lease lost): refuse everything from now on. */
  stop(): void {
    this.active = false;
  }

  async register(reg: BrokerRegistration): Promise<{ brokerEpoch: number }> {
    const answer = await this.admit(reg);
    await this.rebalance();
    return answer;
  }

  /**
   * Records the registration and answers without waiting for the rebalance it causes: a
   * round waits for releases (WAL uploads on other brokers) and can outlast the broker's
   * call timeout, and a broker without an answer has no write lease, so it could not
   * acknowledge writes to the partitions that round gives it.
   */
  async admit(reg: BrokerRegistration): Promise<{ brokerEpoch: number }> {
    const member = this.membership.register(reg);
    const known = this.opts.state.broker(reg.id);
    if (!known || known.brokerEpoch !== member.brokerEpoch) {
      const { generation } = this.opts;
      await this.write(() => ({ type: "broker-registered", generation, id: reg.id, incarnationId: reg.incarnationId, brokerEpoch: member.brokerEpoch, zone: reg.zone, listeners: reg.listeners, walType: reg.walType, internalUrl: reg.internalUrl }));
    }
    return { brokerEpoch: member.brokerEpoch };
  }

  /** Starts a round without waiting for it (a round may wait seconds for releases). */
  private kickRebalance(): void {
    this.rebalance().catch((err: unknown) => {
      if (this.active) this.opts.logger?.warn({ err }, "rebalance failed; retried at the next tick");
    });
  }

  heartbeat(id: number, brokerEpoch: number, load?: LoadReport): HeartbeatAnswer {
    if (!this.active) return { ok: false, reason: "STALE_BROKER_EPOCH" };
    const answer = this.membership.heartbeat(id, brokerEpoch);
    if (answer.ok && load) this.loads.observe(id, load);
    return answer;
  }

  /** The busiest live broker's load over the mean (1: even; 0 before any rate is known). */
  loadImbalance(): number {
    const live = this.candidates().filter((c) => c.alive && !c.draining);
    if (live.length === 0 || !this.loads.known) return 0;
    const load = new Map(live.map((b) => [b.id, 0]));
    for (const p of this.opts.partitions()) {
      const leader = this.opts.state.leaderOf(p.topicId, p.partition)?.leader;
      if (leader !== undefined && load.has(leader)) load.set(leader, load.get(leader)! + this.loads.rateOf(p.topicId, p.partition));
    }
    const values = [...load.values()];
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    return mean > 0 ? Math.max(...values) / mean : 0;
  }

  /** Periodic work: declare silent brokers dead, then move what may move. */
  async tick(): Promise<void> {
    const { generation } = this.opts;
    for (const dead of this.membership.expire()) {
      this.opts.logger?.warn({ broker: dead.id, brokerEpoch: dead.brokerEpoch }, "broker missed its heartbeats; fenced");
      await this.write(() => ({ type: "broker-fenced", generation, id: dead.id, brokerEpoch: dead.brokerEpoch }));
    }
    this.recoverFencedWals();
    await this.rebalance();
  }

  /** Starts recovering the shared WAL of every fenced broker that still holds partitions back (in the background; one per broker). */
  private recoverFencedWals(): void {
    const recover = this.opts.recoverWal;
    if (!recover) return;
    for (const b of this.opts.state.brokers()) {
      if (!b.fenced || b.walRecovered || b.walType === "file" || this.recovering.has(b.id)) continue;
      this.recovering.set(b.id, b.brokerEpoch);
      const begun = this.opts.clock.nowMs();
      this.opts.logger?.info({ broker: b.id, brokerEpoch: b.brokerEpoch, walType: b.walType }, "recovering the WAL of a fenced broker");
      void recover(b)
        .then(async () => {
          if (!this.active) return;
          await this.walRecovered(b.id, b.brokerEpoch);
          this.opts.logger?.info({ broker: b.id, brokerEpoch: b.brokerEpoch, recoveryMs: this.opts.clock.nowMs() - begun }, "fenced broker's WAL recovered; its partitions may move");
        })
        .catch((err: unknown) => this.opts.logger?.warn({ err, broker: b.id }, "could not recover the fenced broker's WAL; retried at the next tick"))
        .finally(() => this.recovering.delete(b.id));
    }
  }

  /** A broker replayed a dead broker's shared WAL (nfs, s3) and uploaded it. */
  async walRecovered(id: number, brokerEpoch: number): Promise<void> {
    const { generation } = this.opts;
    await this.write(() => ({ type: "wal-recovered", generation, id, brokerEpoch }));
    await this.rebalance();
  }

  /** Scale-in: move every partition off the broker (it keeps serving until they are gone). */
  async drain(id: number, draining = true): Promise<boolean> {
    const found = await this.markDraining(id, draining);
    if (found) await this.rebalance();
    return found;
  }

  private async markDraining(id: number, draining: boolean): Promise<boolean> {
    const entry = this.opts.state.broker(id);
    if (!entry) return false;
    this.membership.setDraining(id, draining);
    const { generation } = this.opts;
    if (entry.draining !== draining) await this.write(() => ({ type: "broker-draining", generation, id, draining }));
    return true;
  }

  /** Partitions a broker still leads (a drain is complete at zero). */
  ledBy(id: number): number {
    return this.opts.partitions().filter((p) => this.opts.state.leaderOf(p.topicId, p.partition)?.leader === id).length;
  }

  /** The calls brokers make (`controller-rpc.ts`), each answer saying how far the log has gone. */
  api(): ControllerApi {
    const index = () => this.opts.log.lastIndex().toString();
    return {
      // Answered before the moves they start: a round can wait seconds for releases, longer than a broker waits for an answer.
      register: async (reg) => {
        const admitted = await this.admit(reg);
        this.kickRebalance();
        return { ...admitted, metadataIndex: index() };
      },
      heartbeat: async (id, brokerEpoch, load) => ({ ...this.heartbeat(id, brokerEpoch, load), metadataIndex: index() }),
      drain: async (id) => {
        const found = await this.markDraining(id, true);
        if (found) this.kickRebalance();
        return { found, partitionsLeft: found ? this.ledBy(id) : 0 };
      },
    };
  }

  /**
   * Plans leader moves and records each with the partition's next leader epoch. One round at
   * a time: two rounds planned from the same view would release from the same old leader
   * and write two moves, the second one taking the partition from the first new leader
   * without its release.
   */
  rebalance(): Promise<number> {
    const run = this.rebalancing.then(() => this.rebalanceNow());
    this.rebalancing = run.catch(() => 0);
    return run;
  }

  private async rebalanceNow(): Promise<number> {
    const { state } = this.opts;
    const movable: PartitionLeadership[] = [];
    for (const p of this.opts.partitions()) {
      const current = state.leaderOf(p.topicId, p.partition);
      const leader = current?.leader ?? -1;
      const owner = leader >= 0 ? state.broker(leader) : undefined;
      // Held: its leader died and the WAL that may hold its newest records is not yet recovered.
      if (owner?.fenced && !owner.walRecovered) continue;
      movable.push({ ...p, leader });
    }
    let planned = planLeaders(movable, this.candidates());
    const forLoad = planned.length === 0 && this.releasedUnwritten.size === 0 && this.loadRoundDue();
    if (forLoad) planned = this.planForLoad(movable);
    const moves = await this.released(planned);
    for (const m of moves) if (m.from >= 0) this.releasedUnwritten.set(partitionKey(m.topicId, m.partition), m);
    // Released earlier, not written, and no longer planned: give the partition back to its leader.
    const inPlan = new Set(moves.map((m) => partitionKey(m.topicId, m.partition)));
    for (const [k, m] of this.releasedUnwritten) {
      if (!inPlan.has(k) && state.leaderOf(m.topicId, m.partition)?.leader === m.from) moves.push({ ...m, to: m.from });
      else if (!inPlan.has(k)) this.releasedUnwritten.delete(k);
    }
    const { generation } = this.opts;
    // Many moves per record: a scale-out of thousands of partitions is a handful of appends.
    for (let i = 0; i < moves.length; i += LEADERS_PER_RECORD_MAX) {
      const chunk = moves.slice(i, i + LEADERS_PER_RECORD_MAX);
      await this.write(() => {
        // Only moves whose leader is still the one planned from (and released) are written.
        const still = chunk.filter((m) => (state.leaderOf(m.topicId, m.partition)?.leader ?? -1) === m.from);
        if (still.length === 0) return "nothing";
        return {
          type: "partition-leaders",
          generation,
          leaders: still.map((m) => ({ topicId: m.topicId, partition: m.partition, leader: m.to, leaderEpoch: (state.leaderOf(m.topicId, m.partition)?.leaderEpoch ?? -1) + 1 })),
        };
      });
      const now = this.opts.clock.nowMs();
      for (const m of chunk) {
        this.releasedUnwritten.delete(partitionKey(m.topicId, m.partition));
        // A first leader is not a move: only moves of led partitions start a cooldown.
        if (m.from >= 0) this.movedAt.set(partitionKey(m.topicId, m.partition), now);
      }
    }
    if (forLoad) this.loadMoves += moves.length;
    if (moves.length) this.opts.logger?.info({ moves: moves.length, forLoad, ...(forLoad ? { loadImbalance: Number(this.loadImbalance().toFixed(2)) } : {}) }, "moved partition leaders");
    return moves.length;
  }

  /** Load rounds run at most every tenth of the cooldown (and only once rates are known). */
  private loadRoundDue(): boolean {
    const lb = this.opts.loadBalance;
    if (!lb || !this.loads.known) return false;
    const now = this.opts.clock.nowMs();
    if (now - this.lastLoadRoundMs < lb.cooldownMs / 10) return false;
    this.lastLoadRoundMs = now;
    return true;
  }

  private planForLoad(movable: readonly PartitionLeadership[]): LeaderMove[] {
    const lb = this.opts.loadBalance!;
    const now = this.opts.clock.nowMs();
    const frozen = new Set<string>();
    for (const [k, at] of this.movedAt) {
      if (now - at < lb.cooldownMs) frozen.add(k);
      else this.movedAt.delete(k);
    }
    return planLoadSwaps(
      movable.filter((p) => p.leader >= 0),
      this.candidates(),
      (topicId, partition) => this.loads.rateOf(topicId, partition),
      { thresholdRatio: lb.thresholdRatio, minBytesPerSec: lb.minBytesPerSec, maxSwaps: LOAD_SWAPS_PER_ROUND, frozen },
    );
  }

  /** The moves that may be written now: from no leader, from a fenced one, or released by their live leader. */
  private async released(moves: LeaderMove[]): Promise<LeaderMove[]> {
    const byLeader = new Map<number, LeaderMove[]>();
    const free: LeaderMove[] = [];
    for (const m of moves) {
      const from = m.from >= 0 ? this.opts.state.broker(m.from) : undefined;
      if (!from || from.fenced || this.releasedUnwritten.has(partitionKey(m.topicId, m.partition))) free.push(m);
      else byLeader.set(m.from, [...(byLeader.get(m.from) ?? []), m]);
    }
    const asked = await Promise.all(
      [...byLeader].map(async ([id, list]) => {
        if (!this.opts.release) return [];
        const partitions = list.map(({ topicId, partition }) => ({ topicId, partition }));
        try {
          if (await this.opts.release(id, partitions, this.opts.generation)) return list;
        } catch (err) {
          this.opts.logger?.warn({ err, broker: id, partitions: list.length }, "broker did not release partitions; moves retried next round");
        }
        // It may have released some before failing: they will not move now, so it may write them again.
        await this.opts.resume?.(id, partitions, this.opts.generation).catch((err: unknown) => this.opts.logger?.warn({ err, broker: id }, "could not tell the broker to resume writes; it resumes when a new controller takes office"));
        return [];
      }),
    );
    return [...free, ...asked.flat()];
  }

  /** The planner may only pick brokers that are alive now and whose registration the log holds. */
  private candidates() {
    return this.membership.candidates().map((c) => {
      const entry = this.opts.state.broker(c.id);
      return { ...c, alive: c.alive && entry !== undefined && !entry.fenced };
    });
  }

  /** Appends what `build` makes from the latest log ("nothing": the change no longer applies). */
  private async write(build: () => ClusterRecord | "nothing"): Promise<void> {
    if (!this.active) throw new ControllerDeposedError("this broker is no longer the controller");
    const { state, generation } = this.opts;
    const done = await this.opts.log.appendChecked(() => {
      // A newer controller took office since: write nothing more.
      if (state.controllerGeneration > generation) return null;
      const record = build();
      return record === "nothing" ? null : (record as unknown as MetadataRecord);
    });
    if (!done && state.controllerGeneration > generation) {
      this.active = false;
      throw new ControllerDeposedError(`controller generation ${generation} was superseded by ${state.controllerGeneration}`);
    }
  }
}

/** Feeds every cluster record the log learns (own appends and others') into the state. */
export function followClusterRecords(log: MetadataLog, state: ClusterState): () => void {
  for (const r of log.records()) if (CLUSTER_RECORD_TYPES.has(r.type)) state.apply(r as unknown as ClusterRecord);
  return log.subscribe((r) => {
    if (CLUSTER_RECORD_TYPES.has(r.type)) state.apply(r as unknown as ClusterRecord);
  });
}
