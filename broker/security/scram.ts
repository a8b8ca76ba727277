// SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677), the server side, as Kafka uses it:
// no channel binding (gs2 header "n,," or "y,,"), optional authzid equal to the user, and
// no extensions (Kafka's only one, tokenauth, is for delegation tokens, which Floe lacks).
// Pure: messages in, messages out; the caller owns the connection.
import crypto from "node:crypto";

export type ScramMechanism = "SCRAM-SHA-256" | "SCRAM-SHA-512";
export const SCRAM_MECHANISMS: readonly ScramMechanism[] = ["SCRAM-SHA-256", "SCRAM-SHA-512"];

/** Kafka's limits on iterations (ScramMechanism.minIterations / maxIterations). */
export const SCRAM_ITERATIONS_MIN = 4096;
export const SCRAM_ITERATIONS_MAX = 16384;

/** Mechanism numbers of DescribeUserScramCredentials / AlterUserScramCredentials. */
export const SCRAM_MECHANISM_CODE: Record<ScramMechanism, number> = { "SCRAM-SHA-256": 1, "SCRAM-SHA-512": 2 };
export function scramMechanismOfCode(code: number): ScramMechanism | null {
  return code === 1 ? "SCRAM-SHA-256" : code === 2 ? "SCRAM-SHA-512" : null;
}

const HASH: Record<ScramMechanism, { name: "sha256" | "sha512"; bytes: number }> = {
  "SCRAM-SHA-256": { name: "sha256", bytes: 32 },
  "SCRAM-SHA-512": { name: "sha512", bytes: 64 },
};

export function hashBytesOf(mechanism: ScramMechanism): number {
  return HASH[mechanism].bytes;
}

/**
 * What the broker keeps per user and mechanism: never the password, never the salted
 * password, only what RFC 5802 section 5.1 says the server stores.
 */
