import { describe, expect, it } from "vitest";
import { FetchSessionCache } from "./fetch-sessions.js";

describe("fetch session cache", () => {
  it("hands out distinct non-zero ids and evicts the least recently used session when full", () => {
    let now = 0;
    const cache = new FetchSessionCache(2, () => now);
    const a = cache.create();
    now = 1;
    const b = cache.create();
    expect(a.id).not.toBe(0);
    expect(a.id).not.toBe(b.id);
    now = 2;
    cache.get(a.id); // a is now more recent than b
    now = 3;
    const c = cache.create();
    expect(cache.get(b.id)).toBeUndefined();
    expect(cache.get(a.id)).toBe(a);
    expect(cache.get(c.id)).toBe(c);
    expect(cache.size).toBe(2);
  });
});
