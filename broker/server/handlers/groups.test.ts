import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.js";
import { findCoordinator } from "./10-find-coordinator.js";
import { joinGroup } from "./11-join-group.js";
import { heartbeat } from "./12-heartbeat.js";
import { leaveGroup } from "./13-leave-group.js";
import { syncGroup } from "./14-sync-group.js";
import { describeGroups } from "./15-describe-groups.js";
import { listGroups } from "./16-list-groups.js";
import { offsetCommit } from "./08-offset-commit.js";
import { offsetFetch } from "./09-offset-fetch.js";
import { deleteGroups } from "./42-delete-groups.js";
import { offsetDelete } from "./47-offset-delete.js";
import { call, createTestBroker, TEST_LISTENER, type TestBroker } from "./test-broker.js";

let broker: TestBroker;
beforeEach(async () => {
  broker = await createTestBroker();
  await broker.controller.createTopic("t", 2, {});
});
afterEach(() => broker.close());

const elsewhere = { nodeId: 7, rack: null, listeners: [{ name: TEST_LISTENER, host: "other", port: 9093 }] };

describe("FindCoordinator", () => {
  it("v0 answers one group key with this broker", async () => {
    const res = await call(findCoordinator, broker, 0, { key: "g", keyType: 0, coordinatorKeys: [] });
    expect(res).toEqual({ throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, nodeId: broker.self.nodeId, host: "localhost", port: 9092, coordinators: [] });
  });

  it("v4 answers each key of a batch, and refuses unknown key types and empty transactional ids", async () => {
    const res = await call(findCoordinator, broker, 4, { key: "", keyType: 0, coordinatorKeys: ["a", "b"] });
    expect(res.coordinators).toEqual([
      { key: "a", nodeId: 1, host: "localhost", port: 9092, errorCode: ErrorCode.NONE, errorMessage: null },
      { key: "b", nodeId: 1, host: "localhost", port: 9092, errorCode: ErrorCode.NONE, errorMessage: null },
    ]);
    const txn = await call(findCoordinator, broker, 6, { key: "", keyType: 1, coordinatorKeys: ["tx", ""] });
    expect(txn.coordinators.map((c) => c.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.INVALID_REQUEST]);
    const share = await call(findCoordinator, broker, 6, { key: "", keyType: 2, coordinatorKeys: ["s"] });
    expect(share.coordinators[0]).toMatchObject({ nodeId: -1, port: -1, errorCode: ErrorCode.INVALID_REQUEST });
  });

  it("reports COORDINATOR_NOT_AVAILABLE, and names another broker when it coordinates", async () => {
    broker.coordinator = null;
    expect((await call(findCoordinator, broker, 2, { key: "g", keyType: 0, coordinatorKeys: [] })).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    broker.coordinator = elsewhere;
    expect(await call(findCoordinator, broker, 3, { key: "g", keyType: 0, coordinatorKeys: [] })).toMatchObject({ errorCode: ErrorCode.NONE, nodeId: 7, host: "other", port: 9093 });
  });
});

describe("group requests for groups this broker does not coordinate", () => {
  it("answer NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or INVALID_GROUP_ID without touching the coordinator", async () => {
    broker.coordinator = elsewhere;
    const join = await call(joinGroup, broker, 9, joinRequest("g", ""));
    expect(join).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR, generationId: -1, protocolName: null, memberId: "" });
    expect((await call(joinGroup, broker, 0, joinRequest("g", ""))).protocolName).toBe("");
    expect((await call(heartbeat, broker, 0, { groupId: "g", generationId: 1, memberId: "m", groupInstanceId: null })).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    const commit = await call(offsetCommit, broker, 2, commitRequest("g", -1, "", [[0, 5n]]));
    expect(commit.topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    const fetchV1 = await call(offsetFetch, broker, 1, { groupId: "g", topics: [{ name: "t", partitionIndexes: [0, 1] }], groups: [], requireStable: false });
    expect(fetchV1.topics[0]!.partitions.map((p) => [p.errorCode, p.committedOffset])).toEqual([
      [ErrorCode.NOT_COORDINATOR, -1n],
      [ErrorCode.NOT_COORDINATOR, -1n],
    ]);
    const fetchV8 = await call(offsetFetch, broker, 8, { groupId: "", topics: [], groups: [{ groupId: "g", memberId: null, memberEpoch: -1, topics: null }], requireStable: false });
    expect(fetchV8.groups[0]!.errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    const described = await call(describeGroups, broker, 5, { groups: ["g"], includeAuthorizedOperations: false });
    expect(described.groups[0]!.errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    const deleted = await call(deleteGroups, broker, 2, { groupsNames: ["g"] });
    expect(deleted.results).toEqual([{ groupId: "g", errorCode: ErrorCode.NOT_COORDINATOR }]);

    broker.coordinator = null;
    expect((await call(syncGroup, broker, 5, syncRequest("g", 1, "m", []))).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);

    broker.coordinator = broker.self;
    expect((await call(joinGroup, broker, 5, joinRequest("", ""))).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    expect((await call(leaveGroup, broker, 3, { groupId: "", memberId: "", members: [{ memberId: "m", groupInstanceId: null, reason: null }] })).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    expect((await call(offsetDelete, broker, 0, { groupId: "", topics: [] })).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
  });
});

describe("a consumer group through the handlers", () => {
  for (const [label, versions] of [
    ["old versions", { join: 1, sync: 0, heartbeat: 0, commit: 2, fetch: 1, leave: 0, describe: 0, list: 0 }],
    ["new versions", { join: 9, sync: 5, heartbeat: 4, commit: 9, fetch: 8, leave: 5, describe: 5, list: 5 }],
  ] as const) {
    it(`joins, syncs, heartbeats, commits, fetches and leaves at ${label}`, async () => {
      let joined = await call(joinGroup, broker, versions.join, joinRequest("g", ""));
      if (joined.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
        expect(versions.join).toBeGreaterThanOrEqual(4);
        expect(joined.memberId).not.toBe("");
        joined = await call(joinGroup, broker, versions.join, joinRequest("g", joined.memberId));
      }
      expect(joined.errorCode).toBe(ErrorCode.NONE);
      const memberId = joined.memberId;
      expect(joined.leader).toBe(memberId);
      expect(joined.generationId).toBeGreaterThanOrEqual(1);
      expect(joined.protocolName).toBe("range");
      expect(joined.members.map((m) => m.memberId)).toEqual([memberId]);
      if (versions.join >= 7) expect(joined.protocolType).toBe("consumer");

      const assignment = Buffer.from("assigned");
      const synced = await call(syncGroup, broker, versions.sync, syncRequest("g", joined.generationId, memberId, [{ memberId, assignment }]));
      expect(synced.errorCode).toBe(ErrorCode.NONE);
      expect(Buffer.from(synced.assignment).equals(assignment)).toBe(true);
      if (versions.sync >= 5) expect(synced).toMatchObject({ protocolType: "consumer", protocolName: "range" });

      const beat = await call(heartbeat, broker, versions.heartbeat, { groupId: "g", generationId: joined.generationId, memberId, groupInstanceId: null });
      expect(beat.errorCode).toBe(ErrorCode.NONE);
      const stale = await call(heartbeat, broker, versions.heartbeat, { groupId: "g", generationId: joined.generationId + 5, memberId, groupInstanceId: null });
      expect(stale.errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);

      const committed = await call(offsetCommit, broker, versions.commit, commitRequest("g", joined.generationId, memberId, [[0, 42n], [1, 7n], [9, 1n]]));
      expect(committed.topics[0]!.partitions.map((p) => [p.partitionIndex, p.errorCode])).toEqual([
        [0, ErrorCode.NONE],
        [1, ErrorCode.NONE],
        [9, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
      ]);
      expect(broker.persisted.length).toBeGreaterThan(0);

      const wanted = [{ name: "t", partitionIndexes: [0, 1] }];
      const offsetsOf = (partitions: readonly { partitionIndex: number; committedOffset: bigint; metadata: string | null; errorCode: number }[]) =>
        partitions.map((p) => [p.partitionIndex, p.committedOffset, p.metadata, p.errorCode]);
      const expected = [
        [0, 42n, "meta", ErrorCode.NONE],
        [1, 7n, "meta", ErrorCode.NONE],
      ];
      if (versions.fetch >= 8) {
        const fetched = await call(offsetFetch, broker, versions.fetch, { groupId: "", topics: [], groups: [{ groupId: "g", memberId: null, memberEpoch: -1, topics: wanted }, { groupId: "other", memberId: null, memberEpoch: -1, topics: null }], requireStable: true });
        expect(fetched.groups[0]!.errorCode).toBe(ErrorCode.NONE);
        expect(offsetsOf(fetched.groups[0]!.topics[0]!.partitions)).toEqual(expected);
        expect(fetched.groups[1]).toMatchObject({ groupId: "other", errorCode: ErrorCode.NONE, topics: [] });
      } else {
        const fetched = await call(offsetFetch, broker, versions.fetch, { groupId: "g", topics: wanted, groups: [], requireStable: false });
        expect(offsetsOf(fetched.topics[0]!.partitions)).toEqual(expected);
      }

      const listed = await call(listGroups, broker, versions.list, { statesFilter: [], typesFilter: [] });
      expect(listed.groups).toEqual([expect.objectContaining({ groupId: "g", protocolType: "consumer" })]);
      if (versions.list >= 4) {
        expect(listed.groups[0]).toMatchObject({ groupState: "Stable", groupType: "classic" });
        expect((await call(listGroups, broker, versions.list, { statesFilter: ["empty"], typesFilter: [] })).groups).toEqual([]);
        expect((await call(listGroups, broker, versions.list, { statesFilter: ["stable"], typesFilter: ["Classic"] })).groups).toHaveLength(1);
        expect((await call(listGroups, broker, versions.list, { statesFilter: [], typesFilter: ["consumer"] })).groups).toEqual([]);
      }

      const described = await call(describeGroups, broker, versions.describe, { groups: ["g", "unknown"], includeAuthorizedOperations: true });
      expect(described.groups[0]).toMatchObject({ errorCode: ErrorCode.NONE, groupId: "g", groupState: "Stable", protocolType: "consumer", protocolData: "range" });
      expect(described.groups[0]!.members).toEqual([
        expect.objectContaining({ memberId, clientId: "test-client", clientHost: "/127.0.0.1" }),
      ]);
      expect(Buffer.from(described.groups[0]!.members[0]!.memberAssignment).equals(assignment)).toBe(true);
      expect(described.groups[1]).toMatchObject({ errorCode: ErrorCode.NONE, groupId: "unknown", groupState: "Dead", members: [] });

      expect((await call(deleteGroups, broker, 1, { groupsNames: ["g"] })).results[0]!.errorCode).toBe(ErrorCode.NON_EMPTY_GROUP);

      const left =
        versions.leave >= 3
          ? await call(leaveGroup, broker, versions.leave, { groupId: "g", memberId: "", members: [{ memberId, groupInstanceId: null, reason: "done" }, { memberId: "ghost", groupInstanceId: null, reason: null }] })
          : await call(leaveGroup, broker, versions.leave, { groupId: "g", memberId, members: [] });
      expect(left.errorCode).toBe(ErrorCode.NONE);
      if (versions.leave >= 3) {
        expect(left.members).toEqual([
          { memberId, groupInstanceId: null, errorCode: ErrorCode.NONE },
          { memberId: "ghost", groupInstanceId: null, errorCode: ErrorCode.UNKNOWN_MEMBER_ID },
        ]);
      }
      const afterLeave = await call(describeGroups, broker, versions.describe, { groups: ["g"], includeAuthorizedOperations: false });
      expect(afterLeave.groups[0]).toMatchObject({ groupState: "Empty", members: [] });

      // Offsets outlive the members; an empty group can drop them, then be deleted.
      const dropped = await call(offsetDelete, broker, 0, { groupId: "g", topics: [{ name: "t", partitions: [{ partitionIndex: 1 }] }, { name: "missing", partitions: [{ partitionIndex: 0 }] }] });
      expect(dropped).toEqual({
        errorCode: ErrorCode.NONE,
        throttleTimeMs: 0,
        topics: [
          { name: "t", partitions: [{ partitionIndex: 1, errorCode: ErrorCode.NONE }] },
          { name: "missing", partitions: [{ partitionIndex: 0, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
        ],
      });
      const remaining = await call(offsetFetch, broker, 2, { groupId: "g", topics: null, groups: [], requireStable: false });
      expect(remaining.errorCode).toBe(ErrorCode.NONE);
      expect(remaining.topics.map((t) => [t.name, t.partitions.map((p) => [p.partitionIndex, p.committedOffset])])).toEqual([["t", [[0, 42n]]]]);

      const deleted = await call(deleteGroups, broker, 2, { groupsNames: ["g", "never"] });
      expect(deleted.results).toEqual([
        { groupId: "g", errorCode: ErrorCode.NONE },
        { groupId: "never", errorCode: ErrorCode.GROUP_ID_NOT_FOUND },
      ]);
      const gone = await call(offsetFetch, broker, 1, { groupId: "g", topics: wanted, groups: [], requireStable: false });
      expect(gone.topics[0]!.partitions.map((p) => p.committedOffset)).toEqual([-1n, -1n]);
    });
  }

  it("v0 OffsetCommit commits without membership for a group with no members", async () => {
    const res = await call(offsetCommit, broker, 0, commitRequest("simple", -1, "", [[0, 3n]]));
    expect(res.topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.NONE);
    const fetched = await call(offsetFetch, broker, 5, { groupId: "simple", topics: null, groups: [], requireStable: false });
    expect(fetched.topics[0]!.partitions[0]).toMatchObject({ partitionIndex: 0, committedOffset: 3n, errorCode: ErrorCode.NONE });
  });

  it("refuses metadata longer than 4096 bytes", async () => {
    const req = commitRequest("simple", -1, "", [[0, 3n]]);
    req.topics[0]!.partitions[0]!.committedMetadata = "x".repeat(4097);
    const res = await call(offsetCommit, broker, 8, req);
    expect(res.topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.OFFSET_METADATA_TOO_LARGE);
  });
});

function joinRequest(groupId: string, memberId: string) {
  return {
    groupId,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    memberId,
    groupInstanceId: null,
    protocolType: "consumer",
    protocols: [{ name: "range", metadata: Buffer.from("sub") }],
    reason: null,
  };
}

function syncRequest(groupId: string, generationId: number, memberId: string, assignments: { memberId: string; assignment: Buffer }[]) {
  return { groupId, generationId, memberId, groupInstanceId: null, protocolType: "consumer", protocolName: "range", assignments };
}

function commitRequest(groupId: string, generation: number, memberId: string, partitions: [number, bigint][]) {
  return {
    groupId,
    generationIdOrMemberEpoch: generation,
    memberId,
    groupInstanceId: null,
    retentionTimeMs: -1n,
    topics: [
      {
        name: "t",
        partitions: partitions.map(([partitionIndex, committedOffset]) => ({ partitionIndex, committedOffset, committedLeaderEpoch: -1, commitTimestamp: -1n, committedMetadata: "meta" as string | null })),
      },
    ],
  };
}
