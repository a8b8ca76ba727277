// ListGroups v0-5
// v1: throttle time.  v3: flexible.  v4: StatesFilter and GroupState (KIP-518).
// v5: TypesFilter and GroupType (KIP-848): every group here is "classic".
// Filters match case-insensitively; an empty filter matches everything.
import type { ListGroupsRequest, ListGroupsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { COORDINATOR_KEY_GROUP } from "./group-access.js";

const CLASSIC = "classic";

export const listGroups = defineHandler<ListGroupsRequest, ListGroupsResponse>({
  apiKey: 16,
  minVersion: 0,
  maxVersion: 5,
  handle(req, ctx) {
    const { broker } = ctx;
    const states = ctx.apiVersion >= 4 ? req.statesFilter.map((s) => s.toLowerCase()) : [];
    const types = ctx.apiVersion >= 5 ? req.typesFilter.map((s) => s.toLowerCase()) : [];
    if (types.length > 0 && !types.includes(CLASSIC)) return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, groups: [] };
    const groups = broker.groups
      .listGroups()
      .filter((g) => states.length === 0 || states.includes(g.groupState.toLowerCase()))
      // Only groups this broker coordinates: each coordinator answers for its own share.
      .filter((g) => broker.coordinatorFor(COORDINATOR_KEY_GROUP, g.groupId)?.nodeId === broker.self.nodeId)
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.groupState, groupType: CLASSIC }));
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, groups };
  },
});
