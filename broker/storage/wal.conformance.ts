import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WalFencedError, WalFullError, type Wal, type WalPosition } from "./wal.js";

/**
 * Behaviour every `Wal` backend must show, run by each backend's test file against its own
 * storage (a folder, a shared folder, an object store).
 *
 * A backend harness opens instances of ONE broker's WAL over shared storage that lives for
 * one test; opening again (same or higher epoch) must see what earlier instances made
 * durable. Trim granularity differs between backends (segments, objects), so the harness
 * says how many records it needs to see a trim take effect.
 */
export interface WalHarness {
  /** Opens an instance over this test's storage. `maxBytes` small means "tiny WAL" for the full test. */
  open(opts: { epoch: number; tiny?: boolean }): Promise<Wal>;
  /** Removes this test's storage. */
  cleanup(): Promise<void>;
}

export interface WalConformanceOptions {
  /** Size of the records the trim and full tests append; each must land in its own trim unit (segment or object). */
  unitRecordBytes: number;
}

async function collect(wal: Wal): Promise<{ position: WalPosition; epoch: number; record: string }[]> {
  const out: { position: WalPosition; epoch: number; record: string }[] = [];
  for await (const r of wal.recover()) out.push({ position: r.position, epoch: r.epoch, record: r.record.toString() });
  return out;
}

function big(tag: string, bytes: number): Buffer {
  const b = Buffer.alloc(bytes, 0x2e);
  b.write(tag, 0, "utf8");
  return b;
}

const tagOf = (record: string): string => record.split(".")[0]!;

