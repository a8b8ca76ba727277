import type { Logger } from "pino";
import type { Clock } from "../storage/clock.js";
import { readLease } from "../storage/lease.js";
import type { MetadataLog } from "../storage/metadata-log.js";
import type { ObjectStore } from "../storage/object-store.js";
import { NotControllerError, parseHolder, type ControllerApi } from "./controller-rpc.js";
import type { BrokerRegistration, WriteLease } from "./membership.js";
import type { LoadReport } from "./partition-load.js";

/**
 * A broker's membership in the cluster: finds the controller through the lease object,
 * registers, heartbeats, and keeps its `WriteLease` renewed from the send time of each
 * accepted heartbeat. When an answer says the metadata log has moved past what this broker
 * has read, it catches up from the store. Any failure (controller moving, network) only
 * lets the write lease run down; a refused heartbeat revokes it and registers again.
 */
export interface MemberOptions {
  store: ObjectStore;
  leaseKey: string;
  registration: BrokerRegistration;
  clock: Clock;
  writeLease: WriteLease;
  log: MetadataLog;
  connect(url: string): ControllerApi;
  /** The traffic report due with this heartbeat, if any (`PartitionTraffic.reportIfDue`). */
  loadReport?(): LoadReport | null;
  logger?: Logger;
}

export class ClusterMember {
  private controller: { url: string; api: ControllerApi } | null = null;
  private brokerEpoch: number | null = null;
  /** Every broker epoch this process registered with (a WAL recovery of any of them means this process lost its WAL). */
  readonly epochs = new Set<number>();

  constructor(private readonly opts: MemberOptions) {}

  get epoch(): number | null {
    return this.brokerEpoch;
  }

  /** One registration or heartbeat; call it every heartbeat interval. */
  async tick(): Promise<void> {
    const { clock, writeLease, registration } = this.opts;
    try {
      const controller = await this.findController();
      if (!controller) return;
      const sentAt = clock.nowMs();
      if (this.brokerEpoch === null) {
        const answer = await controller.api.register(registration);
        this.brokerEpoch = answer.brokerEpoch;
        this.epochs.add(answer.brokerEpoch);
        writeLease.renewed(sentAt);
        this.opts.logger?.info({ brokerEpoch: answer.brokerEpoch, controller: controller.url }, "registered with the controller");
        await this.catchUpTo(answer.metadataIndex);
        return;
      }
      const answer = await controller.api.heartbeat(registration.id, this.brokerEpoch, this.opts.loadReport?.() ?? undefined);
      if (answer.ok) {
        writeLease.renewed(sentAt);
      } else {
        // Declared dead or restarted elsewhere: nothing may be acknowledged until registered again.
        writeLease.revoke();
        this.brokerEpoch = null;
        this.opts.logger?.warn({ reason: answer.reason }, "controller refused the heartbeat; registering again");
      }
      await this.catchUpTo(answer.metadataIndex);
    } catch (err) {
      if (!(err instanceof NotControllerError)) this.opts.logger?.debug({ err }, "controller call failed; retrying next tick");
      // Look the controller up again next time: it may have moved.
      this.controller = null;
    }
  }

  /** Asks the controller to drain this broker (move its partitions away). */
  async drain(): Promise<{ found: boolean; partitionsLeft: number }> {
    const controller = await this.findController();
    if (!controller) throw new Error("no controller is in office right now");
    try {
      return await controller.api.drain(this.opts.registration.id);
    } catch (err) {
      this.controller = null;
      throw err;
    }
  }

  private async findController(): Promise<{ url: string; api: ControllerApi } | null> {
    if (this.controller) return this.controller;
    const lease = await readLease(this.opts.store, this.opts.leaseKey);
    const holder = lease && lease.expiresAtMs > this.opts.clock.nowMs() ? parseHolder(lease.holder) : null;
    if (!holder) return null;
    this.controller = { url: holder.url, api: this.opts.connect(holder.url) };
    return this.controller;
  }

  private async catchUpTo(metadataIndex: string): Promise<void> {
    if (BigInt(metadataIndex) > this.opts.log.lastIndex()) await this.opts.log.catchUp();
  }
}
