// DescribeConfigs v0-4
// v0: IsDefault per entry.  v1: IncludeSynonyms; ConfigSource and synonyms in results.
// v2: same as v1.  v3: IncludeDocumentation; ConfigType and Documentation.  v4: flexible.
// Resources: topics (2) list every known topic config, the override when one is set
// (DYNAMIC_TOPIC_CONFIG) else the default (DEFAULT_CONFIG). Brokers (4) — this broker's id
// or "" for the cluster-wide default — list a read-only set of settings under their Kafka
// names, taken from FLOE_* variables. Broker loggers (8) describe nothing. Other resource
// types are INVALID_REQUEST. ConfigurationKeys filters; unknown keys are left out.
import type { DescribeConfigsRequest, DescribeConfigsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { topicNameProblem } from "../../cluster/topics.js";
import { defineHandler, type RequestContext } from "../handler.js";
import { configResourceCheck, deniedMessageOf } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsDescribeConfigsResponse } from "../../protocol/messages/index.js";
import { brokerConfigViews, ResourceType, topicConfigViews, type ConfigView } from "./config-view.js";

type Result = DescribeConfigsResponse["results"][number];
type Entry = Result["configs"][number];
type Resource = DescribeConfigsRequest["resources"][number];

export const describeConfigs = defineHandler<DescribeConfigsRequest, DescribeConfigsResponse>({
  apiKey: 32,
  minVersion: 0,
  maxVersion: 4,
  access: {
    kind: "needs",
    needs: (req) => req.resources.map((r) => configResourceCheck(r.resourceType, r.resourceName, Op.DESCRIBE_CONFIGS)),
    denied: (req, errorCode) => ({
      ...defaultsDescribeConfigsResponse(),
      results: req.resources.map((r) => ({ errorCode, errorMessage: deniedMessageOf(errorCode), resourceType: r.resourceType, resourceName: r.resourceName, configs: [] })),
    }),
  },
  handle(req, ctx) {
    return { throttleTimeMs: 0, results: req.resources.map((r) => describeResource(r, req, ctx)) };
  },
});

function describeResource(r: Resource, req: DescribeConfigsRequest, ctx: RequestContext): Result {
  const { broker } = ctx;
  const result = (errorCode: number, errorMessage: string | null, views: ConfigView[]): Result => {
    const keys = r.configurationKeys;
    const wanted = keys === null ? views : views.filter((v) => keys.includes(v.name));
    return { errorCode, errorMessage, resourceType: r.resourceType, resourceName: r.resourceName, configs: wanted.map((v) => entryOf(v, req, ctx.apiVersion)) };
  };
  switch (r.resourceType) {
    case ResourceType.TOPIC: {
      const problem = topicNameProblem(r.resourceName);
      if (problem) return result(ErrorCode.INVALID_TOPIC_EXCEPTION, problem, []);
      const topic = broker.topics.byTopicName(r.resourceName);
      if (!topic) return result(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${r.resourceName}' does not exist.`, []);
      return result(ErrorCode.NONE, null, topicConfigViews(topic.configs, broker.config));
    }
    case ResourceType.BROKER:
    case ResourceType.BROKER_LOGGER: {
      const problem = brokerNameProblem(r.resourceName, broker.self.nodeId, r.resourceType === ResourceType.BROKER);
      if (problem) return result(ErrorCode.INVALID_REQUEST, problem, []);
      if (r.resourceType === ResourceType.BROKER_LOGGER) return result(ErrorCode.NONE, null, []);
      return result(ErrorCode.NONE, null, brokerConfigViews(broker.config, broker.self.nodeId));
    }
    default:
      return result(ErrorCode.INVALID_REQUEST, `Resource type ${r.resourceType} is not supported by DescribeConfigs.`, []);
  }
}

/** A broker resource names this broker by id; "" (the cluster-wide default) is allowed where Kafka allows it. */
export function brokerNameProblem(name: string, nodeId: number, allowDefault: boolean): string | null {
  if (name === "" && allowDefault) return null;
  if (!/^\d+$/.test(name)) return `Broker id must be an integer, got '${name}'.`;
  if (Number(name) !== nodeId) return `Unexpected broker id, expected ${nodeId} but received ${name}.`;
  return null;
}

function entryOf(v: ConfigView, req: DescribeConfigsRequest, apiVersion: number): Entry {
  return {
    name: v.name,
    value: v.value,
    readOnly: v.readOnly,
    isDefault: v.isDefault,
    configSource: v.source,
    isSensitive: false,
    synonyms: apiVersion >= 1 && req.includeSynonyms ? v.synonyms.map((s) => ({ name: s.name, value: s.value, source: s.source })) : [],
    configType: v.configType,
    documentation: apiVersion >= 3 && req.includeDocumentation ? v.documentation : null,
  };
}
