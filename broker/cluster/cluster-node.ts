import type { Logger } from "pino";
import type { Clock } from "../storage/clock.js";
import type { MetadataLog } from "../storage/metadata-log.js";
import type { ObjectStore } from "../storage/object-store.js";
import { ClusterController, type ClusterControllerOptions } from "./cluster-controller.js";
import type { ClusterState } from "./cluster-state.js";
import { HttpControllerClient, holderOf, type ControllerApi } from "./controller-rpc.js";
import { ControllerElection } from "./election.js";
import { ClusterMember, type MemberOptions } from "./member.js";
import { WriteLease, type BrokerRegistration } from "./membership.js";

/**
 * One broker's part in the cluster, put together: it stands for controller (election on
 * the lease object; while elected it runs the ClusterController and serves its calls), and
 * it is a member (registration, heartbeats, write lease). Every broker runs both; at most
 * one is controller at a time.
 */
export interface ClusterTimings {
  leaseTtlMs: number;
  leaseMarginMs: number;
  sessionTimeoutMs: number;
  writeLeaseMarginMs: number;
  heartbeatIntervalMs: number;
}

export const DEFAULT_CLUSTER_TIMINGS: ClusterTimings = { leaseTtlMs: 6000, leaseMarginMs: 1000, sessionTimeoutMs: 9000, writeLeaseMarginMs: 1500, heartbeatIntervalMs: 1000 };

export interface ClusterNodeOptions {
  store: ObjectStore;
  log: MetadataLog;
  state: ClusterState;
  clock: Clock;
  registration: BrokerRegistration;
  /** Where other brokers reach this one's internal HTTP port (controller calls). */
  internalUrl: string;
  timings?: ClusterTimings;
  partitions(): { topicId: string; partition: number }[];
  /** How the controller (when this broker is it) asks a live leader to give partitions up; see ClusterControllerOptions. */
  release?: ClusterControllerOptions["release"];
  resume?: ClusterControllerOptions["resume"];
  recoverWal?: ClusterControllerOptions["recoverWal"];
  /** This broker's traffic report, sent with a heartbeat when due. */
  loadReport?: MemberOptions["loadReport"];
  /** How the controller (when this broker is it) balances load; without it, counts only. */
  loadBalance?: ClusterControllerOptions["loadBalance"];
  logger?: Logger;
}

export const CONTROLLER_LEASE_KEY = "cluster/controller-lease";

/** The timings of a broker's cluster settings (margins derived: a sixth of what they guard). */
export function clusterTimingsOf(c: { controllerLeaseMs: number; brokerSessionTimeoutMs: number; heartbeatIntervalMs: number }): ClusterTimings {
  return {
    leaseTtlMs: c.controllerLeaseMs,
    leaseMarginMs: Math.floor(c.controllerLeaseMs / 6),
    sessionTimeoutMs: c.brokerSessionTimeoutMs,
    writeLeaseMarginMs: Math.floor(c.brokerSessionTimeoutMs / 6),
    heartbeatIntervalMs: c.heartbeatIntervalMs,
  };
}

export class ClusterNode {
  readonly writeLease: WriteLease;
  readonly member: ClusterMember;
  readonly election: ControllerElection;
  private controller: ClusterController | null = null;
  private api: ControllerApi | null = null;
  private timers: NodeJS.Timeout[] = [];
  private readonly timings: ClusterTimings;

  constructor(private readonly opts: ClusterNodeOptions) {
    this.timings = opts.timings ?? DEFAULT_CLUSTER_TIMINGS;
    const t = this.timings;
    if (t.leaseTtlMs >= t.sessionTimeoutMs) throw new Error("the controller lease must be shorter than the broker session, so a new controller can take over before brokers are declared dead");
    this.writeLease = new WriteLease(opts.clock, t.sessionTimeoutMs, t.writeLeaseMarginMs);
    this.member = new ClusterMember({ store: opts.store, leaseKey: CONTROLLER_LEASE_KEY, registration: opts.registration, clock: opts.clock, writeLease: this.writeLease, log: opts.log, connect: (url) => new HttpControllerClient(url, Math.max(2000, t.heartbeatIntervalMs * 2)), loadReport: opts.loadReport, logger: opts.logger });
    this.election = new ControllerElection({
      store: opts.store,
      key: CONTROLLER_LEASE_KEY,
      holder: holderOf(opts.registration.id, opts.internalUrl),
      ttlMs: t.leaseTtlMs,
      marginMs: t.leaseMarginMs,
      clock: opts.clock,
      logger: opts.logger,
      onElected: (generation) => void this.takeOffice(generation),
      onDeposed: () => this.leaveOffice(),
    });
  }

  /** The controller calls this broker serves right now (null unless it is the controller and in office). */
  controllerApi(): ControllerApi | null {
    return this.api;
  }

  get clusterController(): ClusterController | null {
    return this.controller;
  }

  /** Scale-in: asks the controller to move every partition off this broker; answers how many it still leads. */
  drain(): Promise<{ found: boolean; partitionsLeft: number }> {
    return this.member.drain();
  }

  start(): void {
    this.election.start();
    this.every(this.timings.heartbeatIntervalMs, () => this.member.tick());
    // While in office: declare silent brokers dead and move what may move.
    this.every(Math.max(100, Math.floor(this.timings.sessionTimeoutMs / 10)), async () => {
      this.election.checkExpiry();
      await this.controller?.tick().catch((err: unknown) => this.opts.logger?.warn({ err }, "controller tick failed"));
    });
  }

  /** Clean stop: give up the lease so another broker takes over at once. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    await this.election.stop();
    this.leaveOffice();
  }

  /** Stops every timer without telling anyone, as a crash or a lost network would. */
  halt(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.election.halt();
    this.leaveOffice();
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const slot = this.timers.length;
    const loop = () => {
      void fn().finally(() => {
        if (this.timers.length > slot) this.timers[slot] = setTimeout(loop, ms);
      });
    };
    this.timers.push(setTimeout(loop, 0));
  }

  private async takeOffice(generation: number): Promise<void> {
    const { log, state, clock, logger } = this.opts;
    await log.catchUp();
    const controller = new ClusterController({ log, state, clock, generation, holder: holderOf(this.opts.registration.id, this.opts.internalUrl), sessionTimeoutMs: this.timings.sessionTimeoutMs, partitions: this.opts.partitions, release: this.opts.release, resume: this.opts.resume, recoverWal: this.opts.recoverWal, loadBalance: this.opts.loadBalance, logger });
    try {
      await controller.start();
    } catch (err) {
      logger?.warn({ err, generation }, "could not take office as controller");
      return;
    }
    // Deposed while starting: stay out of office.
    if (this.election.leaderGeneration !== generation) return controller.stop();
    this.controller = controller;
    this.api = controller.api();
  }

  private leaveOffice(): void {
    this.controller?.stop();
    this.controller = null;
    this.api = null;
  }
}
