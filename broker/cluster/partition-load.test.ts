import { describe, expect, it } from "vitest";
import { loadReportProblem, PartitionLoads, PartitionTraffic } from "./partition-load.js";

describe("PartitionTraffic", () => {
  it("reports bytes per second per partition once per interval, then starts a new window", () => {
    let now = 0;
    const t = new PartitionTraffic(10_000, () => now);
    t.add("a", 0, 1000, 0);
    t.add("a", 0, 1000, 4000);
    t.add("b", 1, 0, 500);
    now = 5000;
    expect(t.reportIfDue()).toBeNull();
    now = 10_000;
    expect(t.reportIfDue()).toEqual({
      windowMs: 10_000,
      partitions: [
        { topicId: "a", partition: 0, bytesInPerSec: 200, bytesOutPerSec: 400 },
        { topicId: "b", partition: 1, bytesInPerSec: 0, bytesOutPerSec: 50 },
      ],
    });
    now = 20_000;
    expect(t.reportIfDue()).toEqual({ windowMs: 10_000, partitions: [] });
  });
});

describe("PartitionLoads (the controller's view)", () => {
  it("takes a rate only from the partition's leader, and only once it led the whole window", () => {
    let now = 100_000;
    const leaders = new Map<string, { leader: number; sinceMs: number }>([
      ["a:0", { leader: 1, sinceMs: 0 }],
      ["a:1", { leader: 2, sinceMs: 0 }],
    ]);
    const loads = new PartitionLoads((t, p) => leaders.get(`${t}:${p}`) ?? null, () => now);
    expect(loads.known).toBe(false);
    loads.observe(1, { windowMs: 10_000, partitions: [{ topicId: "a", partition: 0, bytesInPerSec: 700, bytesOutPerSec: 300 }, { topicId: "a", partition: 1, bytesInPerSec: 9, bytesOutPerSec: 9 }] });
    expect(loads.rateOf("a", 0)).toBe(1000);
    // Broker 1 does not lead a:1: its figure is ignored.
    expect(loads.rateOf("a", 1)).toBe(0);
    // a:0 moves to broker 3; its first report covers a window it did not lead all of: the old rate stays.
    leaders.set("a:0", { leader: 3, sinceMs: 95_000 });
    now = 100_500;
    loads.observe(3, { windowMs: 10_000, partitions: [{ topicId: "a", partition: 0, bytesInPerSec: 50, bytesOutPerSec: 0 }] });
    expect(loads.rateOf("a", 0)).toBe(1000);
    now = 110_000;
    loads.observe(3, { windowMs: 10_000, partitions: [{ topicId: "a", partition: 0, bytesInPerSec: 800, bytesOutPerSec: 0 }] });
    expect(loads.rateOf("a", 0)).toBe(800);
    // Left out of its leader's report for a whole window: it had no traffic.
    now = 120_000;
    loads.observe(3, { windowMs: 10_000, partitions: [] });
    expect(loads.rateOf("a", 0)).toBe(0);
  });

  it("checks heartbeat load reports before the controller reads them", () => {
    expect(loadReportProblem({ windowMs: 1000, partitions: [{ topicId: "t", partition: 0, bytesInPerSec: 1, bytesOutPerSec: 0 }] })).toBeNull();
    expect(loadReportProblem(null)).toMatch(/object/);
    expect(loadReportProblem({ windowMs: 0, partitions: [] })).toMatch(/windowMs/);
    expect(loadReportProblem({ windowMs: 1, partitions: {} })).toMatch(/array/);
    expect(loadReportProblem({ windowMs: 1, partitions: [{ topicId: 3, partition: 0, bytesInPerSec: 1, bytesOutPerSec: 1 }] })).toMatch(/topicId/);
    expect(loadReportProblem({ windowMs: 1, partitions: [{ topicId: "t", partition: 0, bytesInPerSec: -1, bytesOutPerSec: 1 }] })).toMatch(/non-negative/);
  });
});
