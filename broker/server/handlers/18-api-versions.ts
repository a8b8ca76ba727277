// ApiVersions v0-4
// v3: flexible; the client names its software (KIP-511), kept on the connection.
// v4: SupportedFeatures may carry MinVersion 0 (KAFKA-17011). Floe advertises no features.
// A request at a version we do not know is answered by the dispatcher with a v0 body and
// UNSUPPORTED_VERSION, so the client can retry at a version we share.
import type { ApiVersionsRequest, ApiVersionsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";

const SOFTWARE_FIELD = /^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$/;

export const apiVersions = defineHandler<ApiVersionsRequest, ApiVersionsResponse>({
  apiKey: 18,
  minVersion: 0,
  maxVersion: 4,
  access: { kind: "public" },
  handle(req, ctx) {
    let errorCode: number = ErrorCode.NONE;
    if (ctx.apiVersion >= 3) {
      // KIP-511 asks brokers to reject malformed software names with INVALID_REQUEST.
      if (!SOFTWARE_FIELD.test(req.clientSoftwareName) || !SOFTWARE_FIELD.test(req.clientSoftwareVersion)) {
        errorCode = ErrorCode.INVALID_REQUEST;
      } else {
        ctx.conn.clientSoftwareName = req.clientSoftwareName;
        ctx.conn.clientSoftwareVersion = req.clientSoftwareVersion;
      }
    }
    return {
      errorCode,
      apiKeys: ctx.broker.supportedApis(),
      throttleTimeMs: 0,
      supportedFeatures: [],
      finalizedFeaturesEpoch: -1n,
      finalizedFeatures: [],
      zkMigrationReady: false,
    };
  },
});
