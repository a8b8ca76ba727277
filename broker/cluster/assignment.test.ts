import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { eligibleBrokers, planLeaders, planLoadSwaps, type BrokerCandidate, type LoadBalanceOptions, type PartitionLeadership } from "./assignment.js";

const broker = (id: number, zone: string, extra: Partial<BrokerCandidate> = {}): BrokerCandidate => ({ id, zone, alive: true, draining: false, ...extra });
const topic = (topicId: string, n: number, leader: (p: number) => number = () => -1): PartitionLeadership[] => Array.from({ length: n }, (_, p) => ({ topicId, partition: p, leader: leader(p) }));

function apply(partitions: PartitionLeadership[], moves: ReturnType<typeof planLeaders>): PartitionLeadership[] {
  const to = new Map(moves.map((m) => [`${m.topicId}:${m.partition}`, m.to]));
  return partitions.map((p) => ({ ...p, leader: to.get(`${p.topicId}:${p.partition}`) ?? p.leader }));
}

function counts(partitions: PartitionLeadership[], brokers: BrokerCandidate[]): number[] {
  return eligibleBrokers(brokers).map((b) => partitions.filter((p) => p.leader === b.id).length);
}

describe("planLeaders", () => {
  it("spreads a new topic evenly over brokers and zones", () => {
    const brokers = [broker(0, "a"), broker(1, "a"), broker(1000, "b"), broker(1001, "b"), broker(2000, "c"), broker(2001, "c")];
    const after = apply(topic("t", 12), planLeaders(topic("t", 12), brokers));
    expect(counts(after, brokers)).toEqual([2, 2, 2, 2, 2, 2]);
    // Three partitions on three brokers of three zones: one per zone.
    const small = apply(topic("s", 3), planLeaders(topic("s", 3), brokers));
    expect(new Set(small.map((p) => brokers.find((b) => b.id === p.leader)!.zone)).size).toBe(3);
  });

  it("on scale-out moves only what the new brokers need, and never between old brokers", () => {
    const old = [broker(1, "a"), broker(2, "b"), broker(3, "c")];
    const start = apply(topic("t", 1000), planLeaders(topic("t", 1000), old));
    const grown = [...old, broker(4, "a"), broker(5, "b"), broker(6, "c")];
    const moves = planLeaders(start, grown);
    // 334/333/333 become 167/167/167 and 167/166/166: the old broker with one more keeps it.
    expect(moves).toHaveLength(499);
    expect(moves.every((m) => m.to >= 4 && m.from <= 3)).toBe(true);
    expect(counts(apply(start, moves), grown).sort()).toEqual([166, 166, 167, 167, 167, 167]);
  });

  it("on drain moves exactly the draining broker's partitions, to the others", () => {
    const brokers = [broker(1, "a"), broker(2, "b"), broker(3, "c"), broker(4, "a")];
    const start = apply(topic("t", 40), planLeaders(topic("t", 40), brokers));
    const drained = brokers.map((b) => (b.id === 4 ? { ...b, draining: true } : b));
    const moves = planLeaders(start, drained);
    expect(moves).toHaveLength(start.filter((p) => p.leader === 4).length);
    expect(moves.every((m) => m.from === 4 && m.to !== 4)).toBe(true);
    expect(counts(apply(start, moves), drained).sort()).toEqual([13, 13, 14]);
  });

  it("leaves partitions alone when no broker can lead them", () => {
    expect(planLeaders(topic("t", 3, () => 7), [broker(7, "a", { alive: false })])).toEqual([]);
  });

  it("is balanced, minimal, aimed only at eligible brokers, and idempotent, for any cluster", () => {
    const cluster = fc.record({
      brokers: fc.uniqueArray(fc.record({ id: fc.integer({ min: 0, max: 30 }), zone: fc.constantFrom("a", "b", "c"), alive: fc.boolean(), draining: fc.boolean() }), { selector: (b) => b.id, minLength: 1, maxLength: 10 }),
      topics: fc.array(fc.record({ name: fc.constantFrom("x", "y", "z", "w"), partitions: fc.integer({ min: 1, max: 40 }), leaders: fc.array(fc.integer({ min: -1, max: 32 }), { minLength: 40, maxLength: 40 }) }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(cluster, ({ brokers, topics }) => {
        const seen = new Set<string>();
        const partitions = topics.filter((t) => !seen.has(t.name) && seen.add(t.name)).flatMap((t) => topic(t.name, t.partitions, (p) => t.leaders[p]!));
        const moves = planLeaders(partitions, brokers);
        const eligible = eligibleBrokers(brokers);
        if (eligible.length === 0) {
          expect(moves).toEqual([]);
          return;
        }
        const ids = new Set(eligible.map((b) => b.id));
        expect(moves.every((m) => ids.has(m.to) && m.from !== m.to)).toBe(true);
        const after = apply(partitions, moves);
        expect(after.every((p) => ids.has(p.leader))).toBe(true);
        const c = counts(after, brokers);
        expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
        // Each topic is balanced too, and nothing moves that did not have to: every homeless
        // partition, plus what a broker led beyond its share of the topic.
        let needed = 0;
        for (const name of new Set(partitions.map((p) => p.topicId))) {
          const before = counts(partitions.filter((p) => p.topicId === name), brokers);
          const per = counts(after.filter((p) => p.topicId === name), brokers);
          expect(Math.max(...per) - Math.min(...per)).toBeLessThanOrEqual(1);
          needed += partitions.filter((p) => p.topicId === name && !ids.has(p.leader)).length;
          needed += before.reduce((n, k, i) => n + Math.max(0, k - per[i]!), 0);
        }
        expect(moves).toHaveLength(needed);
        expect(planLeaders(after, brokers)).toEqual([]);
      }),
      { numRuns: 300, seed: 4 },
    );
  });
});

describe("planLoadSwaps", () => {
  const MiB = 1 << 20;
  const opts = (extra: Partial<LoadBalanceOptions> = {}): LoadBalanceOptions => ({ thresholdRatio: 0.2, minBytesPerSec: MiB, maxSwaps: 4, frozen: new Set(), ...extra });
  const brokers = [broker(1, "a"), broker(2, "b"), broker(3, "c")];
  const loadOf = (parts: PartitionLeadership[], rate: (t: string, p: number) => number) => eligibleBrokers(brokers).map((b) => parts.filter((p) => p.leader === b.id).reduce((n, p) => n + rate(p.topicId, p.partition), 0));

  it("splits two hot partitions that share a broker, keeping every broker's counts", () => {
    // 6 partitions, 2 per broker; partitions 0 and 3 are hot and both on broker 1.
    const start = topic("t", 6, (p) => [1, 2, 3, 1, 2, 3][p]!);
    const rate = (_t: string, p: number) => (p === 0 || p === 3 ? 10 * MiB : 0.1 * MiB);
    const moves = planLoadSwaps(start, brokers, rate, opts());
    expect(moves).toHaveLength(2);
    const after = apply(start, moves);
    expect(counts(after, brokers)).toEqual([2, 2, 2]);
    expect(new Set(after.filter((p) => rate("t", p.partition) > MiB).map((p) => p.leader)).size).toBe(2);
    expect(Math.max(...loadOf(after, rate))).toBeLessThan(Math.max(...loadOf(start, rate)));
    // Planned again on the result: no change (stable), and planLeaders agrees the counts are fine.
    expect(planLoadSwaps(after, brokers, rate, opts())).toEqual([]);
    expect(planLeaders(after, brokers)).toEqual([]);
  });

  it("leaves a balanced cluster, small imbalances and frozen partitions alone", () => {
    const start = topic("t", 6, (p) => [1, 2, 3, 1, 2, 3][p]!);
    expect(planLoadSwaps(start, brokers, () => 5 * MiB, opts())).toEqual([]);
    // Broker 1 is 2x the others, but only by 0.2 MiB/s: below the minimum worth a move.
    const small = (_t: string, p: number) => (p === 0 ? 0.3 * MiB : 0.1 * MiB);
    expect(planLoadSwaps(start, brokers, small, opts())).toEqual([]);
    const hot = (_t: string, p: number) => (p === 0 || p === 3 ? 10 * MiB : 0.1 * MiB);
    expect(planLoadSwaps(start, brokers, hot, opts({ frozen: new Set(["t:0", "t:3"]) }))).toEqual([]);
  });

  it("swaps only within a topic, and never more than maxSwaps per round", () => {
    // Broker 1 leads all of topic "hot"'s traffic through one partition; "cold" partitions elsewhere cannot trade with it.
    const start = [...topic("hot", 3, (p) => [1, 2, 3][p]!), ...topic("cold", 3, (p) => [1, 2, 3][p]!)];
    const rate = (t: string, p: number) => (t === "hot" && p === 0 ? 30 * MiB : 0);
    // The one hot partition cannot be split: no swap helps.
    expect(planLoadSwaps(start, brokers, rate, opts())).toEqual([]);
    const many = topic("t", 60, (p) => [1, 2, 3][p % 3]!);
    const skewed = (_t: string, p: number) => (p % 3 === 0 ? 5 * MiB : 0);
    const moves = planLoadSwaps(many, brokers, skewed, opts({ maxSwaps: 3 }));
    expect(moves).toHaveLength(6);
    expect(moves.every((m) => m.topicId === "t")).toBe(true);
  });

  it("property: a plan keeps per-topic counts, never raises the busiest broker's load, and moves each partition at most once", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 3, maxLength: 30 }), fc.integer({ min: 1, max: 8 }), (rates, maxSwaps) => {
        const start = topic("t", rates.length, (p) => [1, 2, 3][p % 3]!);
        const rate = (_t: string, p: number) => rates[p]! * MiB;
        const moves = planLoadSwaps(start, brokers, rate, opts({ maxSwaps }));
        const after = apply(start, moves);
        expect(counts(after, brokers)).toEqual(counts(start, brokers));
        expect(Math.max(...loadOf(after, rate))).toBeLessThanOrEqual(Math.max(...loadOf(start, rate)));
        expect(new Set(moves.map((m) => m.partition)).size).toBe(moves.length);
        expect(moves.length).toBeLessThanOrEqual(2 * maxSwaps);
      }),
    );
  });
});
