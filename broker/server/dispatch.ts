import { API_SPECS, ApiKey } from "../protocol/messages/index.js";
import { Reader, ProtocolDecodeError } from "../protocol/primitives.js";
import { decodeRequestHeader, encodeResponse } from "../protocol/framing.js";
import { ErrorCode } from "../protocol/errors.js";
import type { ConnectionInfo, DispatchResult } from "./connection.js";
import type { Handler, RequestContext } from "./handler.js";
import type { Broker } from "./broker.js";
import type { BrokerMetrics } from "./metrics.js";
import { authenticationGate } from "../security/sasl.js";
import { authorizerFor, refusal } from "./access.js";

/**
 * Turns one request frame into one response frame: header, version check, body decode,
 * handler, body encode. A frame that cannot be understood closes the connection (as
 * Kafka does); every other problem is an error code inside a normal response.
 */
export function createDispatch(broker: Broker, handlers: ReadonlyMap<number, Handler>, metrics: BrokerMetrics) {
  return async function dispatch(frame: Buffer, conn: ConnectionInfo): Promise<DispatchResult> {
    const started = process.hrtime.bigint();
    const r = new Reader(frame);
    let header;
    try {
      header = decodeRequestHeader(r);
    } catch (err) {
      return { kind: "close", reason: `malformed request header: ${(err as Error).message}` };
    }
    const { apiKey, apiVersion, correlationId } = header;
    const spec = API_SPECS.get(apiKey);
    const handler = handlers.get(apiKey);
    const apiName = spec?.name ?? `unknown(${apiKey})`;
    if (!handler || !spec) {
      metrics.requestErrors.inc({ api: apiName, reason: "unknown_api" });
      return { kind: "close", reason: `unsupported api key ${apiKey}` };
    }
    if (apiVersion < handler.minVersion || apiVersion > handler.maxVersion) {
      if (apiKey === ApiKey.ApiVersions) {
        // KIP-511: answer an ApiVersions we cannot parse with a v0 body listing what we support,
        // so the client can pick a version it shares with us.
        const body = { ...spec.response.defaults(), errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: supportedApis(handlers) };
        return { kind: "respond", frame: encodeResponse(apiKey, 0, correlationId, body) };
      }
      metrics.requestErrors.inc({ api: apiName, reason: "unsupported_version" });
      return { kind: "close", reason: `${apiName} v${apiVersion} is not supported (supported: v${handler.minVersion}-v${handler.maxVersion})` };
    }
    // Before the body is decoded: an unauthenticated client gets no further than this.
    const refused = authenticationGate(conn.sasl, apiKey, apiName, Date.now());
    if (refused) {
      metrics.requestErrors.inc({ api: apiName, reason: "unauthenticated" });
      return { kind: "close", reason: refused };
    }
    let request;
    try {
      request = spec.request.decode(r, apiVersion);
    } catch (err) {
      if (err instanceof ProtocolDecodeError) {
        metrics.requestErrors.inc({ api: apiName, reason: "malformed" });
        return { kind: "close", reason: `malformed ${apiName} v${apiVersion} request: ${err.message}` };
      }
      throw err;
    }
    let thenClose: string | undefined;
    let throttleMs = 0;
    const authorize = authorizerFor(broker.config, broker.controller.acls, conn.principal, conn.remoteAddress);
    const chargeQuota = quotaCharger(broker, conn.principal, header.clientId, (ms) => (throttleMs = Math.max(throttleMs, ms)));
    const ctx: RequestContext = { apiKey, apiVersion, correlationId, clientId: header.clientId, conn, broker, authorize, closeAfterResponse: (reason) => (thenClose = reason), chargeQuota };
    const denied = refusal(handler, request, ctx);
    if (denied) metrics.requestErrors.inc({ api: apiName, reason: "unauthorized" });
    const response = denied ? denied.response : await handler.handle(request, ctx);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.requestSeconds.observe({ api: apiName }, seconds);
    // KIP-219: newer clients back off by the throttle time themselves, so the answer goes out
    // now and the connection is read again only after it; older ones get the answer late.
    let muteMs = 0;
    if (throttleMs > 0) {
      if (clientThrottles(apiKey, apiVersion) || response === null) muteMs = throttleMs;
      else await new Promise((r) => setTimeout(r, throttleMs));
    }
    if (response === null) return thenClose === undefined ? { kind: "none", muteMs } : { kind: "close", reason: thenClose };
    const frameOut = encodeResponse(apiKey, apiVersion, correlationId, response);
    return thenClose === undefined ? { kind: "respond", frame: frameOut, muteMs } : { kind: "respond", frame: frameOut, thenClose };
  };
}

/** Produce v6+ and Fetch v8+ clients wait out throttle_time_ms on their own (KIP-219). */
function clientThrottles(apiKey: number, apiVersion: number): boolean {
  return (apiKey === ApiKey.Produce && apiVersion >= 6) || (apiKey === ApiKey.Fetch && apiVersion >= 8);
}

/**
 * `ctx.chargeQuota` for one request: the quota that applies to the principal's user and the
 * request's client id (`security/quotas.ts`), metered on this broker.
 */
export function quotaCharger(broker: Broker, principal: string, clientId: string | null, onThrottle: (ms: number) => void): RequestContext["chargeQuota"] {
  return (key, bytes) => {
    const user = principal.startsWith("User:") ? principal.slice("User:".length) : principal;
    const quota = broker.controller.quotas.quotaFor(user, clientId ?? "", key);
    if (!quota || bytes <= 0) return 0;
    const ms = broker.quotaMeters.record(quota.meter, bytes, quota.limit, Date.now());
    if (ms > 0) {
      broker.metrics.quotaThrottles.inc({ quota: key });
      broker.metrics.quotaThrottleSeconds.inc({ quota: key }, ms / 1000);
      onThrottle(ms);
    }
    return ms;
  };
}

export function supportedApis(handlers: ReadonlyMap<number, Handler>): { apiKey: number; minVersion: number; maxVersion: number }[] {
  return [...handlers.values()]
    .map((h) => ({ apiKey: h.apiKey, minVersion: h.minVersion, maxVersion: h.maxVersion }))
    .sort((a, b) => a.apiKey - b.apiKey);
}