export interface ScramCredential {
  mechanism: ScramMechanism;
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

function hmac(mechanism: ScramMechanism, key: Buffer, data: Buffer | string): Buffer {
  return crypto.createHmac(HASH[mechanism].name, key).update(data).digest();
}

function digest(mechanism: ScramMechanism, data: Buffer): Buffer {
  return crypto.createHash(HASH[mechanism].name).update(data).digest();
}

/** Hi() of RFC 5802: PBKDF2 with HMAC of the mechanism's hash. */
export function saltPassword(mechanism: ScramMechanism, password: string, salt: Buffer, iterations: number): Buffer {
  return crypto.pbkdf2Sync(Buffer.from(password.normalize("NFKC"), "utf8"), salt, iterations, HASH[mechanism].bytes, HASH[mechanism].name);
}

/** StoredKey and ServerKey from a salted password (what AlterUserScramCredentials sends). */
export function credentialFromSaltedPassword(mechanism: ScramMechanism, salt: Buffer, iterations: number, saltedPassword: Buffer): ScramCredential {
  const clientKey = hmac(mechanism, saltedPassword, "Client Key");
  return { mechanism, iterations, salt: Buffer.from(salt), storedKey: digest(mechanism, clientKey), serverKey: hmac(mechanism, saltedPassword, "Server Key") };
}

export function credentialFromPassword(mechanism: ScramMechanism, password: string, iterations: number, salt: Buffer = crypto.randomBytes(32)): ScramCredential {
  return credentialFromSaltedPassword(mechanism, salt, iterations, saltPassword(mechanism, password, salt, iterations));
}

/** True if `password` is the one `cred` was made from (for SASL/PLAIN), in constant time. */
export function passwordMatches(cred: ScramCredential, password: string): boolean {
  const check = credentialFromPassword(cred.mechanism, password, cred.iterations, cred.salt);
  return crypto.timingSafeEqual(check.storedKey, cred.storedKey);
}

/** A SCRAM message the broker refuses; the reason goes to the log only, never to the client. */
export class ScramError extends Error {}

/** RFC 5802 saslname: "=2C" is ",", "=3D" is "=", any other "=" is malformed. */
export function decodeSaslName(s: string): string {
  if (/=(?!2C|3D)/.test(s)) throw new ScramError("malformed saslname escape");
  return s.replace(/=2C/g, ",").replace(/=3D/g, "=");
}

const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/; // RFC 5802 "printable": no comma

function attributes(part: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const field of part.split(",")) {
    const m = /^([a-zA-Z])=(.*)$/s.exec(field);
    if (!m) throw new ScramError(`${what}: malformed attribute`);
    if (out.has(m[1]!)) throw new ScramError(`${what}: attribute ${m[1]} twice`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

export interface ClientFirst {
  /** The gs2 header exactly as sent ("n,,", "y,,", "n,a=x,"); the client echoes it in c=. */
  gs2Header: string;
  user: string;
  clientNonce: string;
  /** client-first-message-bare, part of AuthMessage. */
  bare: string;
}

export function parseClientFirst(message: string): ClientFirst {
  const m = /^([ny]),(a=[^,]*)?,(.*)$/s.exec(message);
  if (!m) throw new ScramError("client-first: unsupported or malformed gs2 header (channel binding is not supported)");
  const gs2Header = `${m[1]},${m[2] ?? ""},`;
  const bare = m[3]!;
  const attrs = attributes(bare, "client-first");
  const keys = [...attrs.keys()];
  if (keys[0] !== "n" || keys[1] !== "r") throw new ScramError("client-first: expected n= then r=");
  // m= is a mandatory extension we do not know; other extensions (tokenauth) are for tokens.
  if (keys.length > 2) throw new ScramError("client-first: extensions are not supported");
  const user = decodeSaslName(attrs.get("n")!);
  if (!user) throw new ScramError("client-first: empty user name");
  const authzid = m[2] ? decodeSaslName(m[2].slice(2)) : "";
  if (authzid && authzid !== user) throw new ScramError("client-first: authzid differs from the user");
  const clientNonce = attrs.get("r")!;
  if (!PRINTABLE.test(clientNonce)) throw new ScramError("client-first: malformed nonce");
  return { gs2Header, user, clientNonce, bare };
}

/**
 * One SCRAM exchange on the server: `first` takes client-first and answers server-first;
 * `final` takes client-final and answers server-final, or throws ScramError. A user with no
 * credential gets a made-up salt and fails only at the proof, like a wrong password, so the
 * exchange never tells which of the two was wrong.
 */
export class ScramServerExchange {
  private state: "start" | "first-sent" | "done" = "start";
  private clientFirst?: ClientFirst;
  private serverFirst = "";
  private nonce = "";
  private cred: ScramCredential | null = null;

  constructor(
    readonly mechanism: ScramMechanism,
    private readonly lookup: (user: string) => ScramCredential | null,
    /** Secret that makes a missing user's fake salt stable per broker, so retries look the same. */
    private readonly fakeSaltKey: Buffer,
    private readonly serverNonce: () => string = () => crypto.randomBytes(24).toString("base64"),
  ) {}

  get user(): string | undefined {
    return this.clientFirst?.user;
  }

  first(message: string): string {
    if (this.state !== "start") throw new ScramError("client-first sent twice");
    const cf = parseClientFirst(message);
    this.clientFirst = cf;
    this.cred = this.lookup(cf.user);
    const salt = this.cred?.salt ?? hmac(this.mechanism, this.fakeSaltKey, cf.user).subarray(0, 32);
    const iterations = this.cred?.iterations ?? SCRAM_ITERATIONS_MIN;
    this.nonce = cf.clientNonce + this.serverNonce();
    this.serverFirst = `r=${this.nonce},s=${salt.toString("base64")},i=${iterations}`;
    this.state = "first-sent";
    return this.serverFirst;
  }

  /** Returns server-final ("v=..."). Throws ScramError for anything but a correct proof. */
  final(message: string): string {
    if (this.state !== "first-sent") throw new ScramError("client-final out of order");
    this.state = "done";
    const cf = this.clientFirst!;
    const at = message.lastIndexOf(",p=");
    if (at < 0) throw new ScramError("client-final: no proof");
    const withoutProof = message.slice(0, at);
    const attrs = attributes(message, "client-final");
    const keys = [...attrs.keys()];
    if (keys[0] !== "c" || keys[1] !== "r" || keys[keys.length - 1] !== "p" || keys.length !== 3) throw new ScramError("client-final: expected c=, r=, p=");
    if (attrs.get("c") !== Buffer.from(cf.gs2Header, "utf8").toString("base64")) throw new ScramError("client-final: channel binding differs from the gs2 header");
    if (attrs.get("r") !== this.nonce) throw new ScramError("client-final: nonce differs");
    const proof = Buffer.from(attrs.get("p")!, "base64");
    const authMessage = `${cf.bare},${this.serverFirst},${withoutProof}`;
    const cred = this.cred;
    if (!cred || proof.length !== cred.storedKey.length) throw new ScramError("invalid credentials");
    const clientSignature = hmac(this.mechanism, cred.storedKey, authMessage);
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!;
    if (!crypto.timingSafeEqual(digest(this.mechanism, clientKey), cred.storedKey)) throw new ScramError("invalid credentials");
    return `v=${hmac(this.mechanism, cred.serverKey, authMessage).toString("base64")}`;
  }
}

/**
 * The client side, for tests and tools only (the broker never logs in anywhere): the same
 * steps a Kafka client takes, so the server can be checked without a client library.
 */
export class ScramClientExchange {
  private bare = "";
  private serverFirst = "";
  private saltedPassword: Buffer = Buffer.alloc(0);
  private authMessage = "";

  constructor(
    readonly mechanism: ScramMechanism,
    private readonly user: string,
    private readonly password: string,
    private readonly clientNonce = crypto.randomBytes(18).toString("base64"),
  ) {}

  first(): string {
    const name = this.user.replace(/=/g, "=3D").replace(/,/g, "=2C");
    this.bare = `n=${name},r=${this.clientNonce}`;
    return `n,,${this.bare}`;
  }

  final(serverFirst: string): string {
    this.serverFirst = serverFirst;
    const attrs = attributes(serverFirst, "server-first");
    const nonce = attrs.get("r") ?? "";
    if (!nonce.startsWith(this.clientNonce)) throw new ScramError("server-first: nonce does not extend ours");
    const salt = Buffer.from(attrs.get("s") ?? "", "base64");
    const iterations = Number(attrs.get("i"));
    this.saltedPassword = saltPassword(this.mechanism, this.password, salt, iterations);
    const withoutProof = `c=${Buffer.from("n,,").toString("base64")},r=${nonce}`;
    this.authMessage = `${this.bare},${serverFirst},${withoutProof}`;
    const clientKey = hmac(this.mechanism, this.saltedPassword, "Client Key");
    const signature = hmac(this.mechanism, digest(this.mechanism, clientKey), this.authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ signature[i]!;
    return `${withoutProof},p=${proof.toString("base64")}`;
  }

  /** Checks the server's signature: proof that the server knew the credential too. */
  verify(serverFinal: string): boolean {
    const expected = hmac(this.mechanism, hmac(this.mechanism, this.saltedPassword, "Server Key"), this.authMessage).toString("base64");
    return serverFinal === `v=${expected}`;
  }
}
