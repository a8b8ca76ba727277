// LeaveGroup v0-5
// v1: throttle time.  v3: batched Members (member id + group instance id), one result
// each; the top-level error is for the group.  v4: flexible.  v5: per-member Reason.
// v0-2 name one member; its error becomes the top-level error.
import type { LeaveGroupRequest, LeaveGroupResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsLeaveGroupResponse } from "../../protocol/messages/index.js";
import { groupAccess } from "./group-access.js";

export const leaveGroup = defineHandler<LeaveGroupRequest, LeaveGroupResponse>({
  apiKey: 13,
  minVersion: 0,
  maxVersion: 5,
  access: {
    kind: "needs",
    needs: (req) => [groupCheck(req.groupId, Op.READ)],
    denied: (_req, errorCode) => ({ ...defaultsLeaveGroupResponse(), errorCode }),
  },
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const access = groupAccess(ctx.broker, req.groupId);
    if (access !== ErrorCode.NONE) return { throttleTimeMs: 0, errorCode: access, members: [] };
    const members =
      v >= 3
        ? req.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, reason: v >= 5 ? m.reason : null }))
        : [{ memberId: req.memberId, groupInstanceId: null, reason: null }];
    const left = await ctx.broker.groups.leaveGroup(req.groupId, members);
    const results = left.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: m.errorCode }));
    if (v >= 3) return { throttleTimeMs: 0, errorCode: left.errorCode, members: results };
    const memberError = results[0]?.errorCode ?? ErrorCode.NONE;
    return { throttleTimeMs: 0, errorCode: left.errorCode !== ErrorCode.NONE ? left.errorCode : memberError, members: [] };
  },
});
