// SASL on a connection: the state a SASL listener keeps per connection, the mechanisms
// (PLAIN, SCRAM-SHA-256/512) and the gate that lets nothing but ApiVersions, SaslHandshake
// and SaslAuthenticate through before authentication or after the session expired.
import crypto from "node:crypto";
import { ApiKey } from "../protocol/messages/index.js";
import type { SaslMechanism } from "../config.js";
import type { ScramCredentialStore } from "./credentials.js";
import { credentialFromPassword, passwordMatches, ScramError, ScramServerExchange, SCRAM_ITERATIONS_MIN, type ScramMechanism } from "./scram.js";

export interface SaslConnectionState {
  /** The authenticated user; null until the first authentication succeeds. */
  user: string | null;
  /** Mechanism of the authenticated session (re-authentication must keep it, as in Kafka). */
  mechanism: SaslMechanism | null;
  /** The exchange a SaslHandshake started, until SaslAuthenticate finishes or fails it. */
  pending: SaslAuthenticator | null;
  /** When the session ends unless the client re-authenticates (KIP-368); 0: never. */
  expiresAtMs: number;
}

export function newSaslState(): SaslConnectionState {
  return { user: null, mechanism: null, pending: null, expiresAtMs: 0 };
}

/** Authentication failed. The message is for the broker's log; clients get one fixed text. */
export class SaslAuthenticationError extends Error {}

export interface SaslAuthenticator {
  readonly mechanism: SaslMechanism;
  /** One client token in; the server's token out, with the user once authentication is complete. */
  step(token: Buffer): { response: Buffer; user: string | null };
}

/** What clients are told on any failure: the same for unknown user, wrong password and malformed messages. */
export function authenticationFailedMessage(mechanism: string): string {
  return `Authentication failed during authentication due to invalid credentials with SASL mechanism ${mechanism}`;
}

/** Keys a missing user's made-up SCRAM salt; per process, so a retry within one run looks the same. */
const FAKE_SALT_KEY = crypto.randomBytes(32);

export function createAuthenticator(mechanism: SaslMechanism, store: ScramCredentialStore): SaslAuthenticator {
  return mechanism === "PLAIN" ? plainAuthenticator(store) : scramAuthenticator(mechanism, store);
}

function scramAuthenticator(mechanism: ScramMechanism, store: ScramCredentialStore): SaslAuthenticator {
  const exchange = new ScramServerExchange(mechanism, (user) => store.get(user, mechanism), FAKE_SALT_KEY);
  let step = 0;
  return {
    mechanism,
    step(token) {
      try {
        const text = utf8(token);
        if (step++ === 0) return { response: Buffer.from(exchange.first(text), "utf8"), user: null };
        const serverFinal = exchange.final(text);
        return { response: Buffer.from(serverFinal, "utf8"), user: exchange.user! };
      } catch (err) {
        if (err instanceof ScramError) throw new SaslAuthenticationError(`${mechanism}: ${err.message}`);
        throw err;
      }
    },
  };
}

/** Checked against the user's salted SCRAM credential, so PLAIN needs no plaintext password on the broker. */
function plainAuthenticator(store: ScramCredentialStore): SaslAuthenticator {
  // Same work for a missing user as for a present one, so response time does not tell them apart.
  const decoy = credentialFromPassword("SCRAM-SHA-256", crypto.randomBytes(16).toString("hex"), SCRAM_ITERATIONS_MIN);
  let used = false;
  return {
    mechanism: "PLAIN",
    step(token) {
      if (used) throw new SaslAuthenticationError("PLAIN: more than one message");
      used = true;
      // RFC 4616: [authzid] NUL authcid NUL passwd
      const parts = utf8(token).split("\u0000");
      if (parts.length !== 3) throw new SaslAuthenticationError("PLAIN: malformed message");
      const [authzid, user, password] = parts as [string, string, string];
      if (!user || !password) throw new SaslAuthenticationError("PLAIN: empty user or password");
      if (authzid && authzid !== user) throw new SaslAuthenticationError("PLAIN: authorization id differs from the user");
      const cred = store.get(user, "SCRAM-SHA-256") ?? store.get(user, "SCRAM-SHA-512");
      const matches = passwordMatches(cred ?? decoy, password);
      if (!cred || !matches) throw new SaslAuthenticationError("PLAIN: invalid credentials");
      return { response: Buffer.alloc(0), user };
    },
  };
}

function utf8(token: Buffer): string {
  const text = token.toString("utf8");
  // A token that is not valid UTF-8 decodes with U+FFFD; refuse it rather than compare a mangled name.
  if (!Buffer.from(text, "utf8").equals(token)) throw new SaslAuthenticationError("token is not valid UTF-8");
  return text;
}

const ALWAYS_ALLOWED: ReadonlySet<number> = new Set([ApiKey.ApiVersions, ApiKey.SaslHandshake, ApiKey.SaslAuthenticate]);

/**
 * Whether a request may be served on this connection: null if yes, else why the connection
 * is closed (Kafka closes, it does not answer, a request before authentication).
 */
export function authenticationGate(sasl: SaslConnectionState | null, apiKey: number, apiName: string, nowMs: number): string | null {
  if (!sasl || ALWAYS_ALLOWED.has(apiKey)) return null;
  if (sasl.user === null) return `${apiName} request before SASL authentication`;
  if (sasl.expiresAtMs > 0 && nowMs >= sasl.expiresAtMs) return `SASL session of ${sasl.user} expired; the client did not re-authenticate in time`;
  return null;
}
