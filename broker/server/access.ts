import { ErrorCode, errorInfo } from "../protocol/errors.js";
import { CLUSTER_NAME, ResourceType, type AccessRequest } from "../security/acl.js";
import { superUsersOf, type BrokerConfig } from "../config.js";
import type { AclStore } from "../security/acl.js";
import type { AclCheck, Handler, RequestContext } from "./handler.js";

/** The decision for one access: FLOE_AUTHORIZER=none allows all; with `acl`, super users pass and the ACLs decide the rest. */
export function authorizes(config: BrokerConfig, acls: AclStore, a: AccessRequest): boolean {
  if (config.authorizer === "none") return true;
  if (superUsersOf(config).has(a.principal)) return true;
  return acls.allows(a);
}

/** The error code Kafka clients expect when a check on this kind of resource fails. */
export function deniedCodeOf(resourceType: number): number {
  switch (resourceType) {
    case ResourceType.TOPIC:
      return ErrorCode.TOPIC_AUTHORIZATION_FAILED;
    case ResourceType.GROUP:
      return ErrorCode.GROUP_AUTHORIZATION_FAILED;
    case ResourceType.TRANSACTIONAL_ID:
      return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    case ResourceType.DELEGATION_TOKEN:
      return ErrorCode.DELEGATION_TOKEN_AUTHORIZATION_FAILED;
    default:
      return ErrorCode.CLUSTER_AUTHORIZATION_FAILED;
  }
}

/** `ctx.authorize` for a connection. */
export function authorizerFor(config: BrokerConfig, acls: AclStore, principal: string, host: string): RequestContext["authorize"] {
  return (resourceType, resourceName, operation) => authorizes(config, acls, { principal, host, operation, resourceType, resourceName });
}

/**
 * Applies a handler's declared access rule: null when the request may go on, else the
 * denial response to send instead of calling the handler.
 */
export function refusal<Req, Res>(handler: Handler<Req, Res>, req: Req, ctx: RequestContext): { response: Res | null } | null {
  const access = handler.access;
  if (access.kind !== "needs") return null;
  for (const need of access.needs(req, ctx)) {
    const options: readonly AclCheck[] = Array.isArray(need) ? need : [need as AclCheck];
    if (options.length === 0) continue;
    if (!options.some((c) => ctx.authorize(c.resourceType, c.resourceName, c.operation))) {
      return { response: access.denied(req, deniedCodeOf(options[options.length - 1]!.resourceType), ctx) };
    }
  }
  return null;
}

export const topicCheck = (resourceName: string, operation: number): AclCheck => ({ resourceType: ResourceType.TOPIC, resourceName, operation });
export const groupCheck = (resourceName: string, operation: number): AclCheck => ({ resourceType: ResourceType.GROUP, resourceName, operation });
export const clusterCheck = (operation: number): AclCheck => ({ resourceType: ResourceType.CLUSTER, resourceName: CLUSTER_NAME, operation });
export const transactionalIdCheck = (resourceName: string, operation: number): AclCheck => ({ resourceType: ResourceType.TRANSACTIONAL_ID, resourceName, operation });

/** DescribeConfigs/AlterConfigs resource types: 2 a topic, 4 a broker, 8 a broker logger (the last two are the cluster's). */
export function configResourceCheck(configResourceType: number, name: string, operation: number): AclCheck {
  return configResourceType === 2 ? topicCheck(name, operation) : clusterCheck(operation);
}

/** The message Kafka puts beside an authorization error code ("Topic authorization failed."). */
export function deniedMessageOf(errorCode: number): string {
  return errorInfo(errorCode).message;
}

/**
 * Topic names a principal could hold WRITE on: every topic, and every name a TOPIC ACL
 * mentions (a PREFIXED ACL's own name is covered by it), so an ACL for a topic that does
 * not exist yet counts too.
 */
export function topicsNamedAnywhere(ctx: RequestContext): string[] {
  const names = new Set(ctx.broker.topics.all().map((t) => t.name));
  for (const b of ctx.broker.controller.acls.all()) if (b.resourceType === ResourceType.TOPIC) names.add(b.resourceName);
  return [...names];
}
