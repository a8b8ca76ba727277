/**
 * A work queue of object keys with per-key exponential backoff, in the style of
 * client-go's rate-limited queue: a key is queued at most once, a key being processed is
 * never handed to a second worker, and a key added while processing is run again after.
 */
export interface QueueClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
}

const realClock: QueueClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirtyWhileProcessing = new Set<string>();
  private readonly delayed = new Map<string, unknown>();
  private readonly failures = new Map<string, number>();
  private waiters: ((key: string | null) => void)[] = [];
  private shuttingDown = false;

  constructor(private readonly baseDelayMs = 200, private readonly maxDelayMs = 300_000, private readonly clock: QueueClock = realClock) {}

  get depth(): number {
    return this.ready.length;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    const waiter = this.waiters.shift();
    if (waiter) {
      this.queued.delete(key);
      this.processing.add(key);
      waiter(key);
    } else this.ready.push(key);
  }

  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (this.delayed.has(key)) this.clock.clearTimeout(this.delayed.get(key));
    this.delayed.set(
      key,
      this.clock.setTimeout(() => {
        this.delayed.delete(key);
        this.add(key);
      }, ms),
    );
  }

  /** Retry later, waiting twice as long after each consecutive failure of the key. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** n);
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Next key to work on, or null once shut down. */
  get(): Promise<string | null> {
    if (this.shuttingDown) return Promise.resolve(null);
    const key = this.ready.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirtyWhileProcessing.delete(key)) this.add(key);
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.delayed.values()) this.clock.clearTimeout(t);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(null);
  }
}
