import type { Clock } from "../storage/clock.js";
import type { BrokerCandidate } from "./assignment.js";
import type { AdvertisedListener } from "../server/broker.js";

/**
 * Who is in the cluster, as the controller sees it: registrations, heartbeats and the
 * session timeout, with no I/O (the controller records registrations in the metadata log
 * and answers the BrokerRegistration/BrokerHeartbeat requests from this state).
 *
 * A broker process gets a new broker epoch each time it registers with a new incarnation
 * id (a restart), so heartbeats from the process before a restart are told apart and
 * refused. A broker is alive while its last heartbeat is younger than the session timeout.
 */
export interface BrokerRegistration {
  id: number;
  /** Random per process start: a new one means the broker restarted. */
  incarnationId: string;
  zone: string;
  /** Every listener the broker advertises (one, named after its protocol, without FLOE_LISTENERS). */
  listeners: AdvertisedListener[];
  walType: "file" | "nfs" | "s3";
  /** Where the controller reaches this broker's HTTP port (partition releases). */
  internalUrl?: string;
}

export interface MemberState extends BrokerRegistration {
  brokerEpoch: number;
  lastHeartbeatMs: number;
  alive: boolean;
  draining: boolean;
}

export type HeartbeatAnswer = { ok: true } | { ok: false; reason: "UNKNOWN_BROKER" | "STALE_BROKER_EPOCH" };

export class Membership {
  private readonly members = new Map<number, MemberState>();
  private nextEpoch = 1;

  constructor(
    private readonly clock: Clock,
    readonly sessionTimeoutMs: number,
  ) {
    if (!(sessionTimeoutMs > 0)) throw new Error(`sessionTimeoutMs must be positive, got ${sessionTimeoutMs}`);
  }

  /** Registers (or re-registers) a broker; the same incarnation keeps its epoch, a new one gets a higher epoch. */
  register(reg: BrokerRegistration): MemberState {
    const now = this.clock.nowMs();
    const old = this.members.get(reg.id);
    // A re-sent registration from a live process keeps its epoch; a restart, or a process
    // already declared dead, gets a new one (its old heartbeats must not count again).
    const sameProcess = old !== undefined && old.alive && old.incarnationId === reg.incarnationId;
    const state: MemberState = {
      ...reg,
      brokerEpoch: sameProcess ? old.brokerEpoch : this.nextEpoch++,
      lastHeartbeatMs: now,
      alive: true,
      // A restarted broker starts fresh; a re-sent registration keeps a drain in progress.
      draining: sameProcess ? old.draining : false,
    };
    this.members.set(reg.id, state);
    return state;
  }

  /** Replays a registration recorded in the metadata log (after a controller change): known, but not yet heard from. */
  restore(reg: BrokerRegistration & { brokerEpoch: number; draining?: boolean }): void {
    this.noteEpoch(reg.brokerEpoch);
    // The new controller has heard nothing yet: give the broker one full session to heartbeat.
    this.members.set(reg.id, { ...reg, lastHeartbeatMs: this.clock.nowMs(), alive: true, draining: reg.draining ?? false });
  }

  /** An epoch the log already used (e.g. by a fenced broker): new registrations get higher ones. */
  noteEpoch(brokerEpoch: number): void {
    this.nextEpoch = Math.max(this.nextEpoch, brokerEpoch + 1);
  }

  heartbeat(id: number, brokerEpoch: number): HeartbeatAnswer {
    const m = this.members.get(id);
    if (!m) return { ok: false, reason: "UNKNOWN_BROKER" };
    if (m.brokerEpoch !== brokerEpoch) return { ok: false, reason: "STALE_BROKER_EPOCH" };
    // A broker already declared dead must register again: its partitions may have moved.
    if (!m.alive) return { ok: false, reason: "STALE_BROKER_EPOCH" };
    m.lastHeartbeatMs = this.clock.nowMs();
    return { ok: true };
  }

  /** Marks brokers whose session lapsed as dead; returns those that just died. */
  expire(): MemberState[] {
    const now = this.clock.nowMs();
    const died: MemberState[] = [];
    for (const m of this.members.values()) {
      if (m.alive && now - m.lastHeartbeatMs >= this.sessionTimeoutMs) {
        m.alive = false;
        died.push(m);
      }
    }
    return died;
  }

  setDraining(id: number, draining: boolean): boolean {
    const m = this.members.get(id);
    if (!m) return false;
    m.draining = draining;
    return true;
  }

  /** A broker that left for good (scale-in finished): forget it. */
  remove(id: number): void {
    this.members.delete(id);
  }

  get(id: number): MemberState | undefined {
    return this.members.get(id);
  }

  all(): MemberState[] {
    return [...this.members.values()].sort((a, b) => a.id - b.id);
  }

  /** The planner's view (`assignment.ts`). */
  candidates(): BrokerCandidate[] {
    return this.all().map((m) => ({ id: m.id, zone: m.zone, alive: m.alive, draining: m.draining }));
  }
}

/**
 * The broker's side of the session: it may acknowledge writes only while the controller
 * cannot yet have declared it dead. The controller's timer starts when a heartbeat
 * *arrives*, which is no earlier than when the broker *sent* it, so counting from the send
 * time (minus a margin for clock-rate drift and scheduling) always stops the broker first.
 * A partitioned (zombie) broker therefore stops acknowledging before its partitions move.
 */
export class WriteLease {
  private validUntilMs = -Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly sessionTimeoutMs: number,
    private readonly marginMs: number,
  ) {
    if (!(marginMs >= 0 && marginMs < sessionTimeoutMs)) throw new Error(`marginMs must lie in [0, sessionTimeoutMs), got ${marginMs}`);
  }

  /** A heartbeat sent at `sentAtMs` (this broker's clock) was accepted. */
  renewed(sentAtMs: number): void {
    this.validUntilMs = Math.max(this.validUntilMs, sentAtMs + this.sessionTimeoutMs - this.marginMs);
  }

  /** The controller refused a heartbeat (fenced, or restarted us): stop at once. */
  revoke(): void {
    this.validUntilMs = -Infinity;
  }

  canAcknowledge(): boolean {
    return this.clock.nowMs() < this.validUntilMs;
  }

  /** How long acknowledgements remain allowed, for metrics and logs (0 when lapsed). */
  remainingMs(): number {
    return Math.max(0, this.validUntilMs - this.clock.nowMs());
  }
}
