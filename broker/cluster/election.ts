import type { Logger } from "pino";
import type { Clock } from "../storage/clock.js";
import { acquireLease, releaseLease } from "../storage/lease.js";
import type { ObjectStore } from "../storage/object-store.js";

/**
 * Controller election through the lease object in the object store (compare-ETag writes,
 * `storage/lease.ts`). Every broker runs one; `tick()` tries to take or renew the lease.
 * The holder stops acting as controller as soon as it cannot prove the lease is still its
 * own with a margin to spare (a renewal that failed, or one that is overdue), before any
 * other broker can take it: expiry is `ttlMs` after the last successful write.
 */
export interface ElectionOptions {
  store: ObjectStore;
  key: string;
  holder: string;
  ttlMs: number;
  /** Step down this long before the lease could expire (clock drift, slow requests). */
  marginMs: number;
  clock: Clock;
  logger?: Logger;
  onElected(generation: number): void;
  onDeposed(reason: string): void;
}

export class ControllerElection {
  private leading = false;
  private generation = 0;
  private validUntilMs = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly opts: ElectionOptions) {
    if (!(opts.marginMs >= 0 && opts.marginMs < opts.ttlMs / 2)) throw new Error(`marginMs must lie in [0, ttlMs/2), got ${opts.marginMs}`);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The lease generation while leading: the fencing token carried by the controller's records. */
  get leaderGeneration(): number {
    return this.leading ? this.generation : 0;
  }

  /** One attempt to take or renew the lease; runs one at a time. */
  tick(): Promise<void> {
    this.ticking ??= this.tickNow().finally(() => (this.ticking = null));
    return this.ticking;
  }

  private async tickNow(): Promise<void> {
    if (this.stopped) return;
    const { store, key, holder, ttlMs, marginMs, clock } = this.opts;
    const sentAt = clock.nowMs();
    try {
      const lease = await acquireLease(store, key, holder, ttlMs, clock);
      // Halted or stopped while the write was in flight: act on nothing.
      if (this.stopped) return;
      if (lease.acquired) {
        // The lease runs from the write, which happened no earlier than we asked for it.
        this.validUntilMs = sentAt + ttlMs - marginMs;
        if (!this.leading || this.generation !== lease.generation) {
          if (this.leading) this.depose(`lease generation moved from ${this.generation} to ${lease.generation}`);
          this.leading = true;
          this.generation = lease.generation;
          this.opts.logger?.info({ generation: lease.generation }, "elected controller");
          this.opts.onElected(lease.generation);
        }
      } else if (this.leading) {
        this.depose(`lease is held by ${lease.holder}`);
      }
    } catch (err) {
      this.opts.logger?.warn({ err }, "controller lease renewal failed");
    }
    this.checkExpiry();
  }

  /** Steps down once the lease may have lapsed without a renewal; call it often (tick does). */
  checkExpiry(): void {
    if (this.leading && this.opts.clock.nowMs() >= this.validUntilMs) this.depose("lease renewal is overdue");
  }

  private depose(reason: string): void {
    this.leading = false;
    this.validUntilMs = -Infinity;
    this.opts.logger?.warn({ generation: this.generation, reason }, "no longer controller");
    this.opts.onDeposed(reason);
  }

  /** Ticks every third of the lease's time to live. */
  start(): void {
    const every = Math.max(10, Math.floor(this.opts.ttlMs / 3));
    const loop = () => {
      void this.tick().finally(() => {
        if (this.timer) this.timer = setTimeout(loop, every);
      });
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Stops ticking and acting, but keeps the lease until it expires (as a crash would). */
  halt(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.leading) this.depose("halted");
  }

  /** Stops ticking and gives the lease up so another broker takes over at once. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
    this.stopped = true;
    if (this.leading) {
      this.leading = false;
      this.opts.onDeposed("stopping");
      await releaseLease(this.opts.store, this.opts.key, this.opts.holder).catch((err: unknown) => this.opts.logger?.warn({ err }, "could not release the controller lease"));
    }
  }
}
