import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AclOperation as Op, AclStore, CLUSTER_NAME, PatternType, PermissionType, ResourceType as R, bindingProblem, filterProblem, type AclBinding, type AclFilter } from "./acl.js";
import { Controller, memoryJournal } from "../cluster/controller.js";
import { TopicRegistry } from "../cluster/topics.js";
import { ErrorCode } from "../protocol/errors.js";
import { describeAcls } from "../server/handlers/29-describe-acls.js";
import { createAcls } from "../server/handlers/30-create-acls.js";
import { deleteAcls } from "../server/handlers/31-delete-acls.js";
import { callOn, createTestBroker, testConnection, type TestBroker } from "../server/handlers/test-broker.js";

const acl = (over: Partial<AclBinding>): AclBinding => ({ resourceType: R.TOPIC, resourceName: "orders", patternType: PatternType.LITERAL, principal: "User:alice", host: "*", operation: Op.READ, permissionType: PermissionType.ALLOW, ...over });
const anyFilter: AclFilter = { resourceType: R.ANY, resourceName: null, patternType: PatternType.ANY, principal: null, host: null, operation: Op.ANY, permissionType: PermissionType.ANY };
const access = (over: Partial<{ principal: string; host: string; operation: number; resourceType: number; resourceName: string }> = {}) => ({ principal: "User:alice", host: "10.0.0.1", operation: Op.READ, resourceType: R.TOPIC, resourceName: "orders", ...over });

function storeOf(...bindings: AclBinding[]): AclStore {
  const s = new AclStore();
  for (const b of bindings) s.apply({ type: "acl-created", acl: b });
  return s;
}

describe("AclStore decisions", () => {
  it("denies when no ACL matches", () => {
    expect(storeOf().allows(access())).toBe(false);
    expect(storeOf(acl({ principal: "User:bob" })).allows(access())).toBe(false);
  });

  it("READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS; ALL implies everything", () => {
    for (const op of [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER, Op.ALL]) expect(storeOf(acl({ operation: op })).allows(access({ operation: Op.DESCRIBE }))).toBe(true);
    expect(storeOf(acl({ operation: Op.CREATE })).allows(access({ operation: Op.DESCRIBE }))).toBe(false);
    expect(storeOf(acl({ operation: Op.ALTER_CONFIGS })).allows(access({ operation: Op.DESCRIBE_CONFIGS }))).toBe(true);
    expect(storeOf(acl({ operation: Op.DESCRIBE })).allows(access({ operation: Op.READ }))).toBe(false);
    expect(storeOf(acl({ operation: Op.ALL })).allows(access({ operation: Op.ALTER_CONFIGS }))).toBe(true);
  });

  it("a DENY wins over any ALLOW, but only for its own operation or ALL", () => {
    expect(storeOf(acl({ operation: Op.ALL }), acl({ permissionType: PermissionType.DENY })).allows(access())).toBe(false);
    expect(storeOf(acl({ principal: "User:*" }), acl({ permissionType: PermissionType.DENY, operation: Op.ALL })).allows(access())).toBe(false);
    // DENY READ does not deny DESCRIBE that WRITE grants.
    expect(storeOf(acl({ operation: Op.WRITE }), acl({ permissionType: PermissionType.DENY })).allows(access({ operation: Op.DESCRIBE }))).toBe(true);
  });

  it("matches LITERAL names, the '*' wildcard, PREFIXED patterns, User:* and hosts", () => {
    expect(storeOf(acl({ resourceName: "*" })).allows(access({ resourceName: "anything" }))).toBe(true);
    expect(storeOf(acl({ resourceName: "ord", patternType: PatternType.PREFIXED })).allows(access({ resourceName: "orders-eu" }))).toBe(true);
    expect(storeOf(acl({ resourceName: "ord", patternType: PatternType.PREFIXED })).allows(access({ resourceName: "or" }))).toBe(false);
    expect(storeOf(acl({ resourceName: "ord" })).allows(access({ resourceName: "orders" }))).toBe(false);
    expect(storeOf(acl({ principal: "User:*" })).allows(access())).toBe(true);
    expect(storeOf(acl({ host: "10.0.0.1" })).allows(access())).toBe(true);
    expect(storeOf(acl({ host: "10.0.0.2" })).allows(access())).toBe(false);
    expect(storeOf(acl({ resourceType: R.GROUP })).allows(access())).toBe(false);
  });
});

