// ListGroups v0-5
// v1: throttle time.  v3: flexible.  v4: StatesFilter and GroupState (KIP-518).
// v5: TypesFilter and GroupType (KIP-848): every group here is "classic".
// Filters match case-insensitively; an empty filter matches everything.
import type { ListGroupsRequest, ListGroupsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { AclOperation as Op, CLUSTER_NAME, ResourceType } from "../../security/acl.js";
import { COORDINATOR_KEY_GROUP } from "./group-access.js";

const CLASSIC = "classic";

export const listGroups = defineHandler<ListGroupsRequest, ListGroupsResponse>({
  apiKey: 16,
  minVersion: 0,
  maxVersion: 5,
  access: { kind: "per-resource", note: "lists only the groups the principal may DESCRIBE (all of them with DESCRIBE on the cluster)" },
  handle(req, ctx) {
    const { broker } = ctx;
    const states = ctx.apiVersion >= 4 ? req.statesFilter.map((s) => s.toLowerCase()) : [];
    const types = ctx.apiVersion >= 5 ? req.typesFilter.map((s) => s.toLowerCase()) : [];
    if (types.length > 0 && !types.includes(CLASSIC)) return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, groups: [] };
    // Kafka: DESCRIBE on the cluster lists every group, else only the groups one may DESCRIBE.
    const allGroups = ctx.authorize(ResourceType.CLUSTER, CLUSTER_NAME, Op.DESCRIBE);
    const groups = broker.groups
      .listGroups()
      .filter((g) => states.length === 0 || states.includes(g.groupState.toLowerCase()))
      // Only groups this broker coordinates: each coordinator answers for its own share.
      .filter((g) => broker.coordinatorFor(COORDINATOR_KEY_GROUP, g.groupId)?.nodeId === broker.self.nodeId)
      .filter((g) => allGroups || ctx.authorize(ResourceType.GROUP, g.groupId, Op.DESCRIBE))
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.groupState, groupType: CLASSIC }));
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, groups };
  },
});
