import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { PreconditionFailedError, type ObjectStore } from "./object-store.js";

/**
 * The cluster's metadata as a log of records kept in the object store itself.
 *
 * Entry N lives at `<prefix>log/<N, 20 digits>` and is written create-if-absent: whoever
 * writes N first owns it, so a deposed writer (an old controller) fails with
 * MetadataFencedError instead of forking the history. No clocks are involved.
 *
 * Snapshots at `<prefix>snapshot/<N, 20 digits>` hold the (compacted) records that
 * reproduce the state after entry N; replay starts from the newest snapshot and applies
 * the entries after it, so replay cost is bounded by `snapshotEveryEntries`.
 *
 * Bodies are JSON: `{"v":1,"index":"N","writer":"<nonce>","record":{...}}`. Records must be
 * JSON-safe (bigints as strings). The writer nonce lets a writer whose put failed
 * ambiguously (timeout after the write landed) recognise its own entry on retry.
 */
export interface MetadataRecord {
  type: string;
  [field: string]: unknown;
}

export class MetadataFencedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MetadataFencedError";
  }
}

/** A checked append lost the race for the next entry too many times in a row (retriable). */
export class MetadataContendedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MetadataContendedError";
  }
}

export interface MetadataLogOptions {
  store: ObjectStore;
  /** Key prefix, `meta/` by default. */
  prefix?: string;
  snapshotEveryEntries?: number;
  /** Shrinks the record list written into a snapshot (drop superseded records). Must keep replay equivalent. */
  compact?: (records: MetadataRecord[]) => MetadataRecord[];
  logger?: Logger;
}

const FORMAT_VERSION = 1;
const INDEX_DIGITS = 20;
const REPLAY_CONCURRENCY = 16;

export class MetadataLog {
  private readonly store: ObjectStore;
  private readonly prefix: string;
  private readonly snapshotEveryEntries: number;
  private readonly compact: (records: MetadataRecord[]) => MetadataRecord[];
  private readonly logger: Logger | undefined;
  private readonly writer = randomBytes(8).toString("hex");
  private state: MetadataRecord[] = [];
  private last = 0n;
  private snapshotIndex = 0n;
  private queue: Promise<unknown> = Promise.resolve();
  private fenced: Error | null = null;
  private snapshotting: Promise<void> | null = null;
  private readonly listeners = new Set<(record: MetadataRecord, index: bigint) => void>();

  private constructor(opts: MetadataLogOptions) {
    this.store = opts.store;
    this.prefix = opts.prefix ?? "meta/";
    this.snapshotEveryEntries = opts.snapshotEveryEntries ?? 1000;
    this.compact = opts.compact ?? ((r) => r);
    this.logger = opts.logger;
  }

  /** Opens the log and replays it from the store. */
  static async open(opts: MetadataLogOptions): Promise<MetadataLog> {
    const log = new MetadataLog(opts);
    const replayed = await log.read();
    log.state = replayed.records;
    log.last = replayed.lastIndex;
    log.snapshotIndex = replayed.snapshotIndex;
    return log;
  }

  /** The records that reproduce the current state, in order (snapshot records, then later entries). */
  records(): readonly MetadataRecord[] {
    return this.state;
  }

  /** Index of the newest entry (0 when the log is empty). */
  lastIndex(): bigint {
    return this.last;
  }

  /** Re-reads the log from the store (for example to catch up with another writer). */
  async replay(): Promise<MetadataRecord[]> {
    return (await this.read()).records;
  }

