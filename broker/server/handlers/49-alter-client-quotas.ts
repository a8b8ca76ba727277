// AlterClientQuotas v0-1
// v1: flexible. Sets or removes quota keys per entity (kafka-configs --alter --add-config
// producer_byte_rate=... --entity-type users|clients [--entity-name N | --entity-default]).
// Each entry is checked whole and written as one metadata record, so a bad key leaves that
// entity unchanged; ValidateOnly checks without writing.
import type { AlterClientQuotasRequest, AlterClientQuotasResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { clusterCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { entityOf, quotaValueProblem } from "../../security/quotas.js";

type Entry = AlterClientQuotasRequest["entries"][number];

export const alterClientQuotas = defineHandler<AlterClientQuotasRequest, AlterClientQuotasResponse>({
  apiKey: 49,
  minVersion: 0,
  maxVersion: 1,
  access: {
    kind: "needs",
    needs: () => [clusterCheck(Op.ALTER_CONFIGS)],
    denied: (req, errorCode) => ({ throttleTimeMs: 0, entries: req.entries.map((e) => ({ errorCode, errorMessage: null, entity: e.entity })) }),
  },
  async handle(req, ctx) {
    const entries = [];
    for (const e of req.entries) {
      const checked = check(e);
      if ("errorCode" in checked) {
        entries.push({ errorCode: checked.errorCode, errorMessage: checked.message, entity: e.entity });
        continue;
      }
      if (!req.validateOnly) await ctx.broker.controller.alterClientQuotas(checked.entity, checked.set, checked.removed);
      entries.push({ errorCode: ErrorCode.NONE, errorMessage: null, entity: e.entity });
    }
    return { throttleTimeMs: 0, entries };
  },
});

function check(e: Entry) {
  const entity = entityOf(e.entity);
  if ("errorCode" in entity) return entity;
  const set: Record<string, number> = {};
  const removed: string[] = [];
  const seen = new Set<string>();
  for (const op of e.ops) {
    if (seen.has(op.key)) return { errorCode: ErrorCode.INVALID_REQUEST, message: `quota key ${op.key} given twice for one entity` };
    seen.add(op.key);
    const problem = quotaValueProblem(op.key, op.remove ? 1 : op.value);
    if (problem) return { errorCode: ErrorCode.INVALID_REQUEST, message: problem };
    if (op.remove) removed.push(op.key);
    else set[op.key] = op.value;
  }
  return { entity, set, removed };
}
