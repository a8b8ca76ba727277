// SaslHandshake v1
// v0 would be followed by raw, unframed SASL tokens; every current client uses v1 and then
// SaslAuthenticate, so v0 is not served (clients pick v1 from ApiVersions).
// Starts an exchange with the named mechanism; on an authenticated connection it starts a
// re-authentication (KIP-368), which must use the session's mechanism.
import type { SaslHandshakeRequest, SaslHandshakeResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { saslMechanismsOf } from "../../config.js";
import { createAuthenticator } from "../../security/sasl.js";
import { defineHandler } from "../handler.js";

export const saslHandshake = defineHandler<SaslHandshakeRequest, SaslHandshakeResponse>({
  apiKey: 17,
  minVersion: 1,
  maxVersion: 1,
  access: { kind: "public" },
  handle(req, ctx) {
    const sasl = ctx.conn.sasl;
    if (!sasl) {
      // As Kafka: a listener without SASL answers, then the client gives up.
      ctx.closeAfterResponse("SaslHandshake on a listener without SASL");
      return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: [] };
    }
    const enabled = saslMechanismsOf(ctx.broker.config);
    if (sasl.pending) {
      ctx.closeAfterResponse("SaslHandshake while an exchange is in progress");
      return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: enabled };
    }
    const mechanism = enabled.find((m) => m === req.mechanism);
    if (!mechanism) {
      ctx.closeAfterResponse(`SASL mechanism ${JSON.stringify(req.mechanism)} is not enabled`);
      return { errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: enabled };
    }
    if (sasl.mechanism !== null && sasl.mechanism !== mechanism) {
      ctx.closeAfterResponse(`re-authentication with ${mechanism} after ${sasl.mechanism}`);
      return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: enabled };
    }
    sasl.pending = createAuthenticator(mechanism, ctx.broker.controller.scram);
    return { errorCode: ErrorCode.NONE, mechanisms: enabled };
  },
});
