import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileWal } from "./file-wal.js";
import { NfsWal, nfsWalDir } from "./nfs-wal.js";
import { walConformance } from "./wal.conformance.js";
import { WalFencedError, type Wal } from "./wal.js";

walConformance(
  "nfs",
  async () => {
    const shared = fs.mkdtempSync(path.join(os.tmpdir(), "floe-nfsc-"));
    return {
      open: ({ epoch, tiny }) => NfsWal.open({ sharedDir: shared, brokerId: 3, epoch, segmentBytes: 4096, maxBytes: tiny ? 16 * 1024 : 16 * 1024 * 1024 }),
      cleanup: async () => fs.rmSync(shared, { recursive: true, force: true }),
    };
  },
  { unitRecordBytes: 3000 },
);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function shared(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "floe-nfs-"));
  dirs.push(d);
  return d;
}
async function records(wal: Wal): Promise<string[]> {
  const out: string[] = [];
  for await (const r of wal.recover()) out.push(r.record.toString());
  return out;
}
/** Every file in the folder with its bytes: proves a reader changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of fs.readdirSync(dir).sort()) out[n] = fs.readFileSync(path.join(dir, n)).toString("hex");
  return out;
}

describe("nfs WAL on a shared folder: owner and recoverer", () => {
  it("a recoverer lists the owner's records read-only, without fencing unless asked", async () => {
    const root = shared();
    const owner = await NfsWal.open({ sharedDir: root, brokerId: 7, epoch: 4 });
    for (const r of ["a", "b", "c"]) await owner.append(Buffer.from(r));
    const dir = nfsWalDir(root, 7);
    // A torn tail a reader must not repair.
    const seg = fs.readdirSync(dir).filter((n) => n.endsWith(".wal")).sort().pop()!;
    fs.appendFileSync(path.join(dir, seg), Buffer.from([0, 0, 0, 9, 1, 2]));
    const before = snapshot(dir);
    const reader = await NfsWal.openForRecovery(dir);
    expect(await records(reader)).toEqual(["a", "b", "c"]);
    expect(reader.recoveryReport.truncatedBytes).toBe(6);
    await expect(reader.append(Buffer.from("x"))).rejects.toThrow(/read-only/);
    await expect(reader.trim(1n)).rejects.toThrow(/read-only/);
    await reader.close();
    expect(snapshot(dir)).toEqual(before);
    // The owner was not fenced by a plain reader.
    await owner.close();
  });

  it("a recoverer that raises the fence stops a zombie owner; every acknowledged record is recovered", async () => {
    const root = shared();
    const dir = nfsWalDir(root, 1);
    const owner = await NfsWal.open({ sharedDir: root, brokerId: 1, epoch: 2 });
    const acked = await Promise.all(Array.from({ length: 40 }, (_, i) => owner.append(Buffer.from(`acked-${i}`))));
    expect(acked).toHaveLength(40);
    // The zombie keeps appending while the recoverer takes over.
    let zombieAcked = 0;
    let zombieError: unknown = null;
    const zombie = (async () => {
      for (let i = 0; i < 10_000 && zombieError === null; i++) {
        try {
          await owner.append(Buffer.from(`late-${i}`));
          zombieAcked++;
        } catch (err) {
          zombieError = err;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    const reader = await NfsWal.openForRecovery(dir, { fenceEpoch: 3 });
    expect(await FileWal.readFence(dir)).toBe(3);
    const seen = await records(reader);
    await zombie;
    expect(zombieError).toBeInstanceOf(WalFencedError);
    // Everything acknowledged (before and during the takeover) is in what the recoverer read.
    expect(seen.slice(0, 40 + zombieAcked)).toEqual([...Array.from({ length: 40 }, (_, i) => `acked-${i}`), ...Array.from({ length: zombieAcked }, (_, i) => `late-${i}`)]);
    await reader.close();
    await owner.close();
    // The broker id's next owner (epoch 4) appends; the zombie's leftovers never reappear after its records.
    const next = await NfsWal.open({ sharedDir: root, brokerId: 1, epoch: 4 });
    await next.append(Buffer.from("new-owner"));
    await next.close();
    const check = await NfsWal.openForRecovery(dir);
    const all = await records(check);
    expect(all[all.length - 1]).toBe("new-owner");
    expect(check.recoveryReport.segmentsSetAside).toEqual([]);
  });

  it("bytes a fenced owner writes after the takeover are ignored, not mistaken for a gap", async () => {
    const root = shared();
    const dir = nfsWalDir(root, 2);
    const zombie = await NfsWal.open({ sharedDir: root, brokerId: 2, epoch: 1 });
    await zombie.append(Buffer.from("one"));
    const owner = await NfsWal.open({ sharedDir: root, brokerId: 2, epoch: 2 });
    await owner.append(Buffer.from("two"));
    // The zombie's write lands in its old segment (beyond the new segment's start) but is never acknowledged.
    await expect(zombie.append(Buffer.from("zombie"))).rejects.toBeInstanceOf(WalFencedError);
    await owner.append(Buffer.from("three"));
    await owner.close();
    await zombie.close();
    const check = await NfsWal.openForRecovery(dir);
    expect(await records(check)).toEqual(["one", "two", "three"]);
    expect(check.recoveryReport.segmentsSetAside).toEqual([]);
    const again = await NfsWal.open({ sharedDir: root, brokerId: 2, epoch: 3 });
    expect(await records(again)).toEqual(["one", "two", "three"]);
    await again.close();
  });
});
