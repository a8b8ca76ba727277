// SaslAuthenticate v0-2
// v1: session lifetime in the response (KIP-368): the client re-authenticates before it ends.
// v2: flexible.
// Carries the tokens of the exchange a SaslHandshake started. Any failure (unknown user,
// wrong password, malformed token) is SASL_AUTHENTICATION_FAILED with one fixed message,
// then the connection is closed, so a client learns nothing about which part was wrong.
import type { SaslAuthenticateRequest, SaslAuthenticateResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { authenticationFailedMessage, SaslAuthenticationError } from "../../security/sasl.js";
import { defineHandler } from "../handler.js";

export const saslAuthenticate = defineHandler<SaslAuthenticateRequest, SaslAuthenticateResponse>({
  apiKey: 36,
  minVersion: 0,
  maxVersion: 2,
  access: { kind: "public" },
  handle(req, ctx) {
    const reply = (errorCode: number, errorMessage: string | null, authBytes: Buffer = Buffer.alloc(0), sessionLifetimeMs = 0n): SaslAuthenticateResponse => ({ errorCode, errorMessage, authBytes, sessionLifetimeMs });
    const sasl = ctx.conn.sasl;
    const exchange = sasl?.pending;
    if (!sasl || !exchange) {
      ctx.closeAfterResponse(sasl ? "SaslAuthenticate without a SaslHandshake" : "SaslAuthenticate on a listener without SASL");
      return reply(ErrorCode.ILLEGAL_SASL_STATE, "SaslAuthenticate must follow a successful SaslHandshake");
    }
    const fail = (why: string) => {
      sasl.pending = null;
      ctx.broker.logger.info({ conn: ctx.conn.id, remote: ctx.conn.remoteAddress, mechanism: exchange.mechanism, why }, "SASL authentication failed");
      ctx.broker.metrics.requestErrors.inc({ api: "SaslAuthenticate", reason: "authentication_failed" });
      ctx.closeAfterResponse("SASL authentication failed");
      return reply(ErrorCode.SASL_AUTHENTICATION_FAILED, authenticationFailedMessage(exchange.mechanism));
    };
    let step;
    try {
      step = exchange.step(req.authBytes);
    } catch (err) {
      if (err instanceof SaslAuthenticationError) return fail(err.message);
      throw err;
    }
    if (step.user === null) return reply(ErrorCode.NONE, null, step.response);
    sasl.pending = null;
    // KIP-368: re-authentication may renew the session, never change who the connection is.
    if (sasl.user !== null && sasl.user !== step.user) return fail(`re-authentication as ${step.user} on a connection of ${sasl.user}`);
    const reauthenticated = sasl.user !== null;
    sasl.user = step.user;
    sasl.mechanism = exchange.mechanism;
    ctx.conn.principal = `User:${step.user}`;
    const lifetimeMs = ctx.broker.config.saslSessionLifetimeMs;
    sasl.expiresAtMs = lifetimeMs > 0 ? Date.now() + lifetimeMs : 0;
    ctx.broker.logger.debug({ conn: ctx.conn.id, principal: ctx.conn.principal, mechanism: exchange.mechanism, reauthenticated }, "SASL authenticated");
    return reply(ErrorCode.NONE, null, step.response, BigInt(lifetimeMs));
  },
});
