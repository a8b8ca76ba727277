import type { ConnectionInfo } from "./connection.js";
import type { Broker } from "./broker.js";

export interface RequestContext {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  readonly conn: ConnectionInfo;
  readonly broker: Broker;
  /** Close the connection right after this request's response is written (failed authentication). */
  closeAfterResponse(reason: string): void;
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
  handle(req: Req, ctx: RequestContext): Promise<Res | null> | Res | null;
}

export function defineHandler<Req, Res>(h: Handler<Req, Res>): Handler<Req, Res> {
  return h;
}
