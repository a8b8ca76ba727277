import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { eligibleBrokers, planLeaders, type BrokerCandidate, type PartitionLeadership } from "./assignment.js";

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
