import type { ConnectionInfo } from "./connection.js";
import type { Broker } from "./broker.js";
import type { QuotaKey } from "../security/quotas.js";

export interface RequestContext {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  readonly conn: ConnectionInfo;
  readonly broker: Broker;
  /** Whether the connection's principal may perform `operation` on a resource (always true with FLOE_AUTHORIZER=none). */
  authorize(resourceType: number, resourceName: string, operation: number): boolean;
  /** Close the connection right after this request's response is written (failed authentication). */
  closeAfterResponse(reason: string): void;
  /**
   * Counts `bytes` against the client's byte-rate quota `key` (if one applies) and returns
   * the throttle time to answer with; the dispatcher then holds the connection that long.
   */
  chargeQuota(key: QuotaKey, bytes: number): number;
}

/**
 * One Kafka API. `minVersion..maxVersion` is what the broker advertises in ApiVersions
 * and accepts; the generated codec does the bytes. Kafka errors are data: a handler puts
 * error codes in its response. Throwing means the request could not be served at all and
 * closes the connection.
 * Returning `null` sends no response (Produce with acks=0).
 */
export interface Handler<Req = any, Res = any> {
  readonly apiKey: number;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** The ACLs a request needs, checked by the dispatcher before `handle`. Required, so no handler can forget it. */
  readonly access: Access<Req, Res>;
  handle(req: Req, ctx: RequestContext): Promise<Res | null> | Res | null;
}

export function defineHandler<Req, Res>(h: Handler<Req, Res>): Handler<Req, Res> {
  return h;
}

/** One ACL check: an operation on a named resource (codes from security/acl.ts). */
export interface AclCheck {
  readonly resourceType: number;
  readonly resourceName: string;
  readonly operation: number;
}

/** A check, or several of which any one suffices (CreateTopics: CREATE on the cluster or on the topic). */
export type AclNeed = AclCheck | readonly AclCheck[];

export type Access<Req, Res> =
  /** Served before authentication (ApiVersions, SASL), so no principal to check yet. */
  | { readonly kind: "public" }
  /** Open to every authenticated principal, as in Kafka; `note` says why. */
  | { readonly kind: "authenticated"; readonly note: string }
  /** The handler checks per resource itself with `ctx.authorize` (Metadata hides, ListGroups filters). */
  | { readonly kind: "per-resource"; readonly note: string }
  /**
   * Every need must be met or the whole request is refused with `denied`: the response a
   * client expects, each resource entry carrying `errorCode` (the first failed need's code).
   */
  | { readonly kind: "needs"; needs(req: Req, ctx: RequestContext): AclNeed[]; denied(req: Req, errorCode: number, ctx: RequestContext): Res | null };
