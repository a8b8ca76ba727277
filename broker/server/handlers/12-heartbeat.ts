// Heartbeat v0-4
// v1: throttle time.  v3: GroupInstanceId (static membership).  v4: flexible.
// REBALANCE_IN_PROGRESS tells a member to join again.
import type { HeartbeatRequest, HeartbeatResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsHeartbeatResponse } from "../../protocol/messages/index.js";
import { groupAccess } from "./group-access.js";

export const heartbeat = defineHandler<HeartbeatRequest, HeartbeatResponse>({
  apiKey: 12,
  minVersion: 0,
  maxVersion: 4,
  access: {
    kind: "needs",
    needs: (req) => [groupCheck(req.groupId, Op.READ)],
    denied: (_req, errorCode) => ({ ...defaultsHeartbeatResponse(), errorCode }),
  },
  handle(req, ctx) {
    const access = groupAccess(ctx.broker, req.groupId);
    if (access !== ErrorCode.NONE) return { throttleTimeMs: 0, errorCode: access };
    const errorCode = ctx.broker.groups.heartbeat({
      groupId: req.groupId,
      generationId: req.generationId,
      memberId: req.memberId,
      groupInstanceId: ctx.apiVersion >= 3 ? req.groupInstanceId : null,
    });
    return { throttleTimeMs: 0, errorCode };
  },
});
