import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ErrorCode } from "../protocol/errors.js";
import { GroupCoordinator, type Clock, type JoinRequest, type JoinResult, type OffsetCommit } from "./coordinator.js";

/** A clock the test drives: timers fire only when `advance` passes them. */
class FakeClock implements Clock {
  private t = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private nextId = 1;
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown) {
    this.timers.delete(h as number);
  }
  get pending() {
    return this.timers.size;
  }
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      await Promise.resolve();
    }
    this.t = end;
    await new Promise((r) => setImmediate(r));
  }
}

const persisted: { groupId: string; commits: OffsetCommit[] }[] = [];
let coordinator: GroupCoordinator;
let clock: FakeClock;

function make(initialRebalanceDelayMs = 0) {
  clock = new FakeClock();
  persisted.length = 0;
  coordinator = new GroupCoordinator({
    clock,
    initialRebalanceDelayMs,
    offsetStore: {
      async persist(groupId, commits) {
        persisted.push({ groupId, commits });
      },
      async persistGroupDeleted() {},
    },
  });
  return coordinator;
}

afterEach(() => coordinator?.close());

const join = (memberId: string, extra: Partial<JoinRequest> = {}): Promise<JoinResult> =>
  coordinator.joinGroup({
    groupId: "g",
    memberId,
    groupInstanceId: null,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: Buffer.from("m") }],
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    requireKnownMemberId: false,
    clientId: "c",
    clientHost: "/127.0.0.1",
    ...extra,
  });

const sync = (memberId: string, generationId: number, assignments: { memberId: string; assignment: Buffer }[] = []) =>
  coordinator.syncGroup({ groupId: "g", generationId, memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments });

