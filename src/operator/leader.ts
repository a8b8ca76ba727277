import type { Logger } from "pino";
import { KubeError, type KubeClient, type KubeObject } from "./kube/client.js";
import { R } from "./kube/resources.js";

/**
 * Leader election with a coordination.k8s.io Lease, optimistic concurrency doing the
 * fencing: a candidate takes the lease only if it is free or expired, and every write
 * carries the resourceVersion it read, so two replicas can never both win. A leader that
 * cannot renew within the lease duration stops leading at once.
 */
interface Lease extends KubeObject {
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewIntervalMs?: number;
  retryIntervalMs?: number;
}

const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private lastRenewMs = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
    private readonly callbacks: { onStartedLeading(): void; onStoppedLeading(): void },
    private readonly logger: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Gives the lease up (so a standby takes over at once) and stops trying. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leading) {
      this.leading = false;
      try {
        const lease = await this.client.get<Lease>(R.lease, this.opts.namespace, this.opts.name);
        if (lease.spec.holderIdentity === this.opts.identity) {
          await this.client.update(R.lease, { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1 } } as Lease);
        }
      } catch (err) {
        this.logger.debug({ err }, "could not release the lease");
      }
    }
  }

  private get durationMs() {
    return this.opts.leaseDurationMs ?? 15_000;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let held = false;
    try {
      held = await this.tryAcquireOrRenew();
    } catch (err) {
      this.logger.warn({ err }, "leader election: lease update failed");
    }
    const now = Date.now();
    if (held) {
      this.lastRenewMs = now;
      if (!this.leading) {
        this.leading = true;
        this.logger.info({ identity: this.opts.identity, lease: this.opts.name }, "became leader");
        this.callbacks.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenewMs >= this.durationMs * 0.8) {
      // Another replica may take over once our lease expires: stop before that can happen.
      this.leading = false;
      this.logger.warn({ identity: this.opts.identity }, "lost leadership");
      this.callbacks.onStoppedLeading();
    }
    if (this.stopped) return;
    const next = this.leading ? (this.opts.renewIntervalMs ?? this.durationMs / 3) : (this.opts.retryIntervalMs ?? 2000);
    this.timer = setTimeout(() => void this.tick(), next);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const seconds = Math.max(1, Math.round(this.durationMs / 1000));
    const lease = await this.client.getOrNull<Lease>(R.lease, this.opts.namespace, this.opts.name);
    if (!lease) {
      try {
        await this.client.create(R.lease, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: seconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      } catch (err) {
        if (err instanceof KubeError && err.isConflict) return false;
        throw err;
      }
    }
    const holder = lease.spec.holderIdentity;
    const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
    const expired = renewed + (lease.spec.leaseDurationSeconds ?? seconds) * 1000 < now.getTime();
    if (holder && holder !== this.opts.identity && !expired) return false;
    const takingOver = holder !== this.opts.identity;
    try {
      await this.client.update(R.lease, {
        ...lease,
        spec: {
          holderIdentity: this.opts.identity,
          leaseDurationSeconds: seconds,
          acquireTime: takingOver ? microTime(now) : lease.spec.acquireTime,
          renewTime: microTime(now),
          leaseTransitions: (lease.spec.leaseTransitions ?? 0) + (takingOver ? 1 : 0),
        },
      });
      return true;
    } catch (err) {
      if (err instanceof KubeError && err.isConflict) return false;
      throw err;
    }
  }
}
