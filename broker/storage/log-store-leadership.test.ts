import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ClusterRecord } from "../cluster/cluster-state.js";
import { buildRecordBatch, decodeRecords } from "../protocol/records.js";
import { batchesOf } from "../protocol/record-batch.js";
import { FileWal } from "./file-wal.js";
import { LocalObjectStore } from "./local-object-store.js";
import { compactStorageRecords, LogStore } from "./log-store.js";
import { StorageIndex } from "./log-store-index.js";
import { MetadataLog, type MetadataRecord } from "./metadata-log.js";
import type { ObjectStore } from "./object-store.js";

/**
 * Several brokers' log stores on one bucket and one metadata log (ADR 0003): each leader
 * commits its own objects; a commit counts only if it was written under the partition's
 * current leader epoch and continues its objects. Every reader, live or replaying, and the
 * snapshot, agree on which commits count.
 */
const T = "topic-leadership";
const dirs: string[] = [];
const opened: LogStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "floe-leadership-"));
  dirs.push(d);
  return d;
}

async function broker(store: ObjectStore, id: number, walDir = path.join(tmp(), "wal"), epoch = 1): Promise<{ log: LogStore; metadata: MetadataLog; walDir: string }> {
  const metadata = await MetadataLog.open({ store, compact: compactStorageRecords });
  const wal = await FileWal.open({ dir: walDir, epoch });
  // Same epoch on both brokers on purpose: object keys must still not collide.
  const log = LogStore.create({ objectStore: store, wal, metadata, epoch, writerId: `b${id}-e${epoch}`, uploadIntervalMs: 3_600_000, compactionIntervalMs: 0, retentionIntervalMs: 0, gcIntervalMs: 0 });
  log.ensurePartition(T, "t", 0);
  await log.recover();
  opened.push(log);
  return { log, metadata, walDir };
}

const leaders = (leader: number, leaderEpoch: number): ClusterRecord => ({ type: "partition-leaders", generation: 1, leaders: [{ topicId: T, partition: 0, leader, leaderEpoch }] });
/** The controller's move, written by broker `via` (a checked append reads the log first). */
const lead = (via: { metadata: MetadataLog }, leader: number, leaderEpoch: number) => via.metadata.appendChecked(() => leaders(leader, leaderEpoch) as unknown as MetadataRecord);
const values = (n: number, from: number) => Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`v-${from + i}`) }));
const batchOf = (from: number, n: number, leaderEpoch: number) => buildRecordBatch(values(n, from), { partitionLeaderEpoch: leaderEpoch });

async function readAll(log: LogStore): Promise<string[]> {
  const out: string[] = [];
  let offset = log.logStartOffset(T, 0);
  while (offset < log.highWatermark(T, 0)) {
    const chunk = await log.read(T, 0, offset, 1 << 20);
    for (const { bytes, header } of batchesOf(chunk)) {
      if (header.baseOffset + BigInt(header.lastOffsetDelta) < offset) continue;
      for (const r of decodeRecords(bytes)) out.push(r.value!.toString());
      offset = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
    }
  }
  return out;
}

