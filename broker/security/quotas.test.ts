import { describe, expect, it } from "vitest";
import { ErrorCode } from "../protocol/errors.js";
import { entityOf, QuotaMeters, QuotaStore, quotaValueProblem, type QuotaEntity } from "./quotas.js";

const set = (store: QuotaStore, entity: QuotaEntity, value: number, key = "producer_byte_rate") => store.apply({ type: "client-quotas-altered", entity, set: { [key]: value }, removed: [] });

describe("client quotas", () => {
  it("picks the quota in Kafka's order, from user+client down to the default client", () => {
    const s = new QuotaStore();
    const levels: [QuotaEntity, number][] = [
      [{ clientId: null }, 8],
      [{ clientId: "app" }, 7],
      [{ user: null }, 6],
      [{ user: null, clientId: null }, 5],
      [{ user: null, clientId: "app" }, 4],
      [{ user: "alice" }, 3],
      [{ user: "alice", clientId: null }, 2],
      [{ user: "alice", clientId: "app" }, 1],
    ];
    expect(s.quotaFor("alice", "app", "producer_byte_rate")).toBeNull();
    // Added from the least specific up, each one takes over.
    for (const [entity, value] of levels) {
      set(s, entity, value);
      expect(s.quotaFor("alice", "app", "producer_byte_rate")?.limit).toBe(value);
    }
    // Another key is independent; another user falls to the default user's levels.
    expect(s.quotaFor("alice", "app", "consumer_byte_rate")).toBeNull();
    expect(s.quotaFor("bob", "app", "producer_byte_rate")?.limit).toBe(4);
    expect(s.quotaFor("bob", "other", "producer_byte_rate")?.limit).toBe(5);
  });

  it("meters what an entity covers together: a user's clients share, default-user quotas are per user", () => {
    const s = new QuotaStore();
    set(s, { user: "alice" }, 100);
    expect(s.quotaFor("alice", "a", "producer_byte_rate")!.meter).toBe(s.quotaFor("alice", "b", "producer_byte_rate")!.meter);
    set(s, { user: null }, 100);
    expect(s.quotaFor("bob", "a", "producer_byte_rate")!.meter).not.toBe(s.quotaFor("carol", "a", "producer_byte_rate")!.meter);
    expect(s.quotaFor("bob", "a", "producer_byte_rate")!.meter).toBe(s.quotaFor("bob", "b", "producer_byte_rate")!.meter);
    const c = new QuotaStore();
    set(c, { clientId: null }, 100);
    // A default-client quota: per client id, whoever the user.
    expect(c.quotaFor("x", "a", "producer_byte_rate")!.meter).not.toBe(c.quotaFor("x", "b", "producer_byte_rate")!.meter);
    expect(c.quotaFor("x", "a", "producer_byte_rate")!.meter).toBe(c.quotaFor("y", "a", "producer_byte_rate")!.meter);
  });

  it("removes keys and forgets an entity with none left", () => {
    const s = new QuotaStore();
    s.apply({ type: "client-quotas-altered", entity: { user: "a" }, set: { producer_byte_rate: 10, consumer_byte_rate: 20 }, removed: [] });
    s.apply({ type: "client-quotas-altered", entity: { user: "a" }, set: {}, removed: ["producer_byte_rate"] });
    expect([...s.get({ user: "a" })]).toEqual([["consumer_byte_rate", 20]]);
    s.apply({ type: "client-quotas-altered", entity: { user: "a" }, set: {}, removed: ["consumer_byte_rate"] });
    expect(s.size).toBe(0);
  });

  it("describes by exact name, default and any name, strict or not; refuses filters Kafka refuses", () => {
    const s = new QuotaStore();
    set(s, { user: "alice" }, 1);
    set(s, { user: null }, 2);
    set(s, { user: "alice", clientId: "app" }, 3);
    set(s, { clientId: null }, 4);
    const names = (r: ReturnType<QuotaStore["describe"]>) => ("errorCode" in r ? r : r.map((e) => JSON.stringify(e.entity)).sort());
    expect(names(s.describe([{ entityType: "user", matchType: 0, match: "alice" }], false))).toEqual([`{"user":"alice","clientId":"app"}`, `{"user":"alice"}`].sort());
    expect(names(s.describe([{ entityType: "user", matchType: 0, match: "alice" }], true))).toEqual([`{"user":"alice"}`]);
    expect(names(s.describe([{ entityType: "user", matchType: 1, match: null }], false))).toEqual([`{"user":null}`]);
    expect(names(s.describe([{ entityType: "user", matchType: 2, match: null }], true))).toEqual([`{"user":"alice"}`, `{"user":null}`].sort());
    expect(names(s.describe([], false))).toHaveLength(4);
    expect(names(s.describe([], true))).toEqual([]);
    expect(s.describe([{ entityType: "ip", matchType: 2, match: null }], false)).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, message: expect.stringMatching(/entity type ip is not supported/) });
    expect(s.describe([{ entityType: "user", matchType: 2, match: null }, { entityType: "user", matchType: 1, match: null }], false)).toMatchObject({ message: expect.stringMatching(/filtered twice/) });
    expect(s.describe([{ entityType: "user", matchType: 0, match: null }], false)).toMatchObject({ message: expect.stringMatching(/needs a name/) });
  });

  it("checks entities and values: user and client-id once each, whole positive byte rates, known keys only", () => {
    expect(entityOf([{ entityType: "user", entityName: "a" }, { entityType: "client-id", entityName: null }])).toEqual({ user: "a", clientId: null });
    expect(entityOf([])).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST });
    expect(entityOf([{ entityType: "user", entityName: "a" }, { entityType: "user", entityName: "b" }])).toMatchObject({ message: "entity type user given twice" });
    expect(entityOf([{ entityType: "ip", entityName: "1.2.3.4" }])).toMatchObject({ message: expect.stringMatching(/ip is not supported/) });
    expect(entityOf([{ entityType: "user", entityName: "" }])).toMatchObject({ message: expect.stringMatching(/must not be empty/) });
    expect(quotaValueProblem("producer_byte_rate", 1024)).toBeNull();
    expect(quotaValueProblem("producer_byte_rate", 0.5)).toMatch(/whole number/);
    expect(quotaValueProblem("consumer_byte_rate", -1)).toMatch(/at least 1/);
    expect(quotaValueProblem("request_percentage", 50)).toMatch(/request_percentage is not supported/);
  });

  it("throttles once the windowed rate is over the limit, for as long as it takes to fall back to it", () => {
    const m = new QuotaMeters(11, 1000);
    const limit = 1000;
    let t = 1_000_000;
    // Under the limit: 900 bytes a second (in 100-byte writes) for 20 s never throttles.
    for (let i = 0; i < 180; i++, t += 111) expect(m.record("a", 100, limit, t)).toBe(0);
    // A burst of 10x for a second: the rate over the 10 s window goes to ~1.9x, throttle ~ (1.9 - 1) × 10 s.
    const ms = m.record("a", 10 * limit, limit, t);
    expect(ms).toBeGreaterThan(8000);
    expect(ms).toBeLessThanOrEqual(11_000);
    // Quiet for the throttle time: the older samples have left the window, so little is left
    // to wait (the burst itself still counts); once the burst has left too, nothing.
    t += ms;
    expect(m.record("a", 1, limit, t)).toBeLessThan(ms / 4);
    t += 11_000;
    expect(m.record("a", 1, limit, t)).toBe(0);
    // A burst at start-up is measured over the whole window, not over its first milliseconds.
    expect(m.record("fresh", 5 * limit, limit, t)).toBe(0);
    // Idle meters are dropped.
    for (let i = 0; i < 1000; i++) m.record(`b${i}`, 1, limit, t + 60_000);
    expect(m.size).toBeLessThanOrEqual(1001);
    expect(m.size).toBeGreaterThan(900);
  });
});
