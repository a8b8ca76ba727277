// SyncGroup v0-5
// v1: throttle time.  v3: GroupInstanceId.  v4: flexible.
// v5: ProtocolType/ProtocolName in both directions; a mismatch with the group's is
// INCONSISTENT_GROUP_PROTOCOL (KIP-559).
import type { SyncGroupRequest, SyncGroupResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsSyncGroupResponse } from "../../protocol/messages/index.js";
import { groupAccess } from "./group-access.js";

export const syncGroup = defineHandler<SyncGroupRequest, SyncGroupResponse>({
  apiKey: 14,
  minVersion: 0,
  maxVersion: 5,
  access: {
    kind: "needs",
    needs: (req) => [groupCheck(req.groupId, Op.READ)],
    denied: (_req, errorCode) => ({ ...defaultsSyncGroupResponse(), errorCode }),
  },
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const access = groupAccess(ctx.broker, req.groupId);
    if (access !== ErrorCode.NONE) return { throttleTimeMs: 0, errorCode: access, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) };
    const synced = await ctx.broker.groups.syncGroup({
      groupId: req.groupId,
      generationId: req.generationId,
      memberId: req.memberId,
      groupInstanceId: v >= 3 ? req.groupInstanceId : null,
      protocolType: v >= 5 ? req.protocolType : null,
      protocolName: v >= 5 ? req.protocolName : null,
      assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment })),
    });
    return {
      throttleTimeMs: 0,
      errorCode: synced.errorCode,
      protocolType: synced.protocolType,
      protocolName: synced.protocolName,
      assignment: synced.assignment,
    };
  },
});
