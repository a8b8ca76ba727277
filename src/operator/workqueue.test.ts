import { describe, expect, it } from "vitest";
import { WorkQueue } from "./workqueue.js";

describe("work queue", () => {
  it("hands each key to one worker at a time and reruns a key changed while it was processed", async () => {
    const q = new WorkQueue(10, 1000);
    q.add("a");
    q.add("a");
    q.add("b");
    expect(q.depth).toBe(2);
    const first = await q.get();
    expect(first).toBe("a");
    q.add("a"); // changed while processing
    expect(await q.get()).toBe("b");
    q.done("b");
    q.done("a");
    expect(await q.get()).toBe("a");
    q.done("a");
    expect(q.depth).toBe(0);
    q.shutDown();
    expect(await q.get()).toBeNull();
  });

  it("backs off exponentially per key and starts over after forget", () => {
    const timers: number[] = [];
    const q = new WorkQueue(100, 1000, { now: () => 0, setTimeout: (_fn, ms) => (timers.push(ms), ms), clearTimeout: () => {} });
    expect([q.addRateLimited("k"), q.addRateLimited("k"), q.addRateLimited("k"), q.addRateLimited("k"), q.addRateLimited("k")]).toEqual([100, 200, 400, 800, 1000]);
    q.forget("k");
    expect(q.addRateLimited("k")).toBe(100);
    expect(q.retries("other")).toBe(0);
  });

  it("wakes a waiting worker when a key arrives", async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add("x");
    expect(await waiting).toBe("x");
    q.shutDown();
  });
});
