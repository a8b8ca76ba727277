import type { DescribeAclsRequest } from "../protocol/messages/index.js";

/**
 * Kafka's ACL model (KIP-140, KIP-290) and the store the controller keeps of it. The codes
 * are Kafka's wire codes, so requests, records and responses share one vocabulary.
 */

export const ResourceType = { UNKNOWN: 0, ANY: 1, TOPIC: 2, GROUP: 3, CLUSTER: 4, TRANSACTIONAL_ID: 5, DELEGATION_TOKEN: 6, USER: 7 } as const;
export const PatternType = { UNKNOWN: 0, ANY: 1, MATCH: 2, LITERAL: 3, PREFIXED: 4 } as const;
export const AclOperation = {
  UNKNOWN: 0, ANY: 1, ALL: 2, READ: 3, WRITE: 4, CREATE: 5, DELETE: 6, ALTER: 7, DESCRIBE: 8,
  CLUSTER_ACTION: 9, DESCRIBE_CONFIGS: 10, ALTER_CONFIGS: 11, IDEMPOTENT_WRITE: 12, CREATE_TOKENS: 13, DESCRIBE_TOKENS: 14,
} as const;
export const PermissionType = { UNKNOWN: 0, ANY: 1, DENY: 2, ALLOW: 3 } as const;

/** The only name a CLUSTER resource has. */
export const CLUSTER_NAME = "kafka-cluster";
export const WILDCARD = "*";

/** One stored ACL: a concrete binding, never a filter (no ANY/MATCH/UNKNOWN codes). */
export interface AclBinding {
  resourceType: number;
  resourceName: string;
  patternType: number;
  principal: string;
  host: string;
  operation: number;
  permissionType: number;
}

export type AclFilter = { [K in keyof AclBinding]: K extends "resourceName" | "principal" | "host" ? string | null : number };

/** The filter fields DescribeAcls and DeleteAcls share on the wire (DeleteAcls filters have the same ones). */
export type WireAclFilter = DescribeAclsRequest;

/** A wire filter as an AclFilter; before v1 there is no pattern type and it means LITERAL. */
export function filterOfWire(f: WireAclFilter, apiVersion: number): AclFilter {
  return {
    resourceType: f.resourceTypeFilter,
    resourceName: f.resourceNameFilter,
    patternType: apiVersion >= 1 ? f.patternTypeFilter : PatternType.LITERAL,
    principal: f.principalFilter,
    host: f.hostFilter,
    operation: f.operation,
    permissionType: f.permissionType,
  };
}

/** What the ACL APIs answer, with SECURITY_DISABLED, when FLOE_AUTHORIZER=none. */
export const NO_AUTHORIZER_MESSAGE = "No authorizer is configured (FLOE_AUTHORIZER=none).";

export type AclRecord = { type: "acl-created"; acl: AclBinding } | { type: "acl-deleted"; acl: AclBinding };

const CONCRETE_RESOURCE_TYPES: readonly number[] = [ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER, ResourceType.TRANSACTIONAL_ID, ResourceType.DELEGATION_TOKEN, ResourceType.USER];
const CONCRETE_OPERATIONS: readonly number[] = Object.values(AclOperation).filter((op) => op >= AclOperation.ALL);

/** Why a binding cannot be stored, or null (Kafka answers INVALID_REQUEST with such a message). */
export function bindingProblem(b: AclBinding): string | null {
  if (!CONCRETE_RESOURCE_TYPES.includes(b.resourceType)) return `Invalid resource type ${b.resourceType}: an ACL names one of TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID, DELEGATION_TOKEN, USER`;
  if (b.patternType !== PatternType.LITERAL && b.patternType !== PatternType.PREFIXED) return `Invalid pattern type ${b.patternType}: an ACL is LITERAL or PREFIXED`;
  if (!CONCRETE_OPERATIONS.includes(b.operation)) return `Invalid operation ${b.operation}`;
  if (b.permissionType !== PermissionType.ALLOW && b.permissionType !== PermissionType.DENY) return `Invalid permission type ${b.permissionType}: an ACL is ALLOW or DENY`;
  if (b.resourceName === "") return "Resource name must not be empty";
  if (b.resourceType === ResourceType.CLUSTER && b.resourceName !== CLUSTER_NAME) return `The CLUSTER resource is named ${CLUSTER_NAME}`;
  if (b.patternType === PatternType.PREFIXED && b.resourceName === WILDCARD) return "A PREFIXED ACL cannot use the wildcard name '*'; use LITERAL '*'";
  if (!/^[^:]+:.+$/.test(b.principal)) return `Invalid principal ${JSON.stringify(b.principal)}: expected Type:name, e.g. User:alice`;
  if (b.host === "") return "Host must not be empty; use '*' for any host";
  return null;
}

