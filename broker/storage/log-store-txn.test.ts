import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Attr } from "../protocol/record-batch.js";
import { buildRecordBatch, decodeRecords } from "../protocol/records.js";
import { batchesOf } from "../protocol/record-batch.js";
import { buildControlBatch } from "../txn/partition-txn-index.js";
import { FileWal } from "./file-wal.js";
import { LocalObjectStore } from "./local-object-store.js";
import { compactStorageRecords, LogStore } from "./log-store.js";
import { MetadataLog } from "./metadata-log.js";

const T = "topic-id-txn";
let epoch = 0;
const dirs: string[] = [];
const opened: LogStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function openLog(dir: string): Promise<{ log: LogStore; metadata: MetadataLog }> {
  const store = new LocalObjectStore(path.join(dir, "objects"));
  const metadata = await MetadataLog.open({ store, compact: compactStorageRecords });
  const e = ++epoch;
  const wal = await FileWal.open({ dir: path.join(dir, "wal"), epoch: e, segmentBytes: 4096, maxBytes: 1024 * 1024 });
  const log = LogStore.create({ objectStore: store, wal, metadata, epoch: e, uploadIntervalMs: 3_600_000, compactionIntervalMs: 0, retentionIntervalMs: 0, gcIntervalMs: 0 });
  log.ensurePartition(T, "t", 0);
  await log.recover();
  opened.push(log);
  return { log, metadata };
}

const txnData = (pid: bigint, value: string) =>
  buildRecordBatch([{ key: null, value: Buffer.from(value) }], { producerId: pid, producerEpoch: 0, baseSequence: 0, attributes: Attr.transactional });
const plain = (value: string) => buildRecordBatch([{ key: null, value: Buffer.from(value) }]);

/**
 * Offsets: 0 plain, 1 txn A (pid 7, later aborted), 2 txn B (pid 8, committed), 3 A, 4 abort A,
 * 5 commit B, 6 txn C (pid 9, left open), 7 plain.
 */
async function writeScenario(log: LogStore): Promise<void> {
  await log.append(T, 0, [plain("p0")]);
  await log.append(T, 0, [txnData(7n, "a1")]);
  await log.append(T, 0, [txnData(8n, "b1")]);
  await log.append(T, 0, [txnData(7n, "a2")]);
  await log.append(T, 0, [buildControlBatch(7n, 0, false, 0, 1n)]);
  await log.append(T, 0, [buildControlBatch(8n, 0, true, 0, 1n)]);
  await log.append(T, 0, [txnData(9n, "c1")]);
  await log.append(T, 0, [plain("p7")]);
}

function expectScenario(log: LogStore): void {
  expect(log.highWatermark(T, 0)).toBe(8n);
  expect(log.lastStableOffset(T, 0)).toBe(6n);
  expect(log.abortedTransactions(T, 0, 0n, 6n)).toEqual([{ producerId: 7n, firstOffset: 1n, lastOffset: 4n }]);
  // A fetch that starts past the abort marker needs no aborted range.
  expect(log.abortedTransactions(T, 0, 5n, 6n)).toEqual([]);
  expect(log.openTransactions(T, 0)).toEqual([{ producerId: 9n, firstOffset: 6n }]);
}

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "floe-txn-log-"));
  dirs.push(d);
  return d;
}

describe("log store transaction index", () => {
  it("computes the last stable offset and aborted ranges as batches are appended", async () => {
    const { log } = await openLog(tempDir());
    await writeScenario(log);
    expectScenario(log);
  });

  it("rebuilds them from the WAL after a restart (nothing uploaded)", async () => {
    const dir = tempDir();
    const a = await openLog(dir);
    await writeScenario(a.log);
    await a.log.close();
    const b = await openLog(dir);
    expectScenario(b.log);
  });

  it("rebuilds them from object commits once the WAL is trimmed, and after a metadata snapshot", async () => {
    const dir = tempDir();
    const a = await openLog(dir);
    // Two uploads, so the open transaction spans commits.
    await a.log.append(T, 0, [plain("p0")]);
    await a.log.append(T, 0, [txnData(7n, "a1")]);
    await a.log.append(T, 0, [txnData(8n, "b1")]);
    await a.log.flush();
    await a.log.append(T, 0, [txnData(7n, "a2")]);
    await a.log.append(T, 0, [buildControlBatch(7n, 0, false, 0, 1n)]);
    await a.log.append(T, 0, [buildControlBatch(8n, 0, true, 0, 1n)]);
    await a.log.append(T, 0, [txnData(9n, "c1")]);
    await a.log.append(T, 0, [plain("p7")]);
    await a.log.flush();
    await a.log.close();
    expect(a.metadata.records().some((r) => r.type === "object-committed")).toBe(true);

    const b = await openLog(dir);
    expectScenario(b.log);
    await b.metadata.snapshot();
    await b.log.close();

    const c = await openLog(dir);
    expect(c.metadata.records().some((r) => r.type === "storage-state")).toBe(true);
    expectScenario(c.log);
    // The transaction left open keeps going after the restart: its abort closes it.
    await c.log.append(T, 0, [buildControlBatch(9n, 0, false, 0, 1n)]);
    expect(c.log.lastStableOffset(T, 0)).toBe(9n);
    expect(c.log.abortedTransactions(T, 0, 0n, 9n)).toEqual([
      { producerId: 7n, firstOffset: 1n, lastOffset: 4n },
      { producerId: 9n, firstOffset: 6n, lastOffset: 8n },
    ]);
  });

  it("drops aborted ranges below the log start", async () => {
    const { log } = await openLog(tempDir());
    await writeScenario(log);
    await log.flush();
    await log.deleteRecordsBefore(T, 0, 5n);
    expect(log.abortedTransactions(T, 0, 0n, 6n)).toEqual([]);
    expect(log.lastStableOffset(T, 0)).toBe(6n);
  });

  it("read stops before the first batch at or past the end offset", async () => {
    const { log } = await openLog(tempDir());
    await writeScenario(log);
    const values = (buf: Buffer) => [...batchesOf(buf)].flatMap(({ bytes }) => decodeRecords(bytes).map((r) => r.value?.toString()));
    const upToLso = await log.read(T, 0, 0n, 1 << 20, log.lastStableOffset(T, 0));
    expect([...batchesOf(upToLso)].map((b) => b.header.baseOffset)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
    expect(values(upToLso)).toContain("b1");
    expect((await log.read(T, 0, 6n, 1 << 20, 6n)).length).toBe(0);
    // After the flush the same holds when reading from objects.
    await log.flush();
    expect([...batchesOf(await log.read(T, 0, 2n, 1 << 20, 6n))].map((b) => b.header.baseOffset)).toEqual([2n, 3n, 4n, 5n]);
  });
});
