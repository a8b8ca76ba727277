import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidRangeError, PreconditionFailedError, type ObjectStore } from "./object-store.js";

export interface ObjectStoreFixture {
  store: ObjectStore;
  cleanup?(): Promise<void>;
}

/**
 * The behaviour every ObjectStore backend must show, written once and run for each
 * (memory, local folder, and S3 when it joins). The metadata log's fencing and the lease
 * rely on the conditional-write cases here.
 */
export function objectStoreConformance(name: string, factory: () => Promise<ObjectStoreFixture>): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    let fx: ObjectStoreFixture;
    let store: ObjectStore;
    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup?.();
    });

    it("put then get returns the same bytes and ETag; absent keys are null", async () => {
      const { etag } = await store.put("a/b/c.bin", Buffer.from("hello"));
      expect(etag).toMatch(/^[0-9a-f]{16,}$/);
      const got = await store.get("a/b/c.bin");
      expect(got?.body.toString()).toBe("hello");
      expect(got?.etag).toBe(etag);
      expect(await store.head("a/b/c.bin")).toEqual({ size: 5, etag });
      expect(await store.get("a/b/missing")).toBeNull();
      expect(await store.head("missing")).toBeNull();
    });

    it("ETag follows content: same bytes same ETag, different bytes different ETag", async () => {
      const a = await store.put("x", Buffer.from("one"));
      const b = await store.put("y", Buffer.from("one"));
      const c = await store.put("x", Buffer.from("two"));
      expect(a.etag).toBe(b.etag);
      expect(c.etag).not.toBe(a.etag);
      expect((await store.get("x"))?.body.toString()).toBe("two");
    });

    it("stores empty objects and binary content", async () => {
      await store.put("empty", Buffer.alloc(0));
      expect((await store.get("empty"))?.body.length).toBe(0);
      expect((await store.head("empty"))?.size).toBe(0);
      const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await store.put("bin", bin);
      expect((await store.get("bin"))?.body.equals(bin)).toBe(true);
    });

    it("stores a body given in pieces as their concatenation, with the ETag of the whole", async () => {
      // Large pieces and runs of small ones (the S3 store writes them differently), and an empty one.
      const pieces = [Buffer.alloc(40_000, 1), ...Array.from({ length: 300 }, (_, i) => Buffer.alloc(1 + (i % 50), i)), Buffer.alloc(0), Buffer.alloc(70_000, 2)];
      const whole = Buffer.concat(pieces);
      const { etag } = await store.put("pieces", pieces);
      expect((await store.get("pieces"))?.body.equals(whole)).toBe(true);
      expect((await store.head("pieces"))?.size).toBe(whole.length);
      expect((await store.put("whole", whole)).etag).toBe(etag);
    });

    it("a caller mutating its buffer after put does not change the object", async () => {
      const buf = Buffer.from("abc");
      await store.put("k", buf);
      buf[0] = 0x7a;
      expect((await store.get("k"))?.body.toString()).toBe("abc");
    });

    it("ranged get returns the inclusive range, clamps the end, refuses a start beyond the end", async () => {
      await store.put("r", Buffer.from("0123456789"));
      expect((await store.get("r", { start: 2, end: 4 }))?.body.toString()).toBe("234");
      expect((await store.get("r", { start: 7, end: 100 }))?.body.toString()).toBe("789");
      expect((await store.get("r", { start: 9, end: 9 }))?.body.toString()).toBe("9");
      await expect(store.get("r", { start: 10, end: 12 })).rejects.toBeInstanceOf(InvalidRangeError);
      expect(await store.get("nope", { start: 0, end: 1 })).toBeNull();
    });

    it("delete is idempotent", async () => {
      await store.put("d", Buffer.from("x"));
      await store.delete("d");
      await store.delete("d");
      expect(await store.get("d")).toBeNull();
    });

    it("list: prefix, lexicographic order, startAfter, limit", async () => {
      const keys = ["meta/log/00000000000000000002", "meta/log/00000000000000000001", "meta/log/00000000000000000010", "meta/snapshot/1", "objects/1/0.sso", "meta/logx", "me"];
      for (const k of keys) await store.put(k, Buffer.from(k));
      expect((await store.list("meta/log/")).map((o) => o.key)).toEqual(["meta/log/00000000000000000001", "meta/log/00000000000000000002", "meta/log/00000000000000000010"]);
      expect((await store.list("meta/log")).map((o) => o.key)).toEqual(["meta/log/00000000000000000001", "meta/log/00000000000000000002", "meta/log/00000000000000000010", "meta/logx"]);
      expect((await store.list("meta/log/", { startAfter: "meta/log/00000000000000000001" })).map((o) => o.key)).toEqual([
        "meta/log/00000000000000000002",
        "meta/log/00000000000000000010",
      ]);
      expect((await store.list("", { limit: 2 })).map((o) => o.key)).toEqual(["me", "meta/log/00000000000000000001"]);
      expect((await store.list("objects/"))[0]).toEqual({ key: "objects/1/0.sso", size: "objects/1/0.sso".length });
      expect(await store.list("zzz")).toEqual([]);
    });

    it("keys that look like paths cannot escape or collide", async () => {
      await store.put("a", Buffer.from("file a"));
      await store.put("a/b", Buffer.from("file a/b"));
      await store.put("../escape", Buffer.from("dots"));
      await store.put("x/../y", Buffer.from("dots2"));
      await store.put("sp ace/%2F/ü", Buffer.from("odd"));
      expect((await store.get("a"))?.body.toString()).toBe("file a");
      expect((await store.get("a/b"))?.body.toString()).toBe("file a/b");
      expect((await store.get("../escape"))?.body.toString()).toBe("dots");
      expect((await store.get("x/../y"))?.body.toString()).toBe("dots2");
      expect((await store.get("y"))).toBeNull();
      expect((await store.list("")).map((o) => o.key).sort()).toEqual(["../escape", "a", "a/b", "sp ace/%2F/ü", "x/../y"].sort());
    });

    it("ifNoneMatch '*' creates only when absent", async () => {
      await store.put("c", Buffer.from("first"), { ifNoneMatch: "*" });
      await expect(store.put("c", Buffer.from("second"), { ifNoneMatch: "*" })).rejects.toBeInstanceOf(PreconditionFailedError);
      expect((await store.get("c"))?.body.toString()).toBe("first");
    });

    it("ifMatch replaces only the named version", async () => {
      const v1 = await store.put("m", Buffer.from("v1"));
      const v2 = await store.put("m", Buffer.from("v2"), { ifMatch: v1.etag });
      await expect(store.put("m", Buffer.from("v3"), { ifMatch: v1.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
      await expect(store.put("absent", Buffer.from("v1"), { ifMatch: v1.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
      expect((await store.get("m"))?.etag).toBe(v2.etag);
      expect((await store.get("m"))?.body.toString()).toBe("v2");
      expect(await store.get("absent")).toBeNull();
    });

    it("racing create-if-absent writers: exactly one wins", async () => {
      const racers = 16;
      const results = await Promise.allSettled(Array.from({ length: racers }, (_, i) => store.put("race/next", Buffer.from(`writer-${i}`), { ifNoneMatch: "*" })));
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(PreconditionFailedError);
      const winner = results.findIndex((r) => r.status === "fulfilled");
      expect((await store.get("race/next"))?.body.toString()).toBe(`writer-${winner}`);
    });

    it("racing compare-ETag writers on one version: exactly one wins", async () => {
      const base = await store.put("lease", Buffer.from("v0"));
      const racers = 16;
      const results = await Promise.allSettled(Array.from({ length: racers }, (_, i) => store.put("lease", Buffer.from(`holder-${i}`), { ifMatch: base.etag })));
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(PreconditionFailedError);
      const winner = results.findIndex((r) => r.status === "fulfilled");
      expect((await store.get("lease"))?.body.toString()).toBe(`holder-${winner}`);
    });

    it("a chain of compare-ETag updates never loses one (counter)", async () => {
      await store.put("counter", Buffer.from("0"));
      const incrementers = 4;
      const perIncrementer = 5;
      const work = Array.from({ length: incrementers }, async () => {
        for (let done = 0; done < perIncrementer; ) {
          const cur = (await store.get("counter"))!;
          try {
            await store.put("counter", Buffer.from(String(Number(cur.body.toString()) + 1)), { ifMatch: cur.etag });
            done++;
          } catch (err) {
            if (!(err instanceof PreconditionFailedError)) throw err;
          }
        }
      });
      await Promise.all(work);
      expect((await store.get("counter"))?.body.toString()).toBe(String(incrementers * perIncrementer));
    });
  });
}
