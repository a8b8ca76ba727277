import type { Pieces } from "./pieces.js";

/**
 * The object store interface every backend implements (local folder, memory, S3).
 * It is deliberately S3-shaped: whole-object puts, ranged gets, lexicographic listing, and
 * the two conditional writes S3 offers (create-if-absent, compare-ETag). Fencing of the
 * metadata log and the controller lease rest on those conditions, so a backend that cannot
 * honour them atomically must not pretend to.
 */
export interface ObjectStore {
  /**
   * Throws PreconditionFailedError when `ifNoneMatch: "*"` finds the key, or `ifMatch` finds
   * another ETag (or no object). `body` is not copied: it must not change until put settles
   * (retries send it again). Pieces are stored as their concatenation.
   */
  put(key: string, body: ObjectBody, opts?: PutOptions): Promise<{ etag: string }>;
  /** `range.end` is inclusive and clamped to the object's end; null if the key is absent. */
  get(key: string, range?: ByteRange): Promise<{ body: Buffer; etag: string } | null>;
  head(key: string): Promise<{ size: number; etag: string } | null>;
  /** Idempotent: deleting an absent key succeeds. */
  delete(key: string): Promise<void>;
  /** Keys starting with `prefix`, in lexicographic order, strictly after `startAfter`, at most `limit`. */
  list(prefix: string, opts?: ListOptions): Promise<{ key: string; size: number }[]>;
}

/**
 * An object's bytes, whole or in pieces: an upload hands the store the cached batches
 * themselves, so a 24 MiB object costs no 24 MiB copy (nor the garbage collection after it).
 */
export type ObjectBody = Pieces;

export interface PutOptions {
  ifNoneMatch?: "*";
  ifMatch?: string;
  /**
   * CRC-32C of the body, when the caller has it without a pass over the bytes (an encoder
   * that derived it from its pieces' checksums). A store that checks uploads by CRC-32C
   * sends it instead of computing one; a wrong value makes the put fail, never store.
   */
  checksum?: number;
}

export interface ByteRange {
  start: number;
  /** Inclusive, like HTTP Range. */
  end: number;
}

export interface ListOptions {
  startAfter?: string;
  limit?: number;
}

export class PreconditionFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PreconditionFailedError";
  }
}

/** A range that starts beyond the object's end or ends before it starts (S3: 416 InvalidRange). */
export class InvalidRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidRangeError";
  }
}

/** Keys are S3 keys: non-empty, at most 1024 UTF-8 bytes. Backends may add their own rules. */
export function checkKey(key: string): void {
  if (key.length === 0) throw new Error("object key must not be empty");
  if (Buffer.byteLength(key, "utf8") > 1024) throw new Error(`object key longer than 1024 bytes: ${key.slice(0, 64)}...`);
}

export function checkRange(range: ByteRange, size: number, key: string): { start: number; end: number } {
  if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start) {
    throw new InvalidRangeError(`invalid range ${range.start}-${range.end} for ${key}`);
  }
  if (range.start >= size) throw new InvalidRangeError(`range ${range.start}-${range.end} starts beyond the ${size} bytes of ${key}`);
  return { start: range.start, end: Math.min(range.end, size - 1) };
}

export function checkPutOptions(opts: PutOptions | undefined): void {
  if (opts?.ifNoneMatch !== undefined && opts.ifMatch !== undefined) throw new Error("put: ifNoneMatch and ifMatch are mutually exclusive");
  if (opts?.ifNoneMatch !== undefined && opts.ifNoneMatch !== "*") throw new Error('put: ifNoneMatch only supports "*"');
}
