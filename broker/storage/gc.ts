import type { Logger } from "pino";
import type { StorageIndex } from "./log-store-index.js";
import type { ObjectStore } from "./object-store.js";

/**
 * Garbage collection of data objects, always off the commit path.
 *
 * Key layout (docs/architecture.md, "Object layout and lifecycle"):
 *   meta/log/<N>, meta/snapshot/<N>            metadata log (never touched here)
 *   objects/<writerId>/<seq>.sso               stream-set objects (uploader)
 *   objects/streams/<topicId>/<p>/<base>-<writerId>-<seq>.so   stream objects (compaction)
 * Only `objects/` is collected. Bucket lifecycle rules never expire it (live data); they
 * only abort incomplete multipart uploads and expire the reserved, empty `deleted/` prefix.
 *
 * 1. Pending deletions: objects the index no longer references (compacted away, dropped by
 *    retention, partition deleted) carry the time they became unreferenced. After
 *    `graceMs` (so reads holding an old block reference finish) they are deleted, then
 *    one `objects-deleted` metadata record says so (a crash in between only repeats the
 *    idempotent delete).
 * 2. Orphans: objects put but never committed (a crash between put and commit, an aborted
 *    compaction). The collector pages through `objects/` (bounded per run, resuming where
 *    it stopped) and deletes keys that no index entry references, that no upload or
 *    compaction of this process has in flight, and that it has seen unreferenced for at
 *    least `orphanGraceMs` (the store reports no creation time, so age is counted from the
 *    first sighting; a restart only delays deletion).
 *
 * The index must be complete: run it on the broker that sees every storage record (today
 * the single broker; with many brokers, the controller).
 */
export interface GcOptions {
  graceMs: number;
  orphanGraceMs: number;
  /** Bound on deletes per run (pending and orphans together). */
  deletesPerRun: number;
  /** Bound on keys listed per run. */
  listPerRun: number;
}

export interface GcHost {
  store: ObjectStore;
  index: StorageIndex;
  /** Keys put by this process whose commit is not yet applied. */
  inflight: ReadonlySet<string>;
  /** Appends and applies an `objects-deleted` record. */
  recordDeleted(keys: string[]): Promise<void>;
  logger?: Logger;
}

export const DATA_PREFIX = "objects/";
/**
 * Reserved for objects already decided dead (kept empty today). The one prefix the bucket's
 * lifecycle rules may expire; the operator's rule uses this constant.
 */
export const DELETION_PREFIX = "deleted/";

export class GarbageCollector {
  private cursor: string | undefined;
  private readonly unreferencedSince = new Map<string, number>();
  readonly stats = { objectsDeleted: 0, orphansDeleted: 0, runs: 0 };

  constructor(
    private readonly host: GcHost,
    private readonly opts: GcOptions,
  ) {}

  async runOnce(nowMs: number): Promise<{ deleted: string[]; orphans: string[] }> {
    this.stats.runs++;
    const { store, index, inflight } = this.host;
    let budget = this.opts.deletesPerRun;
    const deleted: string[] = [];
    for (const [key, since] of index.pending) {
      if (budget <= 0) break;
      if (nowMs - since < this.opts.graceMs || inflight.has(key)) continue;
      await store.delete(key);
      deleted.push(key);
      budget--;
    }
    if (deleted.length > 0) {
      await this.host.recordDeleted(deleted);
      this.stats.objectsDeleted += deleted.length;
    }
    const orphans: string[] = [];
    const page = await store.list(DATA_PREFIX, { startAfter: this.cursor, limit: this.opts.listPerRun });
    this.cursor = page.length < this.opts.listPerRun ? undefined : page[page.length - 1]!.key;
    for (const { key } of page) {
      const referenced = (index.objects.get(key)?.refs ?? 0) > 0 || index.pending.has(key) || inflight.has(key);
      if (referenced) {
        this.unreferencedSince.delete(key);
        continue;
      }
      const since = this.unreferencedSince.get(key);
      if (since === undefined) {
        this.unreferencedSince.set(key, nowMs);
        continue;
      }
      if (nowMs - since < this.opts.orphanGraceMs || budget <= 0) continue;
      // Re-check right before deleting: nothing may have started referencing it meanwhile.
      if ((index.objects.get(key)?.refs ?? 0) > 0 || inflight.has(key)) continue;
      if (!(await store.head(key))) {
        this.unreferencedSince.delete(key);
        continue;
      }
      if ((index.objects.get(key)?.refs ?? 0) > 0 || inflight.has(key)) continue;
      await store.delete(key);
      this.unreferencedSince.delete(key);
      orphans.push(key);
      budget--;
    }
    this.stats.orphansDeleted += orphans.length;
    if (deleted.length + orphans.length > 0) this.host.logger?.info({ deleted: deleted.length, orphans: orphans.length }, "garbage collected objects");
    return { deleted, orphans };
  }
}
