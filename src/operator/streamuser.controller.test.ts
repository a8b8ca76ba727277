import { describe, expect, it } from "vitest";
import type { StreamUser } from "./api/streamuser.js";
import { aclDiff, desiredAcls, principalOf } from "./streamuser.controller.js";

const user = (spec: Partial<StreamUser["spec"]>, name = "app"): StreamUser => ({
  apiVersion: "floe.dev/v1alpha1",
  kind: "StreamUser",
  metadata: { name, namespace: "ns" },
  spec: { cluster: "c", authentication: { type: "scram-sha-512" }, ...spec },
});

describe("StreamUser ACLs as Kafka bindings", () => {
  it("one binding per operation, with Kafka's codes, the cluster resource named kafka-cluster", () => {
    const u = user({
      authorization: {
        acls: [
          { resource: { type: "topic", name: "orders-", patternType: "prefixed" }, operations: ["Read", "Write"] },
          { resource: { type: "cluster" }, operations: ["IdempotentWrite"], type: "deny", host: "10.0.0.1" },
          { resource: { type: "group", name: "g" }, operations: ["Read", "Read"] },
        ],
      },
    });
    expect(desiredAcls(u)).toEqual([
      { resourceType: 2, resourceName: "orders-", patternType: 4, principal: "User:app", host: "*", operation: 3, permissionType: 3 },
      { resourceType: 2, resourceName: "orders-", patternType: 4, principal: "User:app", host: "*", operation: 4, permissionType: 3 },
      { resourceType: 3, resourceName: "g", patternType: 3, principal: "User:app", host: "*", operation: 3, permissionType: 3 },
      { resourceType: 4, resourceName: "kafka-cluster", patternType: 3, principal: "User:app", host: "10.0.0.1", operation: 12, permissionType: 2 },
    ]);
  });

  it("a TLS user's principal is its certificate subject CN=<name>", () => {
    expect(principalOf(user({ authentication: { type: "tls" } }, "billing"))).toBe("User:CN=billing");
    expect(principalOf(user({}, "billing"))).toBe("User:billing");
  });

  it("the diff creates what is missing and deletes what the spec no longer has, nothing else", () => {
    const [a, b, c] = desiredAcls(user({ authorization: { acls: [{ resource: { type: "topic", name: "t" }, operations: ["Read", "Write", "Describe"] }] } }));
    expect(aclDiff([a!, b!], [b!, c!])).toEqual({ create: [a], remove: [c] });
    expect(aclDiff([a!], [a!])).toEqual({ create: [], remove: [] });
  });
});
