import path from "node:path";
import { FileWal, type FileWalOptions, type FileWalRecoveryOptions } from "./file-wal.js";

/**
 * The `nfs` WAL: the FileWal format, in one folder per broker on a shared RWX volume
 * (`<sharedDir>/<brokerId>/`), so any broker can read a dead broker's WAL.
 *
 * What a shared volume adds over a private disk:
 * - Fencing: the owner writes its epoch into `<dir>/fence` at open (temp file, fsync,
 *   rename, directory fsync) and re-reads it after every group's fdatasync, before the
 *   acknowledgement. A recovering broker raises the fence before it reads, so a zombie
 *   owner (partitioned, paused, not yet killed) stops acknowledging at its next group, and
 *   every group it acknowledged was durable before the recoverer read the folder.
 * - A new owner starts a fresh segment at open (`rollOnOpen`): it never writes into a file
 *   the previous owner may still hold open. Bytes a zombie writes after the takeover land
 *   beyond the start of the new segment and are ignored by every later recovery.
 * - Read-only recovery: `openForRecovery` lists records without truncating, renaming or
 *   writing anything (other than the fence, when asked).
 *
 * Assumed of the NFS mount (EFS, FSx for ONTAP/OpenZFS, NFSv4.1 servers):
 * - fsync/fdatasync returns only once the server has the data on stable storage (NFS
 *   COMMIT); EFS and NFSv4 servers honour this.
 * - rename within one directory is atomic on the server, so a reader sees the old fence
 *   or the new one, never a partial file.
 * - close-to-open consistency: opening a file revalidates it with the server, so the
 *   fence is re-read by open+read (not a possibly cached stat) and a recoverer that opens
 *   segment files after raising the fence sees every byte the owner fsynced before.
 *   Mounts with `nocto` or long `lookupcache` settings break this and must not be used.
 * - Takeovers of one broker id are serialised (one recoverer at a time, epochs strictly
 *   increasing): the fence file is not compare-and-swap, it stops zombies, not two
 *   recoverers racing each other. The multi-broker controller's lease provides that order.
 *
 * Residual window: a zombie may write (never acknowledge) one group after the fence rose;
 * it lands beyond the recovered prefix and is ignored. Until the controller's lease-based
 * fencing exists, a zombie also stops only at its next group commit, not at a deadline.
 */
export interface NfsWalOptions extends Omit<FileWalOptions, "dir" | "fencing" | "rollOnOpen"> {
  /** Root of the shared volume's WAL folders. */
  sharedDir: string;
  brokerId: number;
}

export function nfsWalDir(sharedDir: string, brokerId: number): string {
  if (!Number.isInteger(brokerId) || brokerId < 0) throw new Error(`nfs WAL: broker id ${brokerId} is not a non-negative integer`);
  return path.join(sharedDir, String(brokerId));
}

export const NfsWal = {
  /** Opens this broker's own WAL for appends, fencing any previous owner of a lower epoch. */
  open(opts: NfsWalOptions): Promise<FileWal> {
    const { sharedDir, brokerId, ...rest } = opts;
    return FileWal.open({ ...rest, dir: nfsWalDir(sharedDir, brokerId), fencing: true, rollOnOpen: true });
  },

  /**
   * Opens another broker's WAL folder read-only. With `fenceEpoch` (the recoverer's epoch
   * for that broker id, higher than the dead owner's), the fence is raised first so the
   * owner, if it is still alive, stops acknowledging.
   */
  openForRecovery(dir: string, opts: FileWalRecoveryOptions = {}): Promise<FileWal> {
    return FileWal.openForRecovery(dir, opts);
  },
};
