import type { Logger } from "pino";
import { KubeError, type KubeClient, type KubeObject, type ResourceRef } from "./kube/client.js";

export type InformerEvent = "added" | "modified" | "deleted";

/**
 * List, then watch, keeping a cache of one kind; relists when the watch expires (410) or
 * fails. Handlers get every change; a periodic resync re-delivers everything so a missed
 * event can never leave an object unreconciled for long.
 */
export class Informer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly abort = new AbortController();
  private synced = false;
  private running: Promise<void> | null = null;

  constructor(
    private readonly client: KubeClient,
    private readonly resource: ResourceRef,
    private readonly namespace: string | undefined,
    private readonly onEvent: (event: InformerEvent, obj: T) => void,
    private readonly logger: Logger,
    private readonly opts: { labelSelector?: string; resyncMs?: number } = {},
  ) {}

  static keyOf(obj: KubeObject): string {
    return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** Resolves after the first list has filled the cache. */
  async start(): Promise<void> {
    const first = await this.relist();
    this.running = this.loop(first);
    if (this.opts.resyncMs) {
      const timer = setInterval(() => {
        for (const obj of this.cache.values()) this.onEvent("modified", obj);
      }, this.opts.resyncMs);
      this.abort.signal.addEventListener("abort", () => clearInterval(timer));
    }
  }

  stop(): Promise<void> {
    this.abort.abort();
    return this.running ?? Promise.resolve();
  }

  private async relist(): Promise<string> {
    const res = await this.client.list<T>(this.resource, this.namespace, this.opts.labelSelector);
    const seen = new Set<string>();
    for (const item of res.items) {
      // List items omit apiVersion/kind.
      const obj = { ...item, apiVersion: this.resource.apiVersion } as T;
      const key = Informer.keyOf(obj);
      seen.add(key);
      const had = this.cache.has(key);
      this.cache.set(key, obj);
      this.onEvent(had ? "modified" : "added", obj);
    }
    for (const [key, obj] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.onEvent("deleted", obj);
      }
    }
    this.synced = true;
    return res.metadata.resourceVersion;
  }

  private async loop(resourceVersion: string): Promise<void> {
    let rv = resourceVersion;
    let backoffMs = 200;
    while (!this.abort.signal.aborted) {
      try {
        for await (const ev of this.client.watch<T>(this.resource, this.namespace, rv, this.abort.signal)) {
          backoffMs = 200;
          if (ev.type === "BOOKMARK") {
            rv = ev.object.metadata.resourceVersion ?? rv;
            continue;
          }
          const obj = ev.object;
          rv = obj.metadata.resourceVersion ?? rv;
          {
            const key = Informer.keyOf(obj);
            if (ev.type === "DELETED") {
              this.cache.delete(key);
              this.onEvent("deleted", obj);
            } else {
              this.cache.set(key, obj);
              this.onEvent(ev.type === "ADDED" ? "added" : "modified", obj);
            }
          }
        }
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (err instanceof KubeError && err.status === 410) {
          this.logger.debug({ resource: this.resource.plural }, "watch expired; relisting");
        } else {
          this.logger.warn({ err, resource: this.resource.plural }, "watch failed; relisting after backoff");
          await new Promise((r) => setTimeout(r, backoffMs));
          backoffMs = Math.min(backoffMs * 2, 30_000);
        }
        try {
          rv = await this.relist();
        } catch (relistErr) {
          this.logger.warn({ err: relistErr, resource: this.resource.plural }, "relist failed");
        }
      }
    }
  }
}
