import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ErrorCode } from "../protocol/errors.js";
import { ConsumerProtocolSubscription } from "../protocol/messages/index.js";
import { Writer } from "../protocol/primitives.js";
import { GroupCoordinator, type Clock, type GroupCoordinatorOptions, type JoinRequest, type JoinResult, type OffsetCommit, type SyncResult } from "./coordinator.js";

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

function make(initialRebalanceDelayMs = 0, extra: Partial<GroupCoordinatorOptions> = {}) {
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
    ...extra,
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
    expect(clock.pending).toBe(0);
  });
});

const beat = (memberId: string, generationId: number, groupInstanceId: string | null = null) => coordinator.heartbeat({ groupId: "g", generationId, memberId, groupInstanceId });
const stateOf = (groupId = "g") => coordinator.describeGroup(groupId)?.groupState;
const offsets = (partitions: [string, number, bigint][], metadata: string | null = null) => {
  const byTopic = new Map<string, { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: string | null }[]>();
  for (const [topic, partitionIndex, committedOffset] of partitions) byTopic.set(topic, [...(byTopic.get(topic) ?? []), { partitionIndex, committedOffset, committedLeaderEpoch: 0, committedMetadata: metadata }]);
  return [...byTopic].map(([name, ps]) => ({ name, partitions: ps }));
};
const commit = (generationId: number, memberId: string, parts: [string, number, bigint][] = [["t", 0, 1n]], extra: { groupInstanceId?: string | null; metadata?: string | null; groupId?: string } = {}) =>
  coordinator.commitOffsets({ groupId: extra.groupId ?? "g", generationId, memberId, groupInstanceId: extra.groupInstanceId ?? null, topics: offsets(parts, extra.metadata ?? null) });
const codes = (r: { topics: { partitions: { errorCode: number }[] }[] }) => r.topics.flatMap((t) => t.partitions.map((p) => p.errorCode));
const committedOf = (topic: string, partition: number, groupId = "g") => coordinator.fetchOffsets(groupId, [{ name: topic, partitionIndexes: [partition] }]).topics[0]!.partitions[0]!.committedOffset;

/** Members joining together (needs an initial delay of 3000 ms), then the leader assigns each its own id. */
async function formGroup(n: number, extra: Partial<JoinRequest>[] = []) {
  const joins = Array.from({ length: n }, (_, i) => join("", extra[i] ?? {}));
  await clock.advance(3000);
  const results = await Promise.all(joins);
  const leader = results.find((r) => r.memberId === r.leader)!;
  const assignments = leader.members.map((m) => ({ memberId: m.memberId, assignment: Buffer.from(m.memberId) }));
  await Promise.all(results.map((r) => coordinator.syncGroup({ groupId: "g", generationId: r.generationId, memberId: r.memberId, groupInstanceId: extra[results.indexOf(r)]?.groupInstanceId ?? null, protocolType: null, protocolName: null, assignments: r === leader ? assignments : [] })));
  expect(stateOf()).toBe("Stable");
  return { results, leader, generation: leader.generationId };
}

/** A store whose writes finish when the test says so. */
function manualStore() {
  const waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const wait = () => new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
  return { waiting, store: { persist: wait, persistGroupDeleted: wait } };
}

