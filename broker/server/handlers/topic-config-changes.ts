/**
 * What AlterConfigs and IncrementalAlterConfigs share: resource checks (duplicates,
 * unsupported types, brokers) and the final write of a topic's overrides.
 */
import { ErrorCode } from "../../protocol/errors.js";
import { TOPIC_CONFIGS } from "../../cluster/topic-configs.js";
import type { TopicInfo } from "../../cluster/topics.js";
import type { Broker } from "../broker.js";
import { ResourceType } from "./config-view.js";

export interface ResourceResult {
  errorCode: number;
  errorMessage: string | null;
  resourceType: number;
  resourceName: string;
}

export const DYNAMIC_BROKER_CONFIGS_UNSUPPORTED = "dynamic broker configs are not supported; set FLOE_* env";

/**
 * Runs `alter` once per distinct resource, in request order. A resource named twice is
 * INVALID_REQUEST (both mentions get one result); broker resources are refused; unknown
 * topics are UNKNOWN_TOPIC_OR_PARTITION.
 */
export async function alterResources<R extends { resourceType: number; resourceName: string }>(
  resources: readonly R[],
  broker: Broker,
  alter: (r: R, topic: TopicInfo) => Promise<{ errorCode: number; errorMessage: string | null }>,
): Promise<ResourceResult[]> {
  const keyOf = (r: R) => `${r.resourceType}:${r.resourceName}`;
  const counts = new Map<string, number>();
  for (const r of resources) counts.set(keyOf(r), (counts.get(keyOf(r)) ?? 0) + 1);
  const answered = new Set<string>();
  const out: ResourceResult[] = [];
  for (const r of resources) {
    if (answered.has(keyOf(r))) continue;
    answered.add(keyOf(r));
    const result = (errorCode: number, errorMessage: string | null): ResourceResult => ({ errorCode, errorMessage, resourceType: r.resourceType, resourceName: r.resourceName });
    if (counts.get(keyOf(r))! > 1) {
      out.push(result(ErrorCode.INVALID_REQUEST, `Resource ${r.resourceName} of type ${r.resourceType} is named more than once in the request.`));
      continue;
    }
    if (r.resourceType === ResourceType.BROKER || r.resourceType === ResourceType.BROKER_LOGGER) {
      out.push(result(ErrorCode.INVALID_REQUEST, DYNAMIC_BROKER_CONFIGS_UNSUPPORTED));
      continue;
    }
    if (r.resourceType !== ResourceType.TOPIC) {
      out.push(result(ErrorCode.INVALID_REQUEST, `Resource type ${r.resourceType} is not supported.`));
      continue;
    }
    const topic = broker.topics.byTopicName(r.resourceName);
    if (!topic) {
      out.push(result(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${r.resourceName}' does not exist.`));
      continue;
    }
    const done = await alter(r, topic);
    out.push(result(done.errorCode, done.errorMessage));
  }
  return out;
}

export function unknownConfigProblem(name: string): string | null {
  return TOPIC_CONFIGS[name] ? null : `Unknown topic config name: ${name}`;
}
