import { API_SPECS, ApiKey } from "./messages/index.js";
import { Reader, Writer } from "./primitives.js";

/**
 * Request and response headers. Their version follows from the API and its version:
 * flexible API versions use request header v2 (with tagged fields) and response header
 * v1; older ones request header v1 and response header v0. Two exceptions: ApiVersions
 * responses always use header v0 (a client must parse them before it knows what the
 * broker supports), and ControlledShutdown v0 uses request header v0 (no client id).
 * The client id is a classic nullable string even in header v2.
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
 * Decodes a request header. For an API key or version the broker does not know, only the
 * first three fields are read, which is enough to answer (or refuse) the request.
 */
export function decodeRequestHeader(r: Reader): RequestHeader {
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  const spec = API_SPECS.get(apiKey);
  if (!spec || apiVersion < spec.minVersion || apiVersion > spec.maxVersion) return { apiKey, apiVersion, correlationId, clientId: null };
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  const clientId = headerVersion >= 1 ? r.nullableString() : null;
  if (headerVersion >= 2) r.skipTaggedFields();
  return { apiKey, apiVersion, correlationId, clientId };
}

/** A whole response frame: size prefix, header, body. */
export function encodeResponse(apiKey: number, apiVersion: number, correlationId: number, body: unknown): Buffer {
  const spec = API_SPECS.get(apiKey);
  if (!spec) throw new Error(`no codec for api key ${apiKey}`);
  const w = new Writer(256);
  const size = w.reserveInt32();
  w.int32(correlationId);
  if (responseHeaderVersion(apiKey, apiVersion) >= 1) w.uvarint(0);
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
  w.int16(apiKey);
  w.int16(apiVersion);
  w.int32(correlationId);
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  if (headerVersion >= 1) w.nullableString(clientId);
  if (headerVersion >= 2) w.uvarint(0);
  spec.request.encode(w, apiVersion, body);
  w.patchInt32(size, w.length - 4);
  return w.toBuffer();
}
