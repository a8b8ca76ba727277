// DeleteAcls v0-3
// v1: pattern type filter (PREFIXED, ANY, MATCH; v0 means LITERAL).  v2: flexible.  v3: same as v2.
// Needs ALTER on the cluster. Each filter removes every ACL it matches and lists them.
import type { DeleteAclsRequest, DeleteAclsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { AclOperation as Op, NO_AUTHORIZER_MESSAGE, filterOfWire, filterProblem } from "../../security/acl.js";
import { defineHandler } from "../handler.js";
import { clusterCheck, deniedMessageOf } from "../access.js";

export const deleteAcls = defineHandler<DeleteAclsRequest, DeleteAclsResponse>({
  apiKey: 31,
  minVersion: 0,
  maxVersion: 3,
  access: {
    kind: "needs",
    needs: () => [clusterCheck(Op.ALTER)],
    denied: (req, errorCode) => ({ throttleTimeMs: 0, filterResults: req.filters.map(() => ({ errorCode, errorMessage: deniedMessageOf(errorCode), matchingAcls: [] })) }),
  },
  async handle(req, ctx) {
    const filterResults: DeleteAclsResponse["filterResults"] = [];
    for (const f of req.filters) {
      if (ctx.broker.config.authorizer === "none") {
        filterResults.push({ errorCode: ErrorCode.SECURITY_DISABLED, errorMessage: NO_AUTHORIZER_MESSAGE, matchingAcls: [] });
        continue;
      }
      const filter = filterOfWire(f, ctx.apiVersion);
      const problem = filterProblem(filter);
      if (problem) {
        filterResults.push({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: problem, matchingAcls: [] });
        continue;
      }
      const gone = await ctx.broker.controller.deleteAcls(filter);
      filterResults.push({ errorCode: ErrorCode.NONE, errorMessage: null, matchingAcls: gone.map((b) => ({ errorCode: ErrorCode.NONE, errorMessage: null, ...b })) });
    }
    return { throttleTimeMs: 0, filterResults };
  },
});
