import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../storage/clock.js";
import { Membership, WriteLease, type BrokerRegistration } from "./membership.js";

const reg = (id: number, incarnationId = `inc-${id}`, zone = "a"): BrokerRegistration => ({ id, incarnationId, zone, listeners: [{ name: "PLAINTEXT", host: "127.0.0.1", port: 9092 + id }], walType: "s3" });

describe("Membership", () => {
  it("keeps a broker alive while it heartbeats and declares it dead once the session lapses", () => {
    const clock = new ManualClock(1000);
    const m = new Membership(clock, 6000);
    const { brokerEpoch } = m.register(reg(1));
    clock.advance(5000);
    expect(m.heartbeat(1, brokerEpoch)).toEqual({ ok: true });
    clock.advance(5999);
    expect(m.expire()).toEqual([]);
    clock.advance(1);
    expect(m.expire().map((b) => b.id)).toEqual([1]);
    expect(m.expire()).toEqual([]);
    // Dead means re-register: its partitions may already be elsewhere.
    expect(m.heartbeat(1, brokerEpoch)).toEqual({ ok: false, reason: "STALE_BROKER_EPOCH" });
  });

  it("gives a restarted broker a higher epoch and refuses the old process's heartbeats", () => {
    const clock = new ManualClock();
    const m = new Membership(clock, 6000);
    const first = m.register(reg(1, "before")).brokerEpoch;
    expect(m.register(reg(1, "before")).brokerEpoch).toBe(first);
    const second = m.register(reg(1, "after")).brokerEpoch;
    expect(second).toBeGreaterThan(first);
    expect(m.heartbeat(1, first)).toEqual({ ok: false, reason: "STALE_BROKER_EPOCH" });
    expect(m.heartbeat(1, second)).toEqual({ ok: true });
    expect(m.heartbeat(2, 1)).toEqual({ ok: false, reason: "UNKNOWN_BROKER" });
  });

  it("carries drains into the planner's view, and a restart clears them", () => {
    const m = new Membership(new ManualClock(), 6000);
    m.register(reg(2, "x", "b"));
    m.register(reg(1, "y", "a"));
    m.setDraining(2, true);
    m.register(reg(2, "x", "b"));
    expect(m.candidates()).toEqual([{ id: 1, zone: "a", alive: true, draining: false }, { id: 2, zone: "b", alive: true, draining: true }]);
    m.register(reg(2, "restarted", "b"));
    expect(m.get(2)?.draining).toBe(false);
  });

  it("a new controller restores registrations with their epochs and grants each a full session", () => {
    const clock = new ManualClock(50_000);
    const m = new Membership(clock, 6000);
    m.restore({ ...reg(7), brokerEpoch: 41 });
    expect(m.heartbeat(7, 41)).toEqual({ ok: true });
    expect(m.register(reg(8)).brokerEpoch).toBe(42);
  });
});

describe("WriteLease", () => {
  it("allows acknowledgements only until the send time of the last accepted heartbeat plus the session, less the margin", () => {
    const clock = new ManualClock(0);
    const lease = new WriteLease(clock, 6000, 1000);
    expect(lease.canAcknowledge()).toBe(false);
    lease.renewed(0);
    clock.advance(4999);
    expect(lease.canAcknowledge()).toBe(true);
    clock.advance(1);
    expect(lease.canAcknowledge()).toBe(false);
    // A late answer to an old heartbeat never moves the bound backwards.
    lease.renewed(4000);
    lease.renewed(100);
    expect(lease.remainingMs()).toBe(4000);
    lease.revoke();
    expect(lease.canAcknowledge()).toBe(false);
  });

  it("always stops before the controller can declare the broker dead, whatever the network delays", () => {
    // Heartbeats sent at increasing times, each delayed (or lost) on the way; the controller
    // expires the broker a session after the last arrival. At every instant where the
    // controller has declared it dead, the broker must already refuse to acknowledge.
    fc.assert(
      fc.property(fc.array(fc.record({ gapMs: fc.integer({ min: 0, max: 8000 }), delayMs: fc.integer({ min: 0, max: 3000 }), lost: fc.boolean() }), { minLength: 1, maxLength: 30 }), (beats) => {
        const session = 6000;
        const brokerClock = new ManualClock(0);
        const lease = new WriteLease(brokerClock, session, 500);
        const arrivals: { sentMs: number; arrivedMs: number }[] = [];
        let t = 0;
        for (const b of beats) {
          t += b.gapMs;
          if (!b.lost) arrivals.push({ sentMs: t, arrivedMs: t + b.delayMs });
        }
        const end = t + 20_000;
        for (let now = 0; now <= end; now += 250) {
          brokerClock.advance(now - brokerClock.nowMs());
          // The answer reaches the broker no earlier than the request reached the controller.
          for (const a of arrivals) if (a.arrivedMs <= now) lease.renewed(a.sentMs);
          const lastArrival = Math.max(-Infinity, ...arrivals.filter((a) => a.arrivedMs <= now).map((a) => a.arrivedMs));
          const controllerSaysDead = now - lastArrival >= session;
          if (controllerSaysDead) expect(lease.canAcknowledge()).toBe(false);
        }
      }),
      { numRuns: 200, seed: 11 },
    );
  });
});
