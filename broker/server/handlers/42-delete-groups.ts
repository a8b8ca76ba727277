// DeleteGroups v0-2
// v1: same as v0.  v2: flexible.
// Only empty groups (no members) can be deleted, with their committed offsets:
// GROUP_ID_NOT_FOUND for unknown groups, NON_EMPTY_GROUP while members remain.
import type { DeleteGroupsRequest, DeleteGroupsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsDeleteGroupsResponse } from "../../protocol/messages/index.js";
import { groupAccess } from "./group-access.js";

export const deleteGroups = defineHandler<DeleteGroupsRequest, DeleteGroupsResponse>({
  apiKey: 42,
  minVersion: 0,
  maxVersion: 2,
  access: {
    kind: "needs",
    needs: (req) => req.groupsNames.map((g) => groupCheck(g, Op.DELETE)),
    denied: (req, errorCode) => ({ ...defaultsDeleteGroupsResponse(), results: req.groupsNames.map((groupId) => ({ groupId, errorCode })) }),
  },
  async handle(req, ctx) {
    const { broker } = ctx;
    const errors = new Map<string, number>();
    const deletable: string[] = [];
    for (const groupId of new Set(req.groupsNames)) {
      const access = groupAccess(broker, groupId, { allowEmpty: true });
      if (access !== ErrorCode.NONE) errors.set(groupId, access);
      else deletable.push(groupId);
    }
    const deleted = deletable.length > 0 ? await broker.groups.deleteGroups(deletable) : new Map<string, number>();
    const results = [...new Set(req.groupsNames)].map((groupId) => ({ groupId, errorCode: errors.get(groupId) ?? deleted.get(groupId) ?? ErrorCode.NONE }));
    return { throttleTimeMs: 0, results };
  },
});
