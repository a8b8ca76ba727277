// AlterConfigs v0-2
// v1: same as v0.  v2: flexible.
// The legacy, non-incremental API: the configs given replace all of a topic's overrides
// (configs left out return to their defaults). Broker and broker-logger resources are
// refused: Floe's broker settings come from FLOE_* variables, not dynamic configs.
import type { AlterConfigsRequest, AlterConfigsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { configResourceCheck, deniedMessageOf } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsAlterConfigsResponse } from "../../protocol/messages/index.js";
import { alterResources, unknownConfigProblem } from "./topic-config-changes.js";

export const alterConfigs = defineHandler<AlterConfigsRequest, AlterConfigsResponse>({
  apiKey: 33,
  minVersion: 0,
  maxVersion: 2,
  access: {
    kind: "needs",
    needs: (req) => req.resources.map((r) => configResourceCheck(r.resourceType, r.resourceName, Op.ALTER_CONFIGS)),
    denied: (req, errorCode) => ({
      ...defaultsAlterConfigsResponse(),
      responses: req.resources.map((r) => ({ errorCode, errorMessage: deniedMessageOf(errorCode), resourceType: r.resourceType, resourceName: r.resourceName })),
    }),
  },
  async handle(req, ctx) {
    const { broker } = ctx;
    const responses = await alterResources(req.resources, broker, async (r, topic) => {
      const configs: Record<string, string> = {};
      for (const c of r.configs) {
        if (c.name in configs) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Duplicate config name '${c.name}'.` };
        const unknown = unknownConfigProblem(c.name);
        if (unknown) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: unknown };
        if (c.value === null) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Null value not supported for '${c.name}'.` };
        configs[c.name] = c.value;
      }
      const changed = await broker.controller.setTopicConfigs(topic, configs, req.validateOnly);
      if (changed.errorCode === ErrorCode.NONE && !req.validateOnly) broker.logger.info({ topic: topic.name, configs }, "replaced topic configs");
      return changed;
    });
    return { throttleTimeMs: 0, responses };
  },
});
