import { createHash, randomBytes } from "node:crypto";
import { md5Yielding } from "./body-checksums.js";
import fs from "node:fs/promises";
import path from "node:path";
import { compareKeys } from "./memory-object-store.js";
import { checkKey, checkPutOptions, checkRange, PreconditionFailedError, type ByteRange, type ListOptions, type ObjectBody, type ObjectStore, type PutOptions } from "./object-store.js";
import { piecesOf } from "./pieces.js";

/**
 * Objects in a local folder: the embedded default for one broker on a laptop.
 *
 * Key → path: the key is split at `/`; every segment is percent-encoded
 * (encodeURIComponent, plus `.` at the start so `.`/`..` cannot appear); directories get the
 * suffix `.d` and files `.obj`, so key `a` and key `a/b` never collide as file and folder.
 * Temporary files live in `<root>/.tmp` (no suffix, so no key maps there).
 *
 * File layout: `[magic "FLO1"][md5 of body, 16 bytes][body]`. Keeping the ETag in the file
 * makes it atomic with the body and lets a ranged read answer without hashing the whole
 * object.
 *
 * Atomicity: a put writes a temporary file, fsyncs it, then
 *  - unconditional: rename() over the final name (atomic replace);
 *  - `ifNoneMatch: "*"`: link() to the final name, which fails with EEXIST if any writer (in
 *    any process) got there first, so exactly one racer wins;
 *  - `ifMatch`: under a per-key lock in this process, re-read the current ETag, then rename.
 *    Compare-ETag is therefore only atomic among writers in one process, which is what the
 *    local backend is for (one broker); shared stores use S3.
 * then fsyncs the directory so the new name survives a crash.
 */
const MAGIC = Buffer.from("FLO1", "latin1");
const HEADER_BYTES = MAGIC.length + 16;
const FILE_SUFFIX = ".obj";
const DIR_SUFFIX = ".d";
const TMP_DIR = ".tmp";

export class LocalObjectStore implements ObjectStore {
  private readonly locks = new Map<string, Promise<unknown>>();
  private ready: Promise<void> | null = null;

  constructor(readonly rootDir: string) {}

