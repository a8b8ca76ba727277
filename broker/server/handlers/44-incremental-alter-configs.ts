// IncrementalAlterConfigs v0-1
// v1: flexible.
// Operations per config: SET (0), DELETE (1, back to the default), APPEND (2) and
// SUBTRACT (3); APPEND and SUBTRACT only for list configs such as cleanup.policy, and
// start from the value in force (the override, else the default), as Kafka does.
// Broker and broker-logger resources are refused: Floe's broker settings come from
// FLOE_* variables, not dynamic configs.
import type { IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { TOPIC_CONFIGS } from "../../cluster/topic-configs.js";
import { defineHandler } from "../handler.js";
import { configResourceCheck, deniedMessageOf } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsIncrementalAlterConfigsResponse } from "../../protocol/messages/index.js";
import { alterResources, unknownConfigProblem } from "./topic-config-changes.js";

export const ConfigOperation = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

type Change = IncrementalAlterConfigsRequest["resources"][number]["configs"][number];

export const incrementalAlterConfigs = defineHandler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>({
  apiKey: 44,
  minVersion: 0,
  maxVersion: 1,
  access: {
    kind: "needs",
    needs: (req) => req.resources.map((r) => configResourceCheck(r.resourceType, r.resourceName, Op.ALTER_CONFIGS)),
    denied: (req, errorCode) => ({
      ...defaultsIncrementalAlterConfigsResponse(),
      responses: req.resources.map((r) => ({ errorCode, errorMessage: deniedMessageOf(errorCode), resourceType: r.resourceType, resourceName: r.resourceName })),
    }),
  },
  async handle(req, ctx) {
    const { broker } = ctx;
    const responses = await alterResources(req.resources, broker, async (r, topic) => {
      const applied = applyChanges(topic.configs, r.configs);
      if ("errorCode" in applied) return applied;
      const changed = await broker.controller.setTopicConfigs(topic, applied.configs, req.validateOnly);
      if (changed.errorCode === ErrorCode.NONE && !req.validateOnly) broker.logger.info({ topic: topic.name, configs: applied.configs }, "altered topic configs");
      return changed;
    });
    return { throttleTimeMs: 0, responses };
  },
});

/** The overrides after `changes`, or the error that refuses the whole resource. */
export function applyChanges(overrides: Record<string, string>, changes: readonly Change[]): { configs: Record<string, string> } | { errorCode: number; errorMessage: string } {
  const seen = new Set<string>();
  const configs = { ...overrides };
  for (const c of changes) {
    if (seen.has(c.name)) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Error due to duplicate config keys: '${c.name}'.` };
    seen.add(c.name);
    const unknown = unknownConfigProblem(c.name);
    if (unknown) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: unknown };
    const def = TOPIC_CONFIGS[c.name]!;
    if (c.configOperation === ConfigOperation.DELETE) {
      delete configs[c.name];
      continue;
    }
    if (c.value === null) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Null value not supported for '${c.name}'.` };
    switch (c.configOperation) {
      case ConfigOperation.SET:
        configs[c.name] = c.value;
        break;
      case ConfigOperation.APPEND:
      case ConfigOperation.SUBTRACT: {
        if (def.type !== "list") {
          const op = c.configOperation === ConfigOperation.APPEND ? "append" : "subtract";
          return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Config value ${op} is not allowed for config key '${c.name}': it is not a list.` };
        }
        const current = splitList(configs[c.name] ?? def.default);
        const given = splitList(c.value);
        const next = c.configOperation === ConfigOperation.APPEND ? [...current, ...given.filter((v) => !current.includes(v))] : current.filter((v) => !given.includes(v));
        configs[c.name] = next.join(",");
        break;
      }
      default:
        return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unknown config operation ${c.configOperation} for '${c.name}'.` };
    }
  }
  return { configs };
}

function splitList(value: string): string[] {
  return value
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}
