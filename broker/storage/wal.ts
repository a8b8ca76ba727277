import type { Pieces } from "./pieces.js";

/**
 * The write-ahead log: the only place acknowledged-but-not-yet-uploaded data lives.
 * Backends `file` (FileWal), `nfs` (NfsWal: FileWal on a shared folder) and `s3`
 * (ObjectWal) share this interface; wal.conformance.ts is the behaviour each must pass.
 *
 * A position is opaque and strictly increasing in append order, across restarts: FileWal
 * uses the byte offset of the record in its logical stream, ObjectWal
 * `(object sequence << 32) | index in the object`. Callers only compare positions and pass
 * `position + 1n` to trim().
 */
export type WalPosition = bigint;

export interface WalRecord {
  position: WalPosition;
  /** Broker epoch that wrote the record. */
  epoch: number;
  record: Buffer;
}

export interface Wal {
  /**
   * Resolves once the record is durable. Resolutions come strictly in append order.
   * A record may be passed in pieces (stored as their concatenation, without copying them
   * first); the caller must not change them until the promise settles. `checksum`, when
   * the caller knows it cheaply, is the CRC-32C of the record's bytes: the WAL then derives
   * its frame checksum from it instead of reading every byte again. A wrong one makes the
   * record fail its checksum on recovery, so pass only a checksum that is certainly right.
   */
  append(record: Pieces, checksum?: number): Promise<WalPosition>;
  /** The continuous, checksummed prefix found at open, in order. A torn tail was already truncated. */
  recover(): AsyncIterable<WalRecord>;
  /** Records whose position is below `upTo` are no longer needed and may be discarded. */
  trim(upTo: WalPosition): Promise<void>;
  /** Bytes held (durable and queued) that are not trimmed; bounded by the backend's maxBytes. */
  usedBytes(): number;
  /** Set once a newer owner took this WAL over (nfs, s3): this process can never write it again. */
  fencedBy?(): Error | null;
  close(): Promise<void>;
}

/** The WAL is at its size bound and nothing was trimmed yet: retriable (the uploader frees space). */
export class WalFullError extends Error {
  readonly retriable = true;
  constructor(message: string) {
    super(message);
    this.name = "WalFullError";
  }
}

/** The disk refused a write or sync (ENOSPC, EIO, ...). The affected appends are not durable; the WAL rolled back to its last good position. */
export class WalWriteError extends Error {
  readonly retriable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WalWriteError";
  }
}

/** The WAL holds records from a newer broker epoch: this process has been replaced and must not append. */
export class WalFencedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WalFencedError";
  }
}
