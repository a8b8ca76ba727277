// DescribeClientQuotas v0-1
// v1: flexible. The entities whose quotas match the filter (kafka-configs --describe
// --entity-type users|clients), each with every key it sets; a default entity's name is null.
import type { DescribeClientQuotasRequest, DescribeClientQuotasResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { clusterCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { componentsOf } from "../../security/quotas.js";

export const describeClientQuotas = defineHandler<DescribeClientQuotasRequest, DescribeClientQuotasResponse>({
  apiKey: 48,
  minVersion: 0,
  maxVersion: 1,
  access: { kind: "needs", needs: () => [clusterCheck(Op.DESCRIBE_CONFIGS)], denied: (_req, errorCode) => ({ throttleTimeMs: 0, errorCode, errorMessage: null, entries: null }) },
  handle(req, ctx) {
    const found = ctx.broker.controller.quotas.describe(req.components, req.strict);
    if ("errorCode" in found) return { throttleTimeMs: 0, errorCode: found.errorCode, errorMessage: found.message, entries: null };
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      entries: found.map(({ entity, values }) => ({ entity: componentsOf(entity), values: [...values].map(([key, value]) => ({ key, value })) })),
    };
  },
});
