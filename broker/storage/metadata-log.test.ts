import { describe, expect, it } from "vitest";
import { ManualClock } from "./clock.js";
import { acquireLease, releaseLease } from "./lease.js";
import { MemoryObjectStore } from "./memory-object-store.js";
import { MetadataContendedError, MetadataFencedError, MetadataLog, type MetadataRecord } from "./metadata-log.js";
import type { ObjectStore } from "./object-store.js";

const rec = (n: number): MetadataRecord => ({ type: "test", n });

describe("MetadataLog", () => {
  it("appends entries with increasing indexes and replays them in order", async () => {
    const store = new MemoryObjectStore();
    const log = await MetadataLog.open({ store });
    expect(log.lastIndex()).toBe(0n);
    expect(await log.append(rec(1))).toBe(1n);
    expect(await Promise.all([log.append(rec(2)), log.append(rec(3))])).toEqual([2n, 3n]);
    expect((await store.list("meta/log/")).map((o) => o.key)).toEqual(["meta/log/00000000000000000001", "meta/log/00000000000000000002", "meta/log/00000000000000000003"]);
    const again = await MetadataLog.open({ store });
    expect(again.records()).toEqual([rec(1), rec(2), rec(3)]);
    expect(again.lastIndex()).toBe(3n);
    expect(await again.append(rec(4))).toBe(4n);
  });

  it("two writers racing for entry N+1: exactly one wins, the other is fenced for good", async () => {
    const store = new MemoryObjectStore();
    const a = await MetadataLog.open({ store });
    await a.append(rec(0));
    const b = await MetadataLog.open({ store });
    const results = await Promise.allSettled([a.append({ type: "from", who: "a" }), b.append({ type: "from", who: "b" })]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const loser = results[0]!.status === "rejected" ? a : b;
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(MetadataFencedError);
    await expect(loser.append(rec(9))).rejects.toBeInstanceOf(MetadataFencedError);
    const replayed = await MetadataLog.open({ store });
    expect(replayed.records()).toHaveLength(2);
  });

  it("a deposed writer cannot append after the new writer moved on", async () => {
    const store = new MemoryObjectStore();
    const old = await MetadataLog.open({ store });
    await old.append(rec(1));
    const fresh = await MetadataLog.open({ store });
    await fresh.append(rec(2));
    await expect(old.append(rec(3))).rejects.toBeInstanceOf(MetadataFencedError);
    expect((await MetadataLog.open({ store })).records()).toEqual([rec(1), rec(2)]);
  });

  it("a put that landed but reported failure is recognised as ours on retry", async () => {
    const inner = new MemoryObjectStore();
    let failOnce = true;
    const flaky: ObjectStore = {
      ...bind(inner),
      async put(key, body, opts) {
        const r = await inner.put(key, body, opts);
        if (failOnce && key.includes("/log/")) {
          failOnce = false;
          throw new Error("timeout after the write landed");
        }
        return r;
      },
    };
    const log = await MetadataLog.open({ store: flaky });
    await expect(log.append(rec(1))).rejects.toThrow("timeout");
    // The caller retries; the entry it wrote is at index 1, so the retry of index 1 compares equal.
    expect(await log.append(rec(1))).toBe(1n);
    expect((await MetadataLog.open({ store: inner })).records()).toEqual([rec(1)]);
  });

  it("checked appends by several writers: each builds on the others' entries, none is fenced, subscribers see every entry in order", async () => {
    // Each writer commits offset ranges for one partition; a range must start at the end.
    const store = new MemoryObjectStore();
    const writers = await Promise.all([0, 1, 2].map(() => MetadataLog.open({ store })));
    const seen = writers.map(() => [] as bigint[]);
    writers.forEach((w, i) => w.subscribe((_r, index) => seen[i]!.push(index)));
    const end = (w: MetadataLog) => w.records().reduce((e, r) => (r.type === "range" ? Math.max(e, r.end as number) : e), 0);
    const commits = writers.flatMap((w, i) => Array.from({ length: 5 }, () => w.appendChecked(() => ({ type: "range", start: end(w), end: end(w) + 10, by: i }))));
    const done = await Promise.all(commits);
    expect(done.every((d) => d !== null)).toBe(true);
    const replayed = (await MetadataLog.open({ store })).records();
    expect(replayed).toHaveLength(15);
    replayed.forEach((r, i) => expect(r).toMatchObject({ start: i * 10, end: i * 10 + 10 }));
    for (const w of writers) await w.catchUp();
    for (const s of seen) expect(s).toEqual(Array.from({ length: 15 }, (_, i) => BigInt(i + 1)));
  });

  it("a checked append whose check fails after catching up writes nothing", async () => {
    const store = new MemoryObjectStore();
    const a = await MetadataLog.open({ store });
    const b = await MetadataLog.open({ store });
    await a.append({ type: "epoch", epoch: 2 });
    // b still believes epoch 1; its build sees epoch 2 after catching up and declines.
    const result = await b.appendChecked(() => (b.records().some((r) => r.type === "epoch" && r.epoch === 2) ? null : { type: "commit", epoch: 1 }));
    expect(result).toBeNull();
    expect(b.lastIndex()).toBe(1n);
    expect((await MetadataLog.open({ store })).records()).toEqual([{ type: "epoch", epoch: 2 }]);
  });

  it("a checked append that keeps losing the race gives up with a retriable error", async () => {
    const store = new MemoryObjectStore();
    const rival = await MetadataLog.open({ store });
    // The rival's entry lands just before each of c's puts, so c runs out of attempts.
    let contended = true;
    const blocking: ObjectStore = {
      ...bind(store),
      async put(key, body, opts) {
        if (contended && key.includes("/log/") && !body.toString().includes('"rival"')) await rival.appendChecked(() => ({ type: "rival" }));
        return store.put(key, body, opts);
      },
    };
    const c = await MetadataLog.open({ store: blocking });
    await expect(c.appendChecked(() => ({ type: "mine" }), { attemptsMax: 3 })).rejects.toBeInstanceOf(MetadataContendedError);
    expect((await MetadataLog.open({ store })).records()).toEqual([{ type: "rival" }, { type: "rival" }, { type: "rival" }]);
    // Contention is not fencing: once the rival stops, c's next append lands.
    contended = false;
    expect(await c.appendChecked(() => ({ type: "mine" }))).toMatchObject({ index: 4n });
  });

  it("snapshots every K entries (compacted) and replay starts from the newest one", async () => {
    const store = new MemoryObjectStore();
    const compact = (records: MetadataRecord[]) => records.filter((r) => (r.n as number) % 2 === 0);
    const log = await MetadataLog.open({ store, snapshotEveryEntries: 4, compact });
    for (let i = 1; i <= 10; i++) await log.append(rec(i));
    await log.idle();
    expect((await store.list("meta/snapshot/")).map((o) => o.key)).toEqual(["meta/snapshot/00000000000000000004", "meta/snapshot/00000000000000000008"]);
    const again = await MetadataLog.open({ store, compact });
    expect(again.lastIndex()).toBe(10n);
    expect(again.records()).toEqual([rec(2), rec(4), rec(6), rec(8), rec(9), rec(10)]);
    expect(log.records()).toEqual(again.records());
    expect(await again.append(rec(11))).toBe(11n);
  });
});

describe("lease", () => {
  it("is taken when free, refused while held, renewed by its holder, taken over after expiry", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(1000);
    const a = await acquireLease(store, "meta/controller-lease", "broker-1", 5000, clock);
    expect(a).toMatchObject({ acquired: true, holder: "broker-1", expiresAtMs: 6000, generation: 1 });
    const b = await acquireLease(store, "meta/controller-lease", "broker-2", 5000, clock);
    expect(b).toMatchObject({ acquired: false, holder: "broker-1", expiresAtMs: 6000 });
    clock.advance(3000);
    expect(await acquireLease(store, "meta/controller-lease", "broker-1", 5000, clock)).toMatchObject({ acquired: true, expiresAtMs: 9000, generation: 1 });
    clock.advance(9001);
    expect(await acquireLease(store, "meta/controller-lease", "broker-2", 5000, clock)).toMatchObject({ acquired: true, holder: "broker-2", generation: 2 });
    expect(await releaseLease(store, "meta/controller-lease", "broker-1")).toBe(false);
    expect(await releaseLease(store, "meta/controller-lease", "broker-2")).toBe(true);
    expect(await acquireLease(store, "meta/controller-lease", "broker-1", 5000, clock)).toMatchObject({ acquired: true, generation: 3 });
  });

  it("racing contenders for an expired lease: exactly one gets it", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    await acquireLease(store, "lease", "old", 100, clock);
    clock.advance(1000);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => acquireLease(store, "lease", `c${i}`, 100, clock)));
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
    const winner = results.find((r) => r.acquired)!;
    for (const r of results.filter((r) => !r.acquired)) expect(r.holder).toBe(winner.holder);
  });
});

function bind(store: ObjectStore): ObjectStore {
  return {
    put: store.put.bind(store),
    get: store.get.bind(store),
    head: store.head.bind(store),
    delete: store.delete.bind(store),
    list: store.list.bind(store),
  };
}
