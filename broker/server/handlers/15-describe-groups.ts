// DescribeGroups v0-5
// v1: throttle time.  v3: IncludeAuthorizedOperations.  v4: members' GroupInstanceId.
// v5: flexible.
// A group the coordinator does not know is described as Dead with no error, as Kafka
// does before v6. Member metadata and assignments are filled in while the group is Stable.
import type { DescribeGroupsRequest, DescribeGroupsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsDescribeGroupsResponse, defaultsDescribeGroupsResponseDescribedGroup } from "../../protocol/messages/index.js";
import { GROUP_OPERATIONS_ALL, OPERATIONS_NOT_REQUESTED, groupAccess } from "./group-access.js";

type Described = DescribeGroupsResponse["groups"][number];

export const describeGroups = defineHandler<DescribeGroupsRequest, DescribeGroupsResponse>({
  apiKey: 15,
  minVersion: 0,
  maxVersion: 5,
  access: {
    kind: "needs",
    needs: (req) => req.groups.map((g) => groupCheck(g, Op.DESCRIBE)),
    denied: (req, errorCode) => ({ ...defaultsDescribeGroupsResponse(), groups: req.groups.map((groupId) => ({ ...defaultsDescribeGroupsResponseDescribedGroup(), groupId, errorCode })) }),
  },
  handle(req, ctx) {
    const { broker } = ctx;
    const operations = ctx.apiVersion >= 3 && req.includeAuthorizedOperations ? GROUP_OPERATIONS_ALL : OPERATIONS_NOT_REQUESTED;
    const groups = req.groups.map((groupId): Described => {
      const empty: Described = { errorCode: ErrorCode.NONE, groupId, groupState: "Dead", protocolType: "", protocolData: "", members: [], authorizedOperations: operations };
      const access = groupAccess(broker, groupId, { allowEmpty: true });
      if (access !== ErrorCode.NONE) return { ...empty, errorCode: access, groupState: "" };
      const g = broker.groups.describeGroup(groupId);
      if (!g) return empty;
      return {
        errorCode: ErrorCode.NONE,
        groupId,
        groupState: g.groupState,
        protocolType: g.protocolType,
        protocolData: g.protocolData,
        members: g.members.map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          memberMetadata: m.memberMetadata,
          memberAssignment: m.memberAssignment,
        })),
        authorizedOperations: operations,
      };
    });
    return { throttleTimeMs: 0, groups };
  },
});
