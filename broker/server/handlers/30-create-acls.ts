// CreateAcls v0-3
// v1: resource pattern type (LITERAL or PREFIXED; v0 means LITERAL).  v2: flexible.  v3: same as v2.
// Needs ALTER on the cluster. Each creation is checked and stored on its own, one result
// each; creating an ACL that exists already succeeds without a second copy.
import type { CreateAclsRequest, CreateAclsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { AclOperation as Op, NO_AUTHORIZER_MESSAGE, PatternType, bindingProblem, type AclBinding } from "../../security/acl.js";
import { defineHandler } from "../handler.js";
import { clusterCheck, deniedMessageOf } from "../access.js";

export const createAcls = defineHandler<CreateAclsRequest, CreateAclsResponse>({
  apiKey: 30,
  minVersion: 0,
  maxVersion: 3,
  access: {
    kind: "needs",
    needs: () => [clusterCheck(Op.ALTER)],
    denied: (req, errorCode) => ({ throttleTimeMs: 0, results: req.creations.map(() => ({ errorCode, errorMessage: deniedMessageOf(errorCode) })) }),
  },
  async handle(req, ctx) {
    const results: CreateAclsResponse["results"] = [];
    for (const c of req.creations) {
      if (ctx.broker.config.authorizer === "none") {
        results.push({ errorCode: ErrorCode.SECURITY_DISABLED, errorMessage: NO_AUTHORIZER_MESSAGE });
        continue;
      }
      const acl: AclBinding = {
        resourceType: c.resourceType,
        resourceName: c.resourceName,
        patternType: ctx.apiVersion >= 1 ? c.resourcePatternType : PatternType.LITERAL,
        principal: c.principal,
        host: c.host,
        operation: c.operation,
        permissionType: c.permissionType,
      };
      const problem = bindingProblem(acl);
      if (problem) {
        results.push({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: problem });
        continue;
      }
      await ctx.broker.controller.createAcl(acl);
      results.push({ errorCode: ErrorCode.NONE, errorMessage: null });
    }
    return { throttleTimeMs: 0, results };
  },
});