describe("ACL filters", () => {
  const store = storeOf(
    acl({ resourceName: "orders" }),
    acl({ resourceName: "ord", patternType: PatternType.PREFIXED }),
    acl({ resourceName: "*" }),
    acl({ resourceName: "payments", permissionType: PermissionType.DENY, principal: "User:bob" }),
    acl({ resourceType: R.CLUSTER, resourceName: CLUSTER_NAME, operation: Op.ALTER }),
  );

  it("ANY matches every pattern type, LITERAL and PREFIXED only their own, MATCH every pattern covering the name", () => {
    expect(store.matching(anyFilter)).toHaveLength(5);
    expect(store.matching({ ...anyFilter, resourceType: R.TOPIC, resourceName: "orders", patternType: PatternType.LITERAL })).toHaveLength(1);
    expect(store.matching({ ...anyFilter, resourceType: R.TOPIC, resourceName: "ord", patternType: PatternType.PREFIXED })).toHaveLength(1);
    expect(store.matching({ ...anyFilter, resourceType: R.TOPIC, resourceName: "orders", patternType: PatternType.MATCH }).map((b) => b.resourceName).sort()).toEqual(["*", "ord", "orders"]);
    expect(store.matching({ ...anyFilter, principal: "User:bob", permissionType: PermissionType.DENY })).toHaveLength(1);
    expect(store.matching({ ...anyFilter, resourceType: R.CLUSTER })).toHaveLength(1);
  });

  it("refuses bindings and filters Kafka refuses, with a message naming the problem", () => {
    expect(bindingProblem(acl({}))).toBeNull();
    expect(bindingProblem(acl({ resourceType: R.ANY }))).toMatch(/resource type/);
    expect(bindingProblem(acl({ patternType: PatternType.MATCH }))).toMatch(/pattern type/);
    expect(bindingProblem(acl({ operation: Op.ANY }))).toMatch(/operation/);
    expect(bindingProblem(acl({ permissionType: PermissionType.ANY }))).toMatch(/permission/);
    expect(bindingProblem(acl({ principal: "alice" }))).toMatch(/principal/);
    expect(bindingProblem(acl({ resourceType: R.CLUSTER, resourceName: "x" }))).toMatch(/kafka-cluster/);
    expect(bindingProblem(acl({ resourceName: "*", patternType: PatternType.PREFIXED }))).toMatch(/wildcard/);
    expect(filterProblem(anyFilter)).toBeNull();
    expect(filterProblem({ ...anyFilter, operation: Op.UNKNOWN })).toMatch(/operation/);
    expect(filterProblem({ ...anyFilter, patternType: 9 })).toMatch(/pattern/);
  });
});

describe("CreateAcls / DescribeAcls / DeleteAcls", () => {
  let broker: TestBroker;
  const admin = () => testConnection({ principal: "User:admin" });
  beforeEach(async () => {
    broker = await createTestBroker({ authorizer: "acl", superUsers: "User:admin" });
  });
  afterEach(() => broker.close());

  const creation = { resourceType: R.TOPIC, resourceName: "orders", resourcePatternType: PatternType.PREFIXED, principal: "User:alice", host: "*", operation: Op.WRITE, permissionType: PermissionType.ALLOW };
  const everything = { resourceTypeFilter: R.ANY, resourceNameFilter: null, patternTypeFilter: PatternType.ANY, principalFilter: null, hostFilter: null, operation: Op.ANY, permissionType: PermissionType.ANY };

  it("create, describe, delete round trip; creating twice keeps one copy; bad bindings get INVALID_REQUEST", async () => {
    const created = await callOn(createAcls, broker, 3, { creations: [creation, creation, { ...creation, principal: "nobody" }] }, admin());
    expect(created.response.results.map((r) => r.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE, ErrorCode.INVALID_REQUEST]);
    expect(created.response.results[2]!.errorMessage).toMatch(/principal/);
    const described = await callOn(describeAcls, broker, 3, everything, admin());
    expect(described.response.errorCode).toBe(ErrorCode.NONE);
    expect(described.response.resources).toEqual([{ resourceType: R.TOPIC, resourceName: "orders", patternType: PatternType.PREFIXED, acls: [{ principal: "User:alice", host: "*", operation: Op.WRITE, permissionType: PermissionType.ALLOW }] }]);
    // v0 filters are LITERAL: the PREFIXED ACL is not seen.
    expect((await callOn(describeAcls, broker, 0, everything, admin())).response.resources).toEqual([]);
    const deleted = await callOn(deleteAcls, broker, 3, { filters: [{ ...everything, resourceTypeFilter: R.TOPIC, resourceNameFilter: "orders-eu", patternTypeFilter: PatternType.MATCH }] }, admin());
    expect(deleted.response.filterResults[0]!.matchingAcls).toHaveLength(1);
    expect(broker.controller.acls.all()).toEqual([]);
  });

  it("an invalid filter gets INVALID_REQUEST and the broker keeps serving", async () => {
    const bad = await callOn(describeAcls, broker, 3, { ...everything, operation: Op.UNKNOWN }, admin());
    expect(bad.response.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    const badDelete = await callOn(deleteAcls, broker, 3, { filters: [{ ...everything, resourceTypeFilter: 0 }] }, admin());
    expect(badDelete.response.filterResults[0]!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect((await callOn(describeAcls, broker, 3, everything, admin())).response.errorCode).toBe(ErrorCode.NONE);
  });

  it("without an authorizer the ACL APIs answer SECURITY_DISABLED", async () => {
    const open = await createTestBroker({ authorizer: "none" });
    try {
      expect((await callOn(describeAcls, open, 3, everything, admin())).response.errorCode).toBe(ErrorCode.SECURITY_DISABLED);
      expect((await callOn(createAcls, open, 3, { creations: [creation] }, admin())).response.results[0]!.errorCode).toBe(ErrorCode.SECURITY_DISABLED);
      expect((await callOn(deleteAcls, open, 3, { filters: [everything] }, admin())).response.filterResults[0]!.errorCode).toBe(ErrorCode.SECURITY_DISABLED);
    } finally {
      open.close();
    }
  });

  it("ACLs are metadata records: a controller replaying the journal (a restarted broker) has the same ACLs", async () => {
    await callOn(createAcls, broker, 3, { creations: [creation, { ...creation, principal: "User:bob", permissionType: PermissionType.DENY }] }, admin());
    await callOn(deleteAcls, broker, 3, { filters: [{ ...everything, principalFilter: "User:bob" }] }, admin());
    const restarted = new Controller(new TopicRegistry(), memoryJournal());
    for (const record of broker.journal) restarted.replay(structuredClone(record));
    expect(restarted.acls.all()).toEqual(broker.controller.acls.all());
    expect(restarted.acls.all()).toHaveLength(1);
    expect(restarted.acls.allows(access({ operation: Op.WRITE, resourceName: "orders-1" }))).toBe(true);
  });
});