describe("group coordinator", () => {
  it("forms a group of two: one rebalance, the leader assigns, both get their share", async () => {
    make();
    const a = await join("");
    expect(a).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 1, protocolName: "range" });
    expect(a.leader).toBe(a.memberId);
    // A second member triggers a rebalance: the first must rejoin, then both are answered together.
    const bJoin = join("");
    expect(coordinator.heartbeat({ groupId: "g", generationId: 1, memberId: a.memberId, groupInstanceId: null })).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const aRejoin = join(a.memberId);
    const [a2, b] = await Promise.all([aRejoin, bJoin]);
    expect(a2.generationId).toBe(2);
    expect(b.generationId).toBe(2);
    expect(a2.members.map((m) => m.memberId).sort()).toEqual([a.memberId, b.memberId].sort());
    expect(b.members).toEqual([]);
    const followerSync = sync(b.memberId, 2);
    const leaderSync = sync(a.memberId, 2, [
      { memberId: a.memberId, assignment: Buffer.from("A") },
      { memberId: b.memberId, assignment: Buffer.from("B") },
    ]);
    expect((await leaderSync).assignment.toString()).toBe("A");
    expect((await followerSync).assignment.toString()).toBe("B");
    expect(coordinator.describeGroup("g")!.groupState).toBe("Stable");
  });

  it("removes a member whose session expires and rebalances the rest", async () => {
    make();
    const a = await join("");
    await sync(a.memberId, 1, [{ memberId: a.memberId, assignment: Buffer.from("A") }]);
    const bJoin = join("");
    const [a2, b] = await Promise.all([join(a.memberId), bJoin]);
    await Promise.all([sync(a2.memberId, 2, []), sync(b.memberId, 2)]);
    // Only a keeps heartbeating.
    for (let t = 0; t < 4; t++) {
      await clock.advance(3000);
      coordinator.heartbeat({ groupId: "g", generationId: 2, memberId: a.memberId, groupInstanceId: null });
    }
    expect(coordinator.describeGroup("g")!.groupState).toBe("PreparingRebalance");
    const a3 = await join(a.memberId);
    expect(a3.generationId).toBe(3);
    expect(a3.members.map((m) => m.memberId)).toEqual([a.memberId]);
    expect(coordinator.heartbeat({ groupId: "g", generationId: 2, memberId: b.memberId, groupInstanceId: null })).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it("asks new v4+ members to rejoin with an id (MEMBER_ID_REQUIRED), and forgets ids never used", async () => {
    make();
    const first = await join("", { requireKnownMemberId: true });
    expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    expect(first.memberId).toMatch(/^c-/);
    const joined = await join(first.memberId, { requireKnownMemberId: true });
    expect(joined).toMatchObject({ errorCode: ErrorCode.NONE, memberId: first.memberId, leader: first.memberId });
    const unused = await join("", { requireKnownMemberId: true });
    await clock.advance(10_001);
    expect((await join(unused.memberId, { requireKnownMemberId: true })).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it("fences the old member id when a static member comes back", async () => {
    make();
    const old = await join("", { groupInstanceId: "pod-0" });
    await sync(old.memberId, 1, [{ memberId: old.memberId, assignment: Buffer.from("A") }]);
    const fresh = await join("", { groupInstanceId: "pod-0" });
    expect(fresh.errorCode).toBe(ErrorCode.NONE);
    expect(fresh.memberId).not.toBe(old.memberId);
    expect(coordinator.heartbeat({ groupId: "g", generationId: fresh.generationId, memberId: old.memberId, groupInstanceId: "pod-0" })).toBe(ErrorCode.FENCED_INSTANCE_ID);
  });

  it("refuses members that share no protocol and session timeouts out of bounds", async () => {
    make();
    await join("");
    expect((await join("", { protocols: [{ name: "roundrobin", metadata: Buffer.alloc(0) }] })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await join("", { protocolType: "connect" })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await join("", { sessionTimeoutMs: 10 })).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
  });

  it("waits the initial rebalance delay so members joining together share one generation", async () => {
    make(3000);
    const a = join("");
    const b = join("");
    await clock.advance(3000);
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.generationId).toBe(1);
    expect(rb.generationId).toBe(1);
  });

  it("commits offsets only for the current generation, durably, and returns them", async () => {
    make();
    const a = await join("");
    await sync(a.memberId, 1, [{ memberId: a.memberId, assignment: Buffer.alloc(0) }]);
    const commit = (generationIdOrMemberEpoch: number, memberId: string) =>
      coordinator.commitOffsets({ groupId: "g", generationId: generationIdOrMemberEpoch, memberId, groupInstanceId: null, topics: [{ name: "t", partitions: [{ partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: 0, committedMetadata: "m" }] }] });
    expect((await commit(0, a.memberId)).topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect((await commit(1, "stranger")).topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect((await commit(1, a.memberId)).topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NONE);
    expect(persisted).toHaveLength(1);
    expect(coordinator.fetchOffsets("g", null).topics).toEqual([{ name: "t", partitions: [{ partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: 0, metadata: "m", errorCode: ErrorCode.NONE }] }]);
    expect(coordinator.fetchOffsets("g", [{ name: "u", partitionIndexes: [3] }]).topics[0]!.partitions[0]!.committedOffset).toBe(-1n);
  });

  it("deletes only empty groups", async () => {
    make();
    const a = await join("");
    expect((await coordinator.deleteGroups(["g", "nope"])).get("g")).toBe(ErrorCode.NON_EMPTY_GROUP);
    await coordinator.leaveGroup("g", [{ memberId: a.memberId, groupInstanceId: null }]);
    const res = await coordinator.deleteGroups(["g", "nope"]);
    expect(Object.fromEntries(res)).toEqual({ g: ErrorCode.NONE, nope: ErrorCode.GROUP_ID_NOT_FOUND });
  });

  it("answers every pending request and leaves no timer behind on close", async () => {
    make(5000);
    const pending = join("");
    coordinator.close();
    expect((await pending).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    await clock.advance(60_000);
  });

  it("keeps its invariants under random joins, leaves, heartbeats and expiries (property)", async () => {
    const action = fc.oneof(
      fc.record({ kind: fc.constant("join" as const), who: fc.nat(4) }),
      fc.record({ kind: fc.constant("leave" as const), who: fc.nat(4) }),
      fc.record({ kind: fc.constant("beat" as const), who: fc.nat(4) }),
      fc.record({ kind: fc.constant("sync" as const), who: fc.nat(4) }),
      fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 1, max: 40_000 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 40 }), async (actions) => {
        make();
        const ids: (string | null)[] = [null, null, null, null, null];
        const outstanding: Promise<unknown>[] = [];
        let lastGeneration = 0;
        for (const a of actions) {
          if (a.kind === "wait") await clock.advance(a.ms);
          else if (a.kind === "join") {
            const p = join(ids[a.who] ?? "").then((r) => {
              if (r.errorCode === ErrorCode.NONE) {
                ids[a.who] = r.memberId;
                expect(r.generationId).toBeGreaterThanOrEqual(lastGeneration);
                lastGeneration = r.generationId;
              } else if (r.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) ids[a.who] = null;
            });
            outstanding.push(p);
          } else if (a.kind === "leave" && ids[a.who]) {
            await coordinator.leaveGroup("g", [{ memberId: ids[a.who]!, groupInstanceId: null }]);
            ids[a.who] = null;
          } else if (a.kind === "beat" && ids[a.who]) {
            coordinator.heartbeat({ groupId: "g", generationId: lastGeneration, memberId: ids[a.who]!, groupInstanceId: null });
          } else if (a.kind === "sync" && ids[a.who]) {
            outstanding.push(sync(ids[a.who]!, lastGeneration, []));
          }
          await new Promise((r) => setImmediate(r));
          const d = coordinator.describeGroup("g");
          if (d?.groupState === "Stable") expect(d.members.length).toBeGreaterThan(0);
        }
        // Everything still waiting is answered: by the rebalance timeout, or by close().
        await clock.advance(120_000);
        coordinator.close();
        await Promise.all(outstanding);
      }),
      { numRuns: 60 },
    );
  });
});
