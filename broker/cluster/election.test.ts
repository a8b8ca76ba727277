import { describe, expect, it } from "vitest";
import { ManualClock } from "../storage/clock.js";
import { MemoryObjectStore } from "../storage/memory-object-store.js";
import type { ObjectStore } from "../storage/object-store.js";
import { ControllerElection } from "./election.js";

function contender(store: ObjectStore, clock: ManualClock, holder: string) {
  const events: string[] = [];
  const e = new ControllerElection({ store, key: "cluster/controller-lease", holder, ttlMs: 9000, marginMs: 1000, clock, onElected: (g) => events.push(`elected ${g}`), onDeposed: (r) => events.push(`deposed: ${r}`) });
  return { e, events };
}

describe("ControllerElection", () => {
  it("one contender leads; another takes over only after the lease lapsed, with a higher generation", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const a = contender(store, clock, "a");
    const b = contender(store, clock, "b");
    await a.e.tick();
    await b.e.tick();
    expect([a.e.isLeader, b.e.isLeader]).toEqual([true, false]);
    expect(a.e.leaderGeneration).toBe(1);
    // a renews on time: b never gets in.
    for (let i = 0; i < 5; i++) {
      clock.advance(3000);
      await a.e.tick();
      await b.e.tick();
    }
    expect(b.e.isLeader).toBe(false);
    // a stalls (GC pause, lost network): it steps down before b can take the lease.
    clock.advance(8000);
    a.e.checkExpiry();
    expect(a.e.isLeader).toBe(false);
    await b.e.tick();
    expect(b.e.isLeader).toBe(false);
    clock.advance(1000);
    await b.e.tick();
    expect(b.e.isLeader).toBe(true);
    expect(b.e.leaderGeneration).toBe(2);
    // a comes back: the lease is b's now.
    await a.e.tick();
    expect(a.e.isLeader).toBe(false);
    expect(a.events).toEqual(["elected 1", "deposed: lease renewal is overdue"]);
    expect(b.events).toEqual(["elected 2"]);
  });

  it("steps down when renewals fail for too long, and keeps leading through a short outage", async () => {
    const inner = new MemoryObjectStore();
    let down = false;
    const flaky: ObjectStore = new Proxy(inner, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => (down ? Promise.reject(new Error("503 SlowDown")) : v.apply(target, args));
      },
    });
    const clock = new ManualClock(0);
    const a = contender(flaky, clock, "a");
    await a.e.tick();
    down = true;
    clock.advance(3000);
    await a.e.tick();
    expect(a.e.isLeader).toBe(true);
    clock.advance(5000);
    await a.e.tick();
    expect(a.e.isLeader).toBe(false);
    down = false;
    await a.e.tick();
    // Still within its own unexpired lease: it renews and leads again, same generation.
    expect(a.e.isLeader).toBe(true);
    expect(a.events).toEqual(["elected 1", "deposed: lease renewal is overdue", "elected 1"]);
  });

  it("stop() gives the lease up so the next contender leads at once", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const a = contender(store, clock, "a");
    const b = contender(store, clock, "b");
    await a.e.tick();
    await a.e.stop();
    await b.e.tick();
    expect(b.e.isLeader).toBe(true);
    expect(a.events).toEqual(["elected 1", "deposed: stopping"]);
  });
});
