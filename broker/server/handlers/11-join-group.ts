// JoinGroup v0-9
// v1: RebalanceTimeoutMs (v0 uses the session timeout for both).  v2: throttle time.
// v4: a member without an id gets MEMBER_ID_REQUIRED and a fresh id, then joins again.
// v5: GroupInstanceId (static membership).  v6: flexible.  v7: ProtocolType in the
// response; ProtocolName nullable.  v8: Reason.  v9: SkipAssignment.
import type { JoinGroupRequest, JoinGroupResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsJoinGroupResponse } from "../../protocol/messages/index.js";
import { clientHostOf, groupAccess } from "./group-access.js";

export const joinGroup = defineHandler<JoinGroupRequest, JoinGroupResponse>({
  apiKey: 11,
  minVersion: 0,
  maxVersion: 9,
  access: {
    kind: "needs",
    needs: (req) => [groupCheck(req.groupId, Op.READ)],
    denied: (req, errorCode) => ({ ...defaultsJoinGroupResponse(), errorCode, generationId: -1, memberId: req.memberId }),
  },
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const failed = (errorCode: number): JoinGroupResponse => ({
      throttleTimeMs: 0,
      errorCode,
      generationId: -1,
      protocolType: null,
      protocolName: v >= 7 ? null : "",
      leader: "",
      skipAssignment: false,
      memberId: "",
      members: [],
    });
    const access = groupAccess(ctx.broker, req.groupId);
    if (access !== ErrorCode.NONE) return failed(access);
    const joined = await ctx.broker.groups.joinGroup({
      groupId: req.groupId,
      memberId: req.memberId,
      groupInstanceId: v >= 5 ? req.groupInstanceId : null,
      protocolType: req.protocolType,
      protocols: req.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: v >= 1 && req.rebalanceTimeoutMs >= 0 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs,
      requireKnownMemberId: v >= 4,
      clientId: ctx.clientId ?? "",
      clientHost: clientHostOf(ctx.conn.remoteAddress),
      reason: v >= 8 ? req.reason : null,
    });
    return {
      throttleTimeMs: 0,
      errorCode: joined.errorCode,
      generationId: joined.generationId,
      protocolType: joined.protocolType,
      protocolName: joined.protocolName ?? (v >= 7 ? null : ""),
      leader: joined.leader,
      // v9 lets the coordinator tell a static leader to skip assigning; before v9 it must assign.
      skipAssignment: v >= 9 ? joined.skipAssignment : false,
      memberId: joined.memberId,
      members: joined.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadata })),
    };
  },
});
