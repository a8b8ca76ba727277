// DescribeAcls v0-3
// v1: pattern type filter (PREFIXED, ANY, MATCH; v0 means LITERAL).  v2: flexible.  v3: same as v2.
// Needs DESCRIBE on the cluster. Without an authorizer: SECURITY_DISABLED, as in Kafka.
import type { DescribeAclsRequest, DescribeAclsResponse } from "../../protocol/messages/index.js";
import { defaultsDescribeAclsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { AclOperation as Op, NO_AUTHORIZER_MESSAGE, filterOfWire, filterProblem, type AclBinding } from "../../security/acl.js";
import { defineHandler } from "../handler.js";
import { clusterCheck, deniedMessageOf } from "../access.js";

export const describeAcls = defineHandler<DescribeAclsRequest, DescribeAclsResponse>({
  apiKey: 29,
  minVersion: 0,
  maxVersion: 3,
  access: {
    kind: "needs",
    needs: () => [clusterCheck(Op.DESCRIBE)],
    denied: (_req, errorCode) => ({ ...defaultsDescribeAclsResponse(), errorCode, errorMessage: deniedMessageOf(errorCode) }),
  },
  handle(req, ctx) {
    if (ctx.broker.config.authorizer === "none") return failed(ErrorCode.SECURITY_DISABLED, NO_AUTHORIZER_MESSAGE);
    const filter = filterOfWire(req, ctx.apiVersion);
    const problem = filterProblem(filter);
    if (problem) return failed(ErrorCode.INVALID_REQUEST, problem);
    // One entry per resource pattern, its ACLs beneath it, in a stable order.
    const byResource = new Map<string, { resourceType: number; resourceName: string; patternType: number; acls: AclBinding[] }>();
    for (const b of ctx.broker.controller.acls.matching(filter)) {
      const key = JSON.stringify([b.resourceType, b.resourceName, b.patternType]);
      let entry = byResource.get(key);
      if (!entry) byResource.set(key, (entry = { resourceType: b.resourceType, resourceName: b.resourceName, patternType: b.patternType, acls: [] }));
      entry.acls.push(b);
    }
    const resources = [...byResource.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, r]) => ({
        resourceType: r.resourceType,
        resourceName: r.resourceName,
        patternType: r.patternType,
        acls: r.acls.map((a) => ({ principal: a.principal, host: a.host, operation: a.operation, permissionType: a.permissionType })),
      }));
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, resources };
  },
});

function failed(errorCode: number, errorMessage: string): DescribeAclsResponse {
  return { ...defaultsDescribeAclsResponse(), errorCode, errorMessage };
}