/** Why a filter cannot be used, or null. */
export function filterProblem(f: AclFilter): string | null {
  if (f.resourceType === ResourceType.UNKNOWN || !(f.resourceType === ResourceType.ANY || CONCRETE_RESOURCE_TYPES.includes(f.resourceType))) return `Invalid resource type filter ${f.resourceType}`;
  if (!(Object.values(PatternType) as number[]).includes(f.patternType) || f.patternType === PatternType.UNKNOWN) return `Invalid pattern type filter ${f.patternType}`;
  if (f.operation === AclOperation.UNKNOWN || !(f.operation === AclOperation.ANY || CONCRETE_OPERATIONS.includes(f.operation))) return `Invalid operation filter ${f.operation}`;
  if (f.permissionType !== PermissionType.ANY && f.permissionType !== PermissionType.ALLOW && f.permissionType !== PermissionType.DENY) return `Invalid permission type filter ${f.permissionType}`;
  return null;
}

/** Whether a stored binding's pattern covers a concrete resource name. */
function patternCovers(b: AclBinding, name: string): boolean {
  if (b.patternType === PatternType.LITERAL) return b.resourceName === WILDCARD || b.resourceName === name;
  return name.startsWith(b.resourceName);
}

/** Kafka's filter semantics: null and ANY match anything; MATCH matches every pattern that covers the name. */
export function filterMatches(f: AclFilter, b: AclBinding): boolean {
  if (f.resourceType !== ResourceType.ANY && f.resourceType !== b.resourceType) return false;
  if (f.principal !== null && f.principal !== b.principal) return false;
  if (f.host !== null && f.host !== b.host) return false;
  if (f.operation !== AclOperation.ANY && f.operation !== b.operation) return false;
  if (f.permissionType !== PermissionType.ANY && f.permissionType !== b.permissionType) return false;
  if (f.patternType === PatternType.MATCH) return f.resourceName === null || patternCovers(b, f.resourceName);
  if (f.patternType !== PatternType.ANY && f.patternType !== b.patternType) return false;
  return f.resourceName === null || f.resourceName === b.resourceName;
}

/**
 * Operations an ALLOW on `op` also grants (Kafka's implication rules): READ, WRITE, DELETE
 * and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS; ALL implies everything.
 * A DENY only ever applies to its own operation or ALL.
 */
function allowCovers(granted: number, wanted: number): boolean {
  if (granted === AclOperation.ALL || granted === wanted) return true;
  if (wanted === AclOperation.DESCRIBE) return ([AclOperation.READ, AclOperation.WRITE, AclOperation.DELETE, AclOperation.ALTER] as number[]).includes(granted);
  if (wanted === AclOperation.DESCRIBE_CONFIGS) return granted === AclOperation.ALTER_CONFIGS;
  return false;
}

export interface AccessRequest {
  principal: string;
  host: string;
  operation: number;
  resourceType: number;
  resourceName: string;
}

const keyOf = (b: AclBinding) => JSON.stringify([b.resourceType, b.resourceName, b.patternType, b.principal, b.host, b.operation, b.permissionType]);

/** The cluster's ACLs, rebuilt from `acl-*` records in log order (replay and live alike). */
export class AclStore {
  private readonly byKey = new Map<string, AclBinding>();

  apply(record: AclRecord): void {
    if (record.type === "acl-created") this.byKey.set(keyOf(record.acl), { ...record.acl });
    else this.byKey.delete(keyOf(record.acl));
  }

  has(b: AclBinding): boolean {
    return this.byKey.has(keyOf(b));
  }

  all(): AclBinding[] {
    return [...this.byKey.values()];
  }

  matching(f: AclFilter): AclBinding[] {
    return this.all().filter((b) => filterMatches(f, b));
  }

  /** Kafka's StandardAuthorizer decision without super users: any matching DENY wins, else an ALLOW is needed. */
  allows(a: AccessRequest): boolean {
    let allowed = false;
    for (const b of this.byKey.values()) {
      if (b.resourceType !== a.resourceType || !patternCovers(b, a.resourceName)) continue;
      if (b.principal !== a.principal && b.principal !== "User:*") continue;
      if (b.host !== WILDCARD && b.host !== a.host) continue;
      if (b.permissionType === PermissionType.DENY) {
        if (b.operation === AclOperation.ALL || b.operation === a.operation) return false;
      } else if (allowCovers(b.operation, a.operation)) {
        allowed = true;
      }
    }
    return allowed;
  }
}
