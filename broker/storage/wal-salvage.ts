import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { FileWal } from "./file-wal.js";
import { LogStore } from "./log-store.js";
import type { MetadataLog } from "./metadata-log.js";
import { NfsWal, nfsWalDir } from "./nfs-wal.js";
import { ObjectWal } from "./object-wal.js";
import type { ObjectStore } from "./object-store.js";

/**
 * Recovers a dead broker's shared WAL (`nfs` or `s3`) from another broker, so the dead
 * broker's partitions can move without waiting for it to come back (ADR 0003).
 *
 * 1. The fence of the dead broker's WAL is raised above its owner's epoch: if the owner is
 *    not dead but cut off (a zombie), its next group commit fails and it acknowledges
 *    nothing more.
 * 2. The WAL is read (read-only: nothing is truncated or trimmed) into a log store of its
 *    own on the shared object store and metadata log, which uploads what the objects lack,
 *    under the same index rules as any upload: only batches of the partitions' current
 *    leader epochs count (the dead broker still leads its partitions until this is done).
 * 3. The caller then records `wal-recovered`, and the controller may move the partitions.
 *
 * A `file` WAL is private to its broker and cannot be recovered elsewhere: the broker
 * replays it itself when it restarts.
 */
export interface SalvageOptions {
  walType: "nfs" | "s3";
  /** The dead broker's id (its WAL folder or prefix). */
  brokerId: number;
  /** `nfs`: root of the shared volume (FLOE_WAL_DIR). */
  sharedDir?: string;
  objectStore: ObjectStore;
  metadata: MetadataLog;
  /** The recovering broker, for object keys and logs. */
  selfId: number;
  logger?: Logger;
}

export interface SalvageResult {
  fenceEpoch: number;
  /** Bytes of acknowledged batches the objects lacked (what had to be uploaded). */
  pendingBytes: number;
  bytesUploaded: number;
  objectsUploaded: number;
  ms: number;
}

export async function salvageWal(opts: SalvageOptions): Promise<SalvageResult> {
  const begun = Date.now();
  const { brokerId, logger } = opts;
  let wal: FileWal | ObjectWal;
  let fenceEpoch: number;
  if (opts.walType === "nfs") {
    if (!opts.sharedDir) throw new Error(`cannot recover broker ${brokerId}'s nfs WAL: this broker has no FLOE_WAL_DIR for the shared volume`);
    const dir = nfsWalDir(opts.sharedDir, brokerId);
    fenceEpoch = (await FileWal.readFence(dir)) + 1;
    wal = await NfsWal.openForRecovery(dir, { fenceEpoch, logger });
  } else {
    fenceEpoch = (await ObjectWal.readFenceEpoch(opts.objectStore, brokerId)) + 1;
    wal = await ObjectWal.openForRecovery({ store: opts.objectStore, brokerId, fenceEpoch, logger });
  }
  const log = LogStore.create({
    objectStore: opts.objectStore,
    wal,
    walReadOnly: true,
    metadata: opts.metadata,
    epoch: fenceEpoch,
    writerId: `b${opts.selfId}-recovering-b${brokerId}-e${fenceEpoch}-${randomBytes(4).toString("hex")}`,
    logger: logger?.child({ component: "wal-salvage", broker: brokerId }),
    // Only the upload runs here: no timers of its own.
    uploadIntervalMs: 3_600_000,
    compactionIntervalMs: 0,
    retentionIntervalMs: 0,
    gcIntervalMs: 0,
  });
  try {
    await log.recover();
    const pendingBytes = log.statsSnapshot().uploadQueueBytes;
    await log.flush();
    return { fenceEpoch, pendingBytes, bytesUploaded: log.stats.bytesUploaded, objectsUploaded: log.stats.objectsUploaded, ms: Date.now() - begun };
  } finally {
    await log.close();
  }
}
