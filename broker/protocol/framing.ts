import { RequestHeader as RequestHeaderCodec, ResponseHeader as ResponseHeaderCodec } from "./messages/headers.js";
import { API_SPECS, ApiKey } from "./messages/index.js";
import { Reader, Writer } from "./primitives.js";

/**
 * Request and response headers. Their version follows from the API and its version:
 * flexible API versions use request header v2 (with tagged fields) and response header
 * v1; older ones request header v1 and response header v0. Two exceptions: ApiVersions
 * responses always use header v0 (a client must parse them before it knows what the
 * broker supports), and ControlledShutdown v0 uses request header v0 (no client id).
 * The client id is a classic nullable string even in header v2 (the schema says so with
 * a field-level flexibleVersions "none", which the generated header codec honours).
 */
export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

function isFlexible(apiKey: number, apiVersion: number): boolean {
  const spec = API_SPECS.get(apiKey);
  return spec !== undefined && apiVersion >= spec.flexibleMin;
}

export function requestHeaderVersion(apiKey: number, apiVersion: number): number {
  if (apiKey === ApiKey.ControlledShutdown && apiVersion === 0) return 0;
  return isFlexible(apiKey, apiVersion) ? 2 : 1;
}

export function responseHeaderVersion(apiKey: number, apiVersion: number): number {
  if (apiKey === ApiKey.ApiVersions) return 0;
  return isFlexible(apiKey, apiVersion) ? 1 : 0;
}

/**
 * Decodes a request header, leaving `r` at the start of the body. The header's version
 * depends on the api key and version, its first four bytes, so those are peeked first.
 * For an API key or version the schemas do not know, only the fixed first three fields
 * are read (client id null): enough to answer with UNSUPPORTED_VERSION.
 */
export function decodeRequestHeader(r: Reader): RequestHeader {
  const apiKey = r.peekInt16(0);
  const apiVersion = r.peekInt16(2);
  const spec = API_SPECS.get(apiKey);
  if (!spec || apiVersion < spec.minVersion || apiVersion > spec.maxVersion) {
    r.int16();
    r.int16();
    return { apiKey, apiVersion, correlationId: r.int32(), clientId: null };
  }
  const h = RequestHeaderCodec.decode(r, requestHeaderVersion(apiKey, apiVersion));
  return { apiKey, apiVersion, correlationId: h.correlationId, clientId: requestHeaderVersion(apiKey, apiVersion) >= 1 ? h.clientId : null };
}

/** A whole response frame: size prefix, header, body. */
export function encodeResponse(apiKey: number, apiVersion: number, correlationId: number, body: unknown): Buffer {
  const spec = API_SPECS.get(apiKey);
  if (!spec) throw new Error(`no codec for api key ${apiKey}`);
  const w = new Writer(256);
  const size = w.reserveInt32();
  ResponseHeaderCodec.encode(w, responseHeaderVersion(apiKey, apiVersion), { correlationId });
  spec.response.encode(w, apiVersion, body);
  w.patchInt32(size, w.length - 4);
  return w.toBuffer();
}

/** A whole request frame, for clients the project writes itself (tests, benchmarks). */
export function encodeRequest(apiKey: number, apiVersion: number, correlationId: number, clientId: string | null, body: unknown): Buffer {
  const spec = API_SPECS.get(apiKey);
  if (!spec) throw new Error(`no codec for api key ${apiKey}`);
  const w = new Writer(256);
  const size = w.reserveInt32();
  RequestHeaderCodec.encode(w, requestHeaderVersion(apiKey, apiVersion), { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId });
  spec.request.encode(w, apiVersion, body);
  w.patchInt32(size, w.length - 4);
  return w.toBuffer();
}