export function walConformance(name: string, makeHarness: () => Promise<WalHarness>, options: WalConformanceOptions): void {
  describe(`Wal conformance: ${name}`, () => {
    let h: WalHarness;
    const opened: Wal[] = [];
    const open = async (opts: { epoch: number; tiny?: boolean }): Promise<Wal> => {
      const wal = await h.open(opts);
      opened.push(wal);
      return wal;
    };
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      for (const w of opened.splice(0)) await w.close().catch(() => undefined);
      await h.cleanup();
    });

    it("round trip: recovery yields every appended record with its position and epoch", async () => {
      const wal = await open({ epoch: 1 });
      expect(await collect(wal)).toEqual([]);
      const records = ["alpha", "beta", "", "gamma".repeat(100)];
      const positions: WalPosition[] = [];
      for (const r of records) positions.push(await wal.append(Buffer.from(r)));
      for (let i = 1; i < positions.length; i++) expect(positions[i]! > positions[i - 1]!).toBe(true);
      await wal.close();
      const again = await open({ epoch: 2 });
      expect(await collect(again)).toEqual(records.map((record, i) => ({ position: positions[i], epoch: 1, record })));
      const next = await again.append(Buffer.from("delta"));
      expect(next > positions[positions.length - 1]!).toBe(true);
      await again.close();
      const third = await open({ epoch: 3 });
      const all = await collect(third);
      expect(all.map((r) => r.record)).toEqual([...records, "delta"]);
      expect(all[all.length - 1]).toEqual({ position: next, epoch: 2, record: "delta" });
    });

    it("a record appended in pieces is stored and replayed as their concatenation", async () => {
      const wal = await open({ epoch: 1 });
      const pieces = [Buffer.from("head:"), Buffer.alloc(0), Buffer.alloc(3000, 7), Buffer.from(":tail")];
      const whole = Buffer.concat(pieces).toString();
      await Promise.all([wal.append(pieces), wal.append([Buffer.from("one")]), wal.append(Buffer.from("plain"))]);
      await wal.close();
      const again = await open({ epoch: 2 });
      expect((await collect(again)).map((r) => r.record)).toEqual([whole, "one", "plain"]);
    });

    it("acks strictly in append order under concurrency, with increasing positions", async () => {
      const wal = await open({ epoch: 1 });
      const order: number[] = [];
      const n = 300;
      const all = Array.from({ length: n }, (_, i) =>
        wal.append(Buffer.alloc(1 + ((i * 7919) % 3000), i % 251)).then((pos) => {
          order.push(i);
          return pos;
        }),
      );
      const positions = await Promise.all(all);
      expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
      for (let i = 1; i < n; i++) expect(positions[i]! > positions[i - 1]!).toBe(true);
      await wal.close();
      const again = await open({ epoch: 2 });
      const got = await collect(again);
      expect(got.map((r) => r.position)).toEqual(positions);
      expect(got.map((r) => r.record.length)).toEqual(Array.from({ length: n }, (_, i) => 1 + ((i * 7919) % 3000)));
    });

    it("trim, then recovery returns exactly the untrimmed records", async () => {
      const wal = await open({ epoch: 1 });
      const positions: WalPosition[] = [];
      for (let i = 0; i < 10; i++) positions.push(await wal.append(big(`r${i}.`, options.unitRecordBytes)));
      const usedBefore = wal.usedBytes();
      await wal.trim(positions[6]!);
      expect(wal.usedBytes()).toBeLessThan(usedBefore);
      await wal.trim(positions[3]!); // going back is a no-op
      await wal.close();
      const again = await open({ epoch: 2 });
      const got = await collect(again);
      expect(got.map((r) => tagOf(r.record))).toEqual(["r6", "r7", "r8", "r9"]);
      expect(got.map((r) => r.position)).toEqual(positions.slice(6));
    });

    it("crash (instance dropped without close): a new instance recovers every acknowledged record", async () => {
      const wal = await open({ epoch: 1 });
      const acked = await Promise.all(Array.from({ length: 50 }, (_, i) => wal.append(Buffer.from(`acked-${i}`))));
      // Appends still in flight when the process dies: they may or may not survive.
      const inflight = Array.from({ length: 5 }, (_, i) => wal.append(Buffer.from(`maybe-${i}`)).catch(() => null));
      opened.splice(opened.indexOf(wal), 1); // never closed
      const again = await open({ epoch: 2 });
      const got = await collect(again);
      expect(got.slice(0, 50).map((r) => r.record)).toEqual(Array.from({ length: 50 }, (_, i) => `acked-${i}`));
      expect(got.slice(0, 50).map((r) => r.position)).toEqual(acked);
      for (const r of got.slice(50)) expect(r.record).toMatch(/^maybe-\d$/);
      await Promise.all(inflight);
      // A dead process's files close with it; here the dropped instance's would be left to
      // the garbage collector, which Node warns about (and means to make an error).
      await wal.close();
    });

    it("full: append rejects with a retriable WalFullError, and works again after trim", async () => {
      const wal = await open({ epoch: 1, tiny: true });
      const positions: WalPosition[] = [];
      let full: unknown = null;
      for (let i = 0; i < 1000 && full === null; i++) {
        try {
          positions.push(await wal.append(big(`f${i}.`, options.unitRecordBytes)));
        } catch (err) {
          full = err;
        }
      }
      expect(full).toBeInstanceOf(WalFullError);
      expect((full as WalFullError).retriable).toBe(true);
      expect(positions.length).toBeGreaterThan(1);
      await expect(wal.append(big("again.", options.unitRecordBytes))).rejects.toBeInstanceOf(WalFullError);
      await wal.trim(positions[positions.length - 1]! + 1n);
      const after = await wal.append(big("after.", options.unitRecordBytes));
      expect(after > positions[positions.length - 1]!).toBe(true);
      await wal.close();
      const again = await open({ epoch: 2, tiny: true });
      expect((await collect(again)).map((r) => tagOf(r.record))).toEqual(["after"]);
    });

    it("fencing: an instance with a newer epoch fences the older one, which stops acknowledging", async () => {
      const old = await open({ epoch: 1 });
      await old.append(Buffer.from("before"));
      const fresh = await open({ epoch: 2 });
      expect((await collect(fresh)).map((r) => r.record)).toEqual(["before"]);
      await expect(old.append(Buffer.from("zombie"))).rejects.toBeInstanceOf(WalFencedError);
      await expect(old.append(Buffer.from("zombie-2"))).rejects.toBeInstanceOf(WalFencedError);
      await fresh.append(Buffer.from("after"));
      await fresh.close();
      // An older epoch cannot take the WAL back.
      await expect(h.open({ epoch: 1 })).rejects.toBeInstanceOf(WalFencedError);
      const third = await open({ epoch: 3 });
      const got = (await collect(third)).map((r) => r.record);
      expect(got[0]).toBe("before");
      expect(got[got.length - 1]).toBe("after");
      expect(got.filter((r) => r !== "zombie" && r !== "zombie-2")).toEqual(["before", "after"]);
    });

    it("close is idempotent, and a closed WAL refuses appends", async () => {
      const wal = await open({ epoch: 1 });
      const p = wal.append(Buffer.from("x"));
      await wal.close();
      await p; // an append accepted before close is finished, not dropped
      await wal.close();
      await expect(wal.append(Buffer.from("y"))).rejects.toThrow();
      const again = await open({ epoch: 2 });
      expect((await collect(again)).map((r) => r.record)).toEqual(["x"]);
    });
  });
}