  /** Called for each entry this instance learns, its own appends and those caught up from other writers, in index order. */
  subscribe(listener: (record: MetadataRecord, index: bigint) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Appends entry lastIndex+1; resolves with its index once durable. Appends are serialized. */
  append(record: MetadataRecord): Promise<bigint> {
    const run = this.queue.then(() => this.appendNow(record));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Appends a record built against the latest state, as one of several writers (leaders
   * committing their own objects: ADR 0003). Losing the race for the next entry is not
   * fencing here: the entries other writers added are read (and passed to subscribers),
   * `build` runs again on the newer state, and the append is retried. `build` returns null
   * when the record no longer holds (e.g. its start offset is no longer the end); then
   * nothing is written and null is returned.
   */
  appendChecked(build: () => MetadataRecord | null, opts: { attemptsMax?: number } = {}): Promise<{ index: bigint; record: MetadataRecord } | null> {
    const run = this.queue.then(() => this.appendCheckedNow(build, opts.attemptsMax ?? 50));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Reads the entries other writers appended since `lastIndex()`; returns how many there were. */
  catchUp(): Promise<number> {
    const run = this.queue.then(() => this.catchUpNow());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Writes a snapshot at the current index; returns that index. */
  async snapshot(): Promise<bigint> {
    await this.queue;
    const index = this.last;
    if (index === 0n || index === this.snapshotIndex) return index;
    const compacted = this.compact([...this.state]);
    const body = Buffer.from(JSON.stringify({ v: FORMAT_VERSION, index: index.toString(), records: compacted }));
    try {
      await this.store.put(this.snapshotKey(index), body, { ifNoneMatch: "*" });
    } catch (err) {
      // Another writer snapshotted the same index: same history, so the same state.
      if (!(err instanceof PreconditionFailedError)) throw err;
    }
    if (index > this.snapshotIndex) {
      this.snapshotIndex = index;
      // Keep memory to what a replay would rebuild; entries appended meanwhile stay after the compacted prefix.
      const appendedSince = Number(this.last - index);
      this.state = [...compacted, ...this.state.slice(this.state.length - appendedSince)];
    }
    return index;
  }

  private async appendNow(record: MetadataRecord): Promise<bigint> {
    if (this.fenced) throw new MetadataFencedError(`metadata log is fenced: ${this.fenced.message}`);
    if (typeof record.type !== "string") throw new Error("metadata record needs a string type");
    const index = this.last + 1n;
    const body = Buffer.from(JSON.stringify({ v: FORMAT_VERSION, index: index.toString(), writer: this.writer, record }));
    const key = this.entryKey(index);
    try {
      await this.store.put(key, body, { ifNoneMatch: "*" });
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      const existing = await this.store.get(key);
      if (!existing?.body.equals(body)) {
        this.fenced = err;
        throw new MetadataFencedError(`metadata entry ${index} was written by another writer; this writer is deposed`);
      }
      // Our own earlier attempt landed (ambiguous failure then retry): it counts.
    }
    this.learn(record, index);
    return index;
  }

  private async appendCheckedNow(build: () => MetadataRecord | null, attemptsMax: number): Promise<{ index: bigint; record: MetadataRecord } | null> {
    if (this.fenced) throw new MetadataFencedError(`metadata log is fenced: ${this.fenced.message}`);
    for (let attempt = 1; attempt <= attemptsMax; attempt++) {
      await this.catchUpNow();
      const record = build();
      if (record === null) return null;
      if (typeof record.type !== "string") throw new Error("metadata record needs a string type");
      const index = this.last + 1n;
      const body = Buffer.from(JSON.stringify({ v: FORMAT_VERSION, index: index.toString(), writer: this.writer, record }));
      try {
        await this.store.put(this.entryKey(index), body, { ifNoneMatch: "*" });
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
        const existing = await this.store.get(this.entryKey(index));
        // Someone else's entry: read it (next turn) and build again on top of it.
        if (!existing?.body.equals(body)) continue;
      }
      this.learn(record, index);
      return { index, record };
    }
    throw new MetadataContendedError(`metadata append lost the race for the next entry ${attemptsMax} times in a row`);
  }

  private async catchUpNow(): Promise<number> {
    let n = 0;
    for (;;) {
      const next = this.last + 1n;
      const got = await this.store.get(this.entryKey(next));
      if (!got) return n;
      this.learn(parseEntry(got.body, this.entryKey(next), next), next);
      n++;
    }
  }

  private learn(record: MetadataRecord, index: bigint): void {
    this.last = index;
    this.state.push(record);
    for (const l of this.listeners) l(record, index);
    if (this.last - this.snapshotIndex >= BigInt(this.snapshotEveryEntries)) this.snapshotInBackground();
  }

  private snapshotInBackground(): void {
    this.snapshotting ??= this.snapshot()
      .then(() => undefined)
      .catch((err) => this.logger?.warn({ err }, "metadata snapshot failed; replay stays correct, only longer"))
      .finally(() => {
        this.snapshotting = null;
      });
  }

  /** Waits for a background snapshot (tests, clean shutdown). */
  async idle(): Promise<void> {
    await this.queue;
    await this.snapshotting;
  }

  private async read(): Promise<{ records: MetadataRecord[]; lastIndex: bigint; snapshotIndex: bigint }> {
    let records: MetadataRecord[] = [];
    let index = 0n;
    const snapshots = await this.listAll(`${this.prefix}snapshot/`);
    const newest = snapshots[snapshots.length - 1];
    if (newest) {
      const got = await this.store.get(newest);
      if (!got) throw new Error(`metadata snapshot ${newest} vanished during replay`);
      const parsed = JSON.parse(got.body.toString("utf8")) as { v: number; index: string; records: MetadataRecord[] };
      if (parsed.v !== FORMAT_VERSION) throw new Error(`metadata snapshot ${newest}: unknown format version ${parsed.v}`);
      if (this.snapshotKey(BigInt(parsed.index)) !== newest) throw new Error(`metadata snapshot ${newest} claims index ${parsed.index}`);
      records = parsed.records;
      index = BigInt(parsed.index);
    }
    const snapshotIndex = index;
    let startAfter = this.entryKey(index);
    for (;;) {
      const page = await this.store.list(`${this.prefix}log/`, { startAfter, limit: 1000 });
      if (page.length === 0) break;
      for (let i = 0; i < page.length; i += REPLAY_CONCURRENCY) {
        const slice = page.slice(i, i + REPLAY_CONCURRENCY);
        const bodies = await Promise.all(slice.map((o) => this.store.get(o.key)));
        for (let j = 0; j < slice.length; j++) {
          const key = slice[j]!.key;
          if (key !== this.entryKey(index + 1n)) {
            // Entries are written strictly in sequence, so a gap means damage; stopping keeps a valid prefix.
            this.logger?.error({ expected: this.entryKey(index + 1n), found: key }, "metadata log has a gap; replay stops before it");
            return { records, lastIndex: index, snapshotIndex };
          }
          const body = bodies[j];
          if (!body) throw new Error(`metadata entry ${key} vanished during replay`);
          records.push(parseEntry(body.body, key, index + 1n));
          index++;
        }
      }
      startAfter = page[page.length - 1]!.key;
    }
    return { records, lastIndex: index, snapshotIndex };
  }

  private async listAll(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.store.list(prefix, { startAfter, limit: 1000 });
      for (const o of page) out.push(o.key);
      if (page.length < 1000) return out;
      startAfter = page[page.length - 1]!.key;
    }
  }

  private entryKey(index: bigint): string {
    return `${this.prefix}log/${index.toString().padStart(INDEX_DIGITS, "0")}`;
  }

  private snapshotKey(index: bigint): string {
    return `${this.prefix}snapshot/${index.toString().padStart(INDEX_DIGITS, "0")}`;
  }
}

function parseEntry(body: Buffer, key: string, expectedIndex: bigint): MetadataRecord {
  const parsed = JSON.parse(body.toString("utf8")) as { v: number; index: string; record: MetadataRecord };
  if (parsed.v !== FORMAT_VERSION) throw new Error(`metadata entry ${key}: unknown format version ${parsed.v}`);
  if (BigInt(parsed.index) !== expectedIndex) throw new Error(`metadata entry ${key} claims index ${parsed.index}`);
  return parsed.record;
}