describe("leadership moves between log stores on one bucket", () => {
  it("the new leader continues from the committed end and a deposed leader's late commit counts nowhere", async () => {
    const store = new LocalObjectStore(path.join(tmp(), "bucket"));
    const a = await broker(store, 1);
    const b = await broker(store, 2);
    await a.metadata.append(leaders(1, 0) as unknown as MetadataRecord);

    await a.log.append(T, 0, [batchOf(0, 10, 0)]);
    await a.log.flush();
    // A keeps writing under epoch 0 without hearing of the move below (a zombie).
    await a.log.append(T, 0, [batchOf(10, 5, 0)]);

    // The controller moves the partition to B with epoch 1; B reads the log and takes over.
    await lead(b, 2, 1);
    b.log.continueFromObjects(T, 0);
    expect(b.log.nextOffset(T, 0)).toBe(10n);
    await b.log.append(T, 0, [batchOf(100, 3, 1)]);
    await b.log.flush();

    // A's late upload lands after the move: its commit for offsets 10..14 was written under epoch 0.
    await a.log.flush();
    expect(a.log.stats.commitsIgnored).toBe(1);
    await b.metadata.catchUp();
    await a.metadata.catchUp();

    const expected = [...values(10, 0), ...values(3, 100)].map((v) => v.value.toString());
    expect(await readAll(b.log)).toEqual(expected);
    // A's own index agrees: the partition ends where B's commit ends.
    expect(a.log.objectBlocks(T, 0).at(-1)?.lastOffset).toBe(12n);

    // A third broker replaying the log, and one replaying a compacted snapshot of it, see the same.
    const c = await broker(store, 3);
    expect(await readAll(c.log)).toEqual(expected);
    expect(c.log.highWatermark(T, 0)).toBe(13n);
    const snapshotAt = await c.metadata.snapshot();
    expect(snapshotAt).toBeGreaterThan(0n);
    const d = await broker(store, 4);
    expect(await readAll(d.log)).toEqual(expected);
    // The snapshot folds the cluster records into one: same leaders, nothing left to grow.
    expect(d.log.cluster.leaderOf(T, 0)).toEqual({ topicId: T, partition: 0, leader: 2, leaderEpoch: 1 });
    const folded = compactStorageRecords([...c.metadata.records()]);
    expect(folded.filter((r) => r.type === "partition-leaders")).toEqual([]);
    expect(folded.filter((r) => r.type === "cluster-state")).toHaveLength(1);

    // Two brokers with the same epoch never chose the same object key.
    const keys = (await store.list("objects/")).map((o) => o.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.some((k) => k.startsWith("objects/b1-e1/"))).toBe(true);
    expect(keys.some((k) => k.startsWith("objects/b2-e1/"))).toBe(true);
    // The ignored commit's object is referenced by nothing: garbage for the collector.
    expect([...c.log.pendingDeletions().keys()].some((k) => k.startsWith("objects/b1-e1/"))).toBe(true);
  });

  it("a leader taking over drops what it held from an older leadership, and its uploader keeps going", async () => {
    const store = new LocalObjectStore(path.join(tmp(), "bucket"));
    const a = await broker(store, 1);
    const b = await broker(store, 2);
    await a.metadata.append(leaders(1, 0) as unknown as MetadataRecord);
    // A accepts two batches under epoch 0 and is cut off before uploading them (never acknowledged).
    await a.log.append(T, 0, [batchOf(0, 2, 0)]);
    await a.log.append(T, 0, [batchOf(2, 2, 0)]);

    await lead(b, 2, 1);
    b.log.continueFromObjects(T, 0);
    await b.log.append(T, 0, [batchOf(100, 3, 1)]);
    await b.log.flush();

    // The partition comes back to A with epoch 2: A drops its stale batches and continues after B's.
    await lead(a, 1, 2);
    expect(a.log.continueFromObjects(T, 0)).toBe(2);
    expect(a.log.nextOffset(T, 0)).toBe(3n);
    await a.log.append(T, 0, [batchOf(200, 2, 2)]);
    await a.log.flush();
    expect(a.log.stats.commitsIgnored).toBe(0);

    const c = await broker(store, 3);
    expect(await readAll(c.log)).toEqual([...values(3, 100), ...values(2, 200)].map((v) => v.value.toString()));
  });

  it("WAL replay after a crash keeps the current leader epoch's batches, not older ones at the same offsets", async () => {
    const store = new LocalObjectStore(path.join(tmp(), "bucket"));
    const a = await broker(store, 1);
    const b = await broker(store, 2);
    await a.metadata.append(leaders(1, 0) as unknown as MetadataRecord);
    // Epoch 0: two batches A never uploads (cut off); the partition moves to B and back to A.
    await a.log.append(T, 0, [batchOf(0, 2, 0)]);
    await lead(b, 2, 1);
    await lead(a, 1, 2);
    a.log.continueFromObjects(T, 0);
    // Epoch 2: acknowledged at the same offsets, then A is killed before any upload.
    await a.log.append(T, 0, [batchOf(500, 3, 2)]);
    opened.splice(opened.indexOf(a.log), 1);

    const again = await broker(store, 1, a.walDir, 2);
    expect(await readAll(again.log)).toEqual(values(3, 500).map((v) => v.value.toString()));
    await again.log.flush();
    const c = await broker(store, 3);
    expect(await readAll(c.log)).toEqual(values(3, 500).map((v) => v.value.toString()));
    // A dead process's files close with it; afterEach closes the dropped one's instead of the garbage collector.
    opened.push(a.log);
  });

  it("an uploader whose partition moved away skips ranges no reader would take instead of stalling", async () => {
    const store = new LocalObjectStore(path.join(tmp(), "bucket"));
    const a = await broker(store, 1);
    const b = await broker(store, 2);
    await a.metadata.append(leaders(1, 0) as unknown as MetadataRecord);
    await a.log.append(T, 0, [batchOf(0, 2, 0)]);
    await lead(b, 2, 1);
    b.log.continueFromObjects(T, 0);
    await b.log.append(T, 0, [batchOf(100, 5, 1)]);
    await b.log.flush();
    await a.metadata.catchUp();
    // A's held range 0..1 is covered by B's objects; a later one would leave a gap. Neither stalls A.
    await a.log.append(T, 0, [batchOf(2, 10, 0)]);
    await a.log.flush();
    expect(a.log.stats.commitsIgnored).toBe(1);
    expect(await readAll(b.log)).toEqual(values(5, 100).map((v) => v.value.toString()));
  });
});

describe("the index's rules for object commits", () => {
  const commit = (key: string, start: number, end: number, leaderEpoch?: number): MetadataRecord => ({
    type: "object-committed",
    key,
    epoch: 1,
    size: 100,
    atMs: 0,
    streams: [{ topicId: T, partition: 0, start: String(start), end: String(end), blocks: [[String(start), String(end - 1), "0", 0, 100, 0]], producers: [], ...(leaderEpoch === undefined ? {} : { leaderEpoch }) }],
  });

  it("ignores gaps, stale epochs and ranges without an epoch once leadership exists; takes overlaps from the end", () => {
    const index = new StorageIndex();
    index.apply(commit("a", 0, 10), 0); // before any leadership: no epoch needed
    index.apply(leaders(1, 3) as unknown as MetadataRecord, 0);
    index.apply(commit("b", 10, 20), 0); // no epoch under leadership
    index.apply(commit("c", 10, 20, 2), 0); // stale epoch
    index.apply(commit("d", 15, 20, 3), 0); // gap after 10
    const part = index.partitions.get(`${T}:0`)!;
    expect(part.uploadedEnd).toBe(10n);
    index.apply(commit("e", 10, 20, 3), 0);
    index.apply(commit("f", 5, 25, 3), 0); // same WAL data recovered twice: only 20..24 is new
    expect(part.uploadedEnd).toBe(25n);
    expect(part.blocks.map((b) => b.key)).toEqual(["a", "e", "f"]);
    expect([...index.pending.keys()].sort()).toEqual(["b", "c", "d"]);
  });
});
