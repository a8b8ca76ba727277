import { createHash } from "node:crypto";
import { checkKey, checkPutOptions, checkRange, PreconditionFailedError, type ByteRange, type ListOptions, type ObjectBody, type ObjectStore, type PutOptions } from "./object-store.js";
import { piecesOf } from "./pieces.js";

/**
 * An in-memory object store for tests. Every call is atomic (no await inside), so
 * conditional writes are trivially linearizable. Buffers are copied in and out so a caller
 * mutating its buffer cannot change a stored object.
 */
export class MemoryObjectStore implements ObjectStore {
  private readonly objects = new Map<string, { body: Buffer; etag: string }>();

  async put(key: string, body: ObjectBody, opts?: PutOptions): Promise<{ etag: string }> {
    checkKey(key);
    checkPutOptions(opts);
    const existing = this.objects.get(key);
    if (opts?.ifNoneMatch === "*" && existing) throw new PreconditionFailedError(`put ${key}: object exists`);
    if (opts?.ifMatch !== undefined && existing?.etag !== opts.ifMatch) {
      throw new PreconditionFailedError(`put ${key}: ETag ${existing?.etag ?? "(absent)"} does not match ${opts.ifMatch}`);
    }
    const bytes = Buffer.concat(piecesOf(body));
    const etag = createHash("md5").update(bytes).digest("hex");
    this.objects.set(key, { body: bytes, etag });
    return { etag };
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Buffer; etag: string } | null> {
    checkKey(key);
    const o = this.objects.get(key);
    if (!o) return null;
    if (!range) return { body: Buffer.from(o.body), etag: o.etag };
    const r = checkRange(range, o.body.length, key);
    return { body: Buffer.from(o.body.subarray(r.start, r.end + 1)), etag: o.etag };
  }

  async head(key: string): Promise<{ size: number; etag: string } | null> {
    checkKey(key);
    const o = this.objects.get(key);
    return o ? { size: o.body.length, etag: o.etag } : null;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.objects.delete(key);
  }

  async list(prefix: string, opts?: ListOptions): Promise<{ key: string; size: number }[]> {
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix) && (opts?.startAfter === undefined || compareKeys(k, opts.startAfter) > 0)).sort(compareKeys);
    const limited = opts?.limit !== undefined ? keys.slice(0, Math.max(0, opts.limit)) : keys;
    return limited.map((key) => ({ key, size: this.objects.get(key)!.body.length }));
  }

  /** Test hook: flips one byte of a stored object in place (simulates bit rot). */
  corrupt(key: string, at: number): void {
    const o = this.objects.get(key);
    if (!o) throw new Error(`no object ${key}`);
    o.body[at] = o.body[at]! ^ 0xff;
  }
}

/** S3 orders keys by their UTF-8 bytes; Buffer.compare does the same. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