describe("rebalances", () => {
  it("a third member triggers a rebalance that the previous leader leads, and the group settles with three assignments", async () => {
    make(3000);
    const { results, leader, generation } = await formGroup(2);
    const third = join("");
    expect(stateOf()).toBe("PreparingRebalance");
    for (const r of results) expect(beat(r.memberId, generation)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const all = await Promise.all([...results.map((r) => join(r.memberId)), third]);
    expect(new Set(all.map((r) => r.generationId))).toEqual(new Set([generation + 1]));
    expect(new Set(all.map((r) => r.leader))).toEqual(new Set([leader.memberId]));
    const leading = all.find((r) => r.memberId === leader.memberId)!;
    expect(leading.members).toHaveLength(3);
    expect(all.filter((r) => r.members.length > 0)).toHaveLength(1);
    expect(stateOf()).toBe("CompletingRebalance");
    const synced = await Promise.all(
      all.map((r) => sync(r.memberId, r.generationId, r === leading ? leading.members.map((m) => ({ memberId: m.memberId, assignment: Buffer.from(m.memberId) })) : [])),
    );
    expect(synced.map((s) => s.assignment.toString())).toEqual(all.map((r) => r.memberId));
    const d = coordinator.describeGroup("g")!;
    expect(d.groupState).toBe("Stable");
    expect(d.members.every((m) => m.memberAssignment.length > 0)).toBe(true);
  });

  it("when the leader leaves, a remaining member leads the next generation", async () => {
    make(3000);
    const { results, leader, generation } = await formGroup(2);
    const follower = results.find((r) => r !== leader)!;
    const left = await coordinator.leaveGroup("g", [{ memberId: leader.memberId, groupInstanceId: null, reason: "shutting down" }]);
    expect(left.members).toEqual([{ memberId: leader.memberId, groupInstanceId: null, errorCode: ErrorCode.NONE }]);
    expect(beat(follower.memberId, generation)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const again = await join(follower.memberId);
    expect(again).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation + 1, leader: follower.memberId });
    expect(again.members.map((m) => m.memberId)).toEqual([follower.memberId]);
    expect(beat(leader.memberId, generation + 1)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it("a member that keeps heartbeating but never rejoins is removed when the rebalance timeout passes", async () => {
    make(3000);
    const { results, generation } = await formGroup(2);
    const [stays, lags] = results as [JoinResult, JoinResult];
    const newcomer = join("");
    const staysAgain = join(stays.memberId);
    for (let t = 0; t < 30_000; t += 5000) {
      await clock.advance(5000);
      if (t + 5000 < 30_000) expect(beat(lags.memberId, generation)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    }
    const [a, b] = await Promise.all([staysAgain, newcomer]);
    expect(a.generationId).toBe(generation + 1);
    expect(b.generationId).toBe(generation + 1);
    expect(beat(lags.memberId, generation + 1)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it("removes members that do not send SyncGroup within the rebalance timeout, answering the ones waiting", async () => {
    make();
    const a = await join("");
    await sync(a.memberId, 1, [{ memberId: a.memberId, assignment: Buffer.from("A") }]);
    const bJoin = join("");
    const [a2, b] = await Promise.all([join(a.memberId), bJoin]);
    expect(a2.leader).toBe(a.memberId);
    // The follower waits for assignments that never come: the leader only heartbeats.
    const followerSync = sync(b.memberId, 2);
    for (let t = 5000; t < 30_000; t += 5000) {
      await clock.advance(5000);
      expect(beat(a.memberId, 2)).toBe(ErrorCode.NONE);
      expect(beat(b.memberId, 2)).toBe(ErrorCode.NONE);
    }
    await clock.advance(5000);
    expect((await followerSync).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    expect(beat(a.memberId, 2)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    const b3 = await join(b.memberId);
    expect(b3).toMatchObject({ generationId: 3, leader: b.memberId });
  });

  it("a pending MEMBER_ID_REQUIRED member does not start a rebalance, but a running one waits for it until it expires", async () => {
    make();
    const a = await join("");
    await sync(a.memberId, 1, [{ memberId: a.memberId, assignment: Buffer.from("A") }]);
    const pending = await join("", { requireKnownMemberId: true });
    expect(pending.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    expect(stateOf()).toBe("Stable");
    const c = join("");
    let done = false;
    const aAgain = join(a.memberId).then((r) => ((done = true), r));
    await clock.advance(9_999);
    expect(done).toBe(false);
    await clock.advance(1);
    expect((await aAgain).generationId).toBe(2);
    expect((await c).generationId).toBe(2);
  });

  it("caps the initial rebalance delay at the rebalance timeout while members keep arriving", async () => {
    make(3000);
    const opts = { rebalanceTimeoutMs: 5000 };
    const joined: JoinResult[] = [];
    const track = (p: Promise<JoinResult>) => p.then((r) => joined.push(r));
    track(join("", opts));
    await clock.advance(2000);
    track(join("", opts));
    await clock.advance(2000);
    track(join("", opts));
    await clock.advance(999);
    expect(joined).toHaveLength(0);
    await clock.advance(1);
    expect(joined.map((r) => r.generationId)).toEqual([1, 1, 1]);
  });

  it("chooses the protocol all members support that most prefer, and refuses a member with none in common with every member", async () => {
    make(3000);
    const p = (...names: string[]) => ({ protocols: names.map((name) => ({ name, metadata: Buffer.from(name) })) });
    const joins = [join("", p("roundrobin", "range")), join("", p("range", "roundrobin")), join("", p("roundrobin", "range", "sticky"))];
    await clock.advance(3000);
    const results = await Promise.all(joins);
    expect(new Set(results.map((r) => r.protocolName))).toEqual(new Set(["roundrobin"]));
    make();
    await join("", p("x", "y"));
    const b = join("", p("x", "z"));
    // Shares y with the first and z with the second, but nothing with both.
    expect((await join("", p("y", "z"))).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    coordinator.close();
    await b;
  });
});

describe("static membership", () => {
  it("a restarted instance takes over its member without a rebalance; the old id is fenced everywhere", async () => {
    make(3000);
    const { results, generation } = await formGroup(2, [{ groupInstanceId: "pod-0" }, { groupInstanceId: "pod-1" }]);
    const [pod0, pod1] = results as [JoinResult, JoinResult];
    const wasLeader = pod0.leader === pod0.memberId;
    const again = await join("", { groupInstanceId: "pod-0" });
    expect(again).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation, protocolName: "range" });
    expect(again.memberId).not.toBe(pod0.memberId);
    expect(again.memberId).toMatch(/^pod-0-/);
    expect(again.skipAssignment).toBe(wasLeader);
    expect(again.members).toHaveLength(wasLeader ? 2 : 0);
    expect(again.leader).toBe(wasLeader ? again.memberId : pod1.memberId);
    expect(stateOf()).toBe("Stable");
    expect(beat(pod1.memberId, generation, "pod-1")).toBe(ErrorCode.NONE);
    expect(beat(pod0.memberId, generation, "pod-0")).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect(codes(await commit(generation, pod0.memberId, [["t", 0, 5n]], { groupInstanceId: "pod-0" }))).toEqual([ErrorCode.FENCED_INSTANCE_ID]);
    const synced = await coordinator.syncGroup({ groupId: "g", generationId: generation, memberId: again.memberId, groupInstanceId: "pod-0", protocolType: "consumer", protocolName: "range", assignments: [] });
    // The old member's assignment carries over to the new id.
    expect(synced.assignment.toString()).toBe(pod0.memberId);
    const left = await coordinator.leaveGroup("g", [{ memberId: pod0.memberId, groupInstanceId: "pod-0" }, { memberId: "", groupInstanceId: "pod-1" }, { memberId: "", groupInstanceId: "pod-9" }]);
    expect(left.members.map((m) => m.errorCode)).toEqual([ErrorCode.FENCED_INSTANCE_ID, ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID]);
  });

  it("a restart while the old member waits in JoinGroup fences that request and joins in its place", async () => {
    make(3000);
    const { results, generation } = await formGroup(2, [{ groupInstanceId: "pod-0" }, {}]);
    const [pod0, other] = results as [JoinResult, JoinResult];
    const newcomer = join("");
    const oldWaiting = join(pod0.memberId, { groupInstanceId: "pod-0" });
    const restarted = join("", { groupInstanceId: "pod-0" });
    expect((await oldWaiting).errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
    const all = await Promise.all([restarted, newcomer, join(other.memberId)]);
    expect(all.map((r) => r.generationId)).toEqual([generation + 1, generation + 1, generation + 1]);
    const leader = all.find((r) => r.members.length > 0)!;
    expect(leader.members.map((m) => m.groupInstanceId)).toContain("pod-0");
    expect(leader.members.map((m) => m.memberId)).not.toContain(pod0.memberId);
  });
});

describe("offsets", () => {
  it("refuses commits from an old generation and while assignments are being handed out", async () => {
    make();
    const a = await join("");
    await sync(a.memberId, 1, [{ memberId: a.memberId, assignment: Buffer.from("A") }]);
    expect(codes(await commit(1, a.memberId))).toEqual([ErrorCode.NONE]);
    const bJoin = join("");
    // PreparingRebalance: the current generation may still commit what it consumed.
    expect(codes(await commit(1, a.memberId, [["t", 0, 2n]]))).toEqual([ErrorCode.NONE]);
    const [a2] = await Promise.all([join(a.memberId), bJoin]);
    expect(codes(await commit(1, a.memberId, [["t", 0, 3n]]))).toEqual([ErrorCode.ILLEGAL_GENERATION]);
    expect(codes(await commit(a2.generationId, a.memberId, [["t", 0, 3n]]))).toEqual([ErrorCode.REBALANCE_IN_PROGRESS]);
    expect(codes(await commit(-1, "", [["t", 0, 3n]]))).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    expect(committedOf("t", 0)).toBe(2n);
  });

  it("answers and applies a commit only once the store made it durable, and not at all if the store fails", async () => {
    const { waiting, store } = manualStore();
    make(0, { offsetStore: store });
    let answered = false;
    const first = commit(-1, "", [["t", 0, 7n], ["u", 1, 8n]]).then((r) => ((answered = true), r));
    await clock.advance(0);
    expect(answered).toBe(false);
    expect(committedOf("t", 0)).toBe(-1n);
    waiting.shift()!.resolve();
    expect(codes(await first)).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
    expect(committedOf("t", 0)).toBe(7n);
    const failing = commit(-1, "", [["t", 0, 9n]]);
    await clock.advance(0);
    waiting.shift()!.reject(new Error("disk gone"));
    expect(codes(await failing)).toEqual([ErrorCode.COORDINATOR_NOT_AVAILABLE]);
    expect(committedOf("t", 0)).toBe(7n);
    expect(coordinator.fetchOffsets("g", null).topics.map((t) => [t.name, t.partitions.map((p) => p.committedOffset)])).toEqual([
      ["t", [7n]],
      ["u", [8n]],
    ]);
  });

  it("takes simple commits (no generation) for unknown and empty groups only, and bounds commit metadata", async () => {
    make();
    expect(codes(await commit(-1, "", [["t", 0, 1n]], { groupId: "solo" }))).toEqual([ErrorCode.NONE]);
    expect(committedOf("t", 0, "solo")).toBe(1n);
    expect(codes(await commit(3, "someone", [["t", 0, 1n]], { groupId: "never-seen" }))).toEqual([ErrorCode.ILLEGAL_GENERATION]);
    expect(coordinator.describeGroup("never-seen")).toBeNull();
    const a = await join("");
    expect(codes(await commit(-1, "", [["t", 0, 1n]]))).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    await coordinator.leaveGroup("g", [{ memberId: a.memberId, groupInstanceId: null }]);
    expect(stateOf()).toBe("Empty");
    expect(codes(await commit(-1, "", [["t", 0, 4n]]))).toEqual([ErrorCode.NONE]);
    const big = "x".repeat(4097);
    expect(codes(await commit(-1, "", [["t", 0, 5n], ["t", 1, 5n]], { metadata: big }))).toEqual([ErrorCode.OFFSET_METADATA_TOO_LARGE, ErrorCode.OFFSET_METADATA_TOO_LARGE]);
    expect(committedOf("t", 0)).toBe(4n);
  });

  it("deletes offsets only of topics the group's consumers do not subscribe to", async () => {
    make();
    const w = new Writer();
    w.int16(0);
    ConsumerProtocolSubscription.encode(w, 0, { ...ConsumerProtocolSubscription.defaults(), topics: ["t"] });
    const a = await join("", { protocols: [{ name: "range", metadata: w.toBuffer() }] });
    await sync(a.memberId, 1, [{ memberId: a.memberId, assignment: Buffer.alloc(0) }]);
    await commit(1, a.memberId, [["t", 0, 1n], ["u", 0, 2n]]);
    const res = await coordinator.deleteOffsets("g", [{ name: "t", partitionIndexes: [0] }, { name: "u", partitionIndexes: [0] }]);
    expect(res.topics.map((t) => t.partitions[0]!.errorCode)).toEqual([ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, ErrorCode.NONE]);
    expect(committedOf("u", 0)).toBe(-1n);
    expect(committedOf("t", 0)).toBe(1n);
    expect((await coordinator.deleteOffsets("nope", [])).errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
  });
});

describe("administration", () => {
  it("shows protocol, metadata and assignments only while Stable, and filters the list by state", async () => {
    make();
    const a = await join("");
    let d = coordinator.describeGroup("g")!;
    expect(d).toMatchObject({ groupState: "CompletingRebalance", protocolType: "consumer", protocolData: "" });
    expect(d.members[0]!.memberMetadata.length).toBe(0);
    await sync(a.memberId, 1, [{ memberId: a.memberId, assignment: Buffer.from("A") }]);
    d = coordinator.describeGroup("g")!;
    expect(d).toMatchObject({ groupState: "Stable", protocolData: "range" });
    expect(d.members[0]).toMatchObject({ memberId: a.memberId, clientId: "c", clientHost: "/127.0.0.1", memberMetadata: Buffer.from("m"), memberAssignment: Buffer.from("A") });
    await commit(-1, "", [["t", 0, 1n]], { groupId: "idle" });
    expect(coordinator.listGroups().map((g) => [g.groupId, g.groupState])).toEqual([
      ["g", "Stable"],
      ["idle", "Empty"],
    ]);
    expect(coordinator.listGroups(["STABLE"]).map((g) => g.groupId)).toEqual(["g"]);
    expect(coordinator.listGroups(["Empty", "Dead"]).map((g) => g.groupId)).toEqual(["idle"]);
  });

  it("marks a group Dead while its deletion is written, refusing joins and commits, and restores it if the write fails", async () => {
    const { waiting, store } = manualStore();
    make(0, { offsetStore: store });
    const seeded = commit(-1, "", [["t", 0, 3n]]);
    await clock.advance(0);
    waiting.shift()!.resolve();
    await seeded;
    const deleting = coordinator.deleteGroups(["g", "missing"]);
    await clock.advance(0);
    expect(stateOf()).toBe("Dead");
    expect((await join("")).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(codes(await commit(-1, ""))).toEqual([ErrorCode.COORDINATOR_NOT_AVAILABLE]);
    expect(coordinator.listGroups()).toEqual([]);
    waiting.shift()!.reject(new Error("store down"));
    expect(Object.fromEntries(await deleting)).toEqual({ g: ErrorCode.COORDINATOR_NOT_AVAILABLE, missing: ErrorCode.GROUP_ID_NOT_FOUND });
    expect(stateOf()).toBe("Empty");
    expect(committedOf("t", 0)).toBe(3n);
    const again = coordinator.deleteGroups(["g"]);
    await clock.advance(0);
    waiting.shift()!.resolve();
    expect((await again).get("g")).toBe(ErrorCode.NONE);
    expect(coordinator.describeGroup("g")).toBeNull();
    expect(committedOf("t", 0)).toBe(-1n);
    expect((await coordinator.deleteGroups(["g"])).get("g")).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
  });

  it("forgets an Empty group without offsets after a while, but keeps one with offsets", async () => {
    make(0, { emptyGroupRetentionMs: 60_000 });
    for (const groupId of ["g", "kept"]) {
      const a = await join("", { groupId });
      await coordinator.leaveGroup(groupId, [{ memberId: a.memberId, groupInstanceId: null }]);
    }
    await commit(-1, "", [["t", 0, 1n]], { groupId: "kept" });
    expect(stateOf("g")).toBe("Empty");
    await clock.advance(60_000);
    expect(coordinator.describeGroup("g")).toBeNull();
    expect(stateOf("kept")).toBe("Empty");
    expect(clock.pending).toBe(0);
  });

  it("close answers every waiting JoinGroup and SyncGroup and leaves no timer running", async () => {
    make(3000);
    await formGroup(2);
    const joining = join("", { groupId: "other" });
    const required = await join("", { groupId: "third", requireKnownMemberId: true });
    expect(required.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    // A fourth group stuck in CompletingRebalance with a follower waiting for the leader.
    const f = [join("", { groupId: "f" }), join("", { groupId: "f" })];
    await clock.advance(3000);
    const fj = await Promise.all(f);
    const follower = fj.find((r) => r.memberId !== r.leader)!;
    const waitingSync: Promise<SyncResult> = coordinator.syncGroup({ groupId: "f", generationId: follower.generationId, memberId: follower.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
    expect((await joining).generationId).toBe(1);
    const stillJoining = join("", { groupId: "other" });
    expect(clock.pending).toBeGreaterThan(0);
    coordinator.close();
    expect((await waitingSync).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    expect((await stillJoining).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    expect((await join("", { groupId: "late" })).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(clock.pending).toBe(0);
    expect(beat("x", 1)).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  });
});

describe("invariants (property)", () => {
  type Slot = { id: string | null; pendingId: string | null; last: JoinResult | null };
  const action = fc.oneof(
    fc.record({ kind: fc.constant("join" as const), who: fc.nat(4), v4: fc.boolean() }),
    fc.record({ kind: fc.constant("leave" as const), who: fc.nat(4) }),
    fc.record({ kind: fc.constant("beat" as const), who: fc.nat(4) }),
    fc.record({ kind: fc.constant("sync" as const), who: fc.nat(4) }),
    fc.record({ kind: fc.constant("commit" as const), who: fc.nat(4) }),
    fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 1, max: 40_000 }) }),
  );

  it("every request is answered, generations only grow, one leader per generation, Stable means everyone has an assignment", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 50 }), fc.boolean(), fc.boolean(), async (actions, delayed, drain) => {
        make(delayed ? 3000 : 0);
        // Slots 0 and 1 are static members (pod-0, pod-1); the rest are dynamic.
        const slots: Slot[] = Array.from({ length: 5 }, () => ({ id: null, pendingId: null, last: null }));
        const instanceOf = (who: number) => (who < 2 ? `pod-${who}` : null);
        const unsettled = new Set<number>();
        let nextRequest = 0;
        const track = <T>(p: Promise<T>) => {
          const n = nextRequest++;
          unsettled.add(n);
          return p.finally(() => unsettled.delete(n));
        };
        let highestGeneration = 0;
        const leadersByGeneration = new Map<number, Set<string>>();
        const replaced = new Set<string>();

        const check = () => {
          const d = coordinator.describeGroup("g");
          // An Empty group without offsets is forgotten after a while (as Kafka expires it); a
          // later join starts a new group at generation 0, so generations are counted afresh.
          if (!d) {
            leadersByGeneration.clear();
            highestGeneration = 0;
          }
          if (d?.groupState === "Stable") {
            expect(d.members.length).toBeGreaterThan(0);
            for (const m of d.members) expect(m.memberAssignment.length).toBeGreaterThan(0);
          }
          for (const leaders of leadersByGeneration.values()) expect([...leaders].filter((l) => !replaced.has(l)).length).toBeLessThanOrEqual(1);
        };

        for (const a of actions) {
          if (a.kind === "wait") await clock.advance(a.ms);
          else {
            const slot = slots[a.who]!;
            const groupInstanceId = instanceOf(a.who);
            if (a.kind === "join") {
              const memberId = slot.id ?? slot.pendingId ?? "";
              void track(join(memberId, { groupInstanceId, requireKnownMemberId: a.v4 })).then((r) => {
                if (r.errorCode === ErrorCode.NONE) {
                  expect(r.generationId).toBeGreaterThanOrEqual(highestGeneration);
                  highestGeneration = r.generationId;
                  if (slot.id !== null && slot.id !== r.memberId) replaced.add(slot.id);
                  slot.id = r.memberId;
                  slot.pendingId = null;
                  slot.last = r;
                  const leaders = leadersByGeneration.get(r.generationId) ?? new Set();
                  leaders.add(r.leader);
                  leadersByGeneration.set(r.generationId, leaders);
                  if (r.members.length > 0) expect(r.leader).toBe(r.memberId);
                } else if (r.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
                  slot.pendingId = r.memberId;
                } else if (r.errorCode === ErrorCode.UNKNOWN_MEMBER_ID || r.errorCode === ErrorCode.FENCED_INSTANCE_ID) {
                  if (slot.id === r.memberId || r.memberId === "") slot.id = null;
                  if (slot.pendingId === r.memberId) slot.pendingId = null;
                }
              });
            } else if (a.kind === "leave" && (slot.id || groupInstanceId)) {
              await coordinator.leaveGroup("g", [{ memberId: slot.id ?? "", groupInstanceId }]);
              slot.id = null;
              slot.last = null;
            } else if (a.kind === "beat" && slot.id && slot.last) {
              beat(slot.id, slot.last.generationId, groupInstanceId);
            } else if (a.kind === "sync" && slot.id && slot.last) {
              const last = slot.last;
              // A leader always hands every member a non-empty assignment (its own id).
              const assignments = last.members.map((m) => ({ memberId: m.memberId, assignment: Buffer.from(m.memberId) }));
              void track(coordinator.syncGroup({ groupId: "g", generationId: last.generationId, memberId: slot.id, groupInstanceId, protocolType: "consumer", protocolName: null, assignments })).then((r) => {
                if (r.errorCode === ErrorCode.NONE) expect(r.assignment.length).toBeGreaterThan(0);
              });
            } else if (a.kind === "commit") {
              void track(commit(slot.last?.generationId ?? -1, slot.id ?? "", [["t", a.who, BigInt(actions.length)]], { groupInstanceId }));
            }
          }
          await clock.advance(0);
          check();
        }
        if (drain) {
          // Left alone, every session and pending id runs out and the group ends up Empty (or forgotten).
          await clock.advance(200_000);
          expect(["Empty", undefined]).toContain(stateOf());
          expect(unsettled.size).toBe(0);
        }
        // Closing mid-flight answers whatever still waits and stops every timer.
        coordinator.close();
        await clock.advance(0);
        expect(unsettled.size).toBe(0);
        expect(clock.pending).toBe(0);
      }),
      { numRuns: 150 },
    );
  });
});