  async put(key: string, body: ObjectBody, opts?: PutOptions): Promise<{ etag: string }> {
    checkKey(key);
    checkPutOptions(opts);
    await this.init();
    const file = this.fileOf(key);
    const digest = await md5Yielding(body);
    const etag = digest.toString("hex");
    const tmp = path.join(this.rootDir, TMP_DIR, `${Date.now()}-${randomBytes(8).toString("hex")}`);
    await writeDurably(tmp, [MAGIC, digest, ...piecesOf(body)]);
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      if (opts?.ifNoneMatch === "*") {
        try {
          await fs.link(tmp, file);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new PreconditionFailedError(`put ${key}: object exists`);
          throw err;
        }
      } else {
        await this.withKeyLock(key, async () => {
          if (opts?.ifMatch !== undefined) {
            const current = await this.head(key);
            if (current?.etag !== opts.ifMatch) {
              throw new PreconditionFailedError(`put ${key}: ETag ${current?.etag ?? "(absent)"} does not match ${opts.ifMatch}`);
            }
          }
          await fs.rename(tmp, file);
        });
      }
      await fsyncDir(path.dirname(file));
    } finally {
      // After link() or a refused write the temporary name is still there; after rename() it is gone.
      await fs.rm(tmp, { force: true });
    }
    return { etag };
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Buffer; etag: string } | null> {
    checkKey(key);
    const fh = await openIfExists(this.fileOf(key));
    if (!fh) return null;
    try {
      const size = (await fh.stat()).size - HEADER_BYTES;
      const etag = await readHeader(fh, key);
      const r = range ? checkRange(range, size, key) : { start: 0, end: size - 1 };
      const length = r.end - r.start + 1;
      const body = Buffer.alloc(Math.max(0, length));
      await readFully(fh, body, HEADER_BYTES + r.start);
      return { body, etag };
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<{ size: number; etag: string } | null> {
    checkKey(key);
    const fh = await openIfExists(this.fileOf(key));
    if (!fh) return null;
    try {
      const size = (await fh.stat()).size - HEADER_BYTES;
      return { size, etag: await readHeader(fh, key) };
    } finally {
      await fh.close();
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    const file = this.fileOf(key);
    await this.withKeyLock(key, () => fs.rm(file, { force: true }));
  }

  async list(prefix: string, opts?: ListOptions): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = [];
    await this.walk(this.rootDir, "", prefix, out);
    out.sort((a, b) => compareKeys(a.key, b.key));
    const after = opts?.startAfter;
    const filtered = after === undefined ? out : out.filter((o) => compareKeys(o.key, after) > 0);
    return opts?.limit !== undefined ? filtered.slice(0, Math.max(0, opts.limit)) : filtered;
  }

  /** Descends only into folders that can hold keys with the prefix. */
  private async walk(dir: string, keyPrefix: string, prefix: string, out: { key: string; size: number }[]): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const e of entries) {
      if (e.isDirectory() && e.name.endsWith(DIR_SUFFIX)) {
        const sub = keyPrefix + decodeSegment(e.name.slice(0, -DIR_SUFFIX.length)) + "/";
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) await this.walk(path.join(dir, e.name), sub, prefix, out);
      } else if (e.isFile() && e.name.endsWith(FILE_SUFFIX)) {
        const key = keyPrefix + decodeSegment(e.name.slice(0, -FILE_SUFFIX.length));
        if (!key.startsWith(prefix)) continue;
        try {
          const st = await fs.stat(path.join(dir, e.name));
          out.push({ key, size: st.size - HEADER_BYTES });
        } catch (err) {
          // Deleted between readdir and stat: it is simply not listed.
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        }
      }
    }
  }

  private fileOf(key: string): string {
    const segments = key.split("/");
    if (segments.some((s) => s.length === 0)) throw new Error(`local object store: key ${JSON.stringify(key)} has an empty path segment`);
    const dirs = segments.slice(0, -1).map((s) => encodeSegment(s) + DIR_SUFFIX);
    return path.join(this.rootDir, ...dirs, encodeSegment(segments[segments.length - 1]!) + FILE_SUFFIX);
  }

  private init(): Promise<void> {
    this.ready ??= fs.mkdir(path.join(this.rootDir, TMP_DIR), { recursive: true }).then(() => undefined);
    return this.ready;
  }

  /** Serializes mutations of one key in this process (compare-ETag needs check+rename to be atomic). */
  private async withKeyLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }
}

function encodeSegment(s: string): string {
  // encodeURIComponent leaves `.` alone; a leading dot is encoded so `.`, `..` and our `.tmp` cannot be produced.
  const e = encodeURIComponent(s);
  return e.startsWith(".") ? "%2E" + e.slice(1) : e;
}

function decodeSegment(s: string): string {
  return decodeURIComponent(s);
}

async function openIfExists(file: string): Promise<fs.FileHandle | null> {
  try {
    return await fs.open(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

async function readHeader(fh: fs.FileHandle, key: string): Promise<string> {
  const header = Buffer.alloc(HEADER_BYTES);
  const { bytesRead } = await fh.read(header, 0, HEADER_BYTES, 0);
  if (bytesRead !== HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error(`local object store: ${key} has no valid header`);
  return header.subarray(MAGIC.length).toString("hex");
}

async function readFully(fh: fs.FileHandle, into: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await fh.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error("local object store: file shorter than its header says");
    done += bytesRead;
  }
}

/** Writes the parts one after another (vectored, never concatenated: a body is tens of MiB, and copying it would stall the event loop) and syncs. */
async function writeDurably(file: string, parts: Buffer[]): Promise<void> {
  const fh = await fs.open(file, "wx");
  try {
    let rest = parts.filter((p) => p.length > 0);
    while (rest.length > 0) {
      let { bytesWritten } = await fh.writev(rest);
      if (bytesWritten === 0) throw Object.assign(new Error(`write to ${file} made no progress`), { code: "EIO" });
      // A short write: drop what was written and go on from there.
      while (rest.length > 0 && bytesWritten >= rest[0]!.length) bytesWritten -= rest.shift()!.length;
      if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
