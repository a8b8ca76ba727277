import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { API_SPECS, ApiKey } from "../../protocol/messages/index.js";
import type { AlterUserScramCredentialsRequest } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { encodeRequest, responseHeaderVersion } from "../../protocol/framing.js";
import { Reader } from "../../protocol/primitives.js";
import { ResponseHeader } from "../../protocol/messages/headers.js";
import { credentialFromPassword, saltPassword, ScramClientExchange, type ScramMechanism } from "../../security/scram.js";
import { authenticationFailedMessage, newSaslState } from "../../security/sasl.js";
import type { ConnectionInfo } from "../connection.js";
import { createDispatch, supportedApis } from "../dispatch.js";
import { HANDLERS } from "./index.js";
import { saslHandshake } from "./17-sasl-handshake.js";
import { saslAuthenticate } from "./36-sasl-authenticate.js";
import { describeUserScramCredentials } from "./50-describe-user-scram-credentials.js";
import { alterUserScramCredentials } from "./51-alter-user-scram-credentials.js";
import { callOn, createTestBroker, testConnection, type TestBroker } from "./test-broker.js";

let broker: TestBroker;
beforeEach(async () => {
  broker = await createTestBroker({ saslEnabledMechanisms: "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" });
  for (const m of ["SCRAM-SHA-256", "SCRAM-SHA-512"] as const) await broker.controller.upsertScramCredential("alice", credentialFromPassword(m, "alice-pw", 4096));
  await broker.controller.upsertScramCredential("bob", credentialFromPassword("SCRAM-SHA-256", "bob-pw", 4096));
});
afterEach(() => {
  broker.close();
  vi.useRealTimers();
});

const saslConn = (): ConnectionInfo => testConnection({ sasl: newSaslState() });

async function handshake(conn: ConnectionInfo, mechanism: string) {
  return callOn(saslHandshake, broker, 1, { mechanism }, conn);
}

async function authenticate(conn: ConnectionInfo, bytes: Buffer | string, version = 1) {
  return callOn(saslAuthenticate, broker, version, { authBytes: Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes) }, conn);
}

/** A whole SCRAM login; returns the last SaslAuthenticate result. */
async function scramLogin(conn: ConnectionInfo, mechanism: ScramMechanism, user: string, password: string, version = 1) {
  expect((await handshake(conn, mechanism)).response.errorCode).toBe(ErrorCode.NONE);
  const client = new ScramClientExchange(mechanism, user, password);
  const first = await authenticate(conn, client.first(), version);
  expect(first.response.errorCode).toBe(ErrorCode.NONE);
  expect(first.closeReason).toBeNull();
  const final = await authenticate(conn, client.final(first.response.authBytes.toString()), version);
  if (final.response.errorCode === ErrorCode.NONE) expect(client.verify(final.response.authBytes.toString())).toBe(true);
  return final;
}

describe("SaslHandshake and SaslAuthenticate", () => {
  it.each(["SCRAM-SHA-256", "SCRAM-SHA-512"] as const)("%s logs a user in and names the principal", async (m) => {
    const conn = saslConn();
    const res = await scramLogin(conn, m, "alice", "alice-pw");
    expect(res.response).toMatchObject({ errorCode: ErrorCode.NONE, errorMessage: null, sessionLifetimeMs: 0n });
    expect(res.closeReason).toBeNull();
    expect(conn.principal).toBe("User:alice");
    expect(conn.sasl).toMatchObject({ user: "alice", mechanism: m, pending: null, expiresAtMs: 0 });
  });

  it("PLAIN is checked against the salted SCRAM credential", async () => {
    const conn = saslConn();
    await handshake(conn, "PLAIN");
    const res = await authenticate(conn, "\u0000bob\u0000bob-pw");
    expect(res.response.errorCode).toBe(ErrorCode.NONE);
    expect(conn.principal).toBe("User:bob");
  });

  it("a wrong password, an unknown user and a malformed token fail the same way and close the connection", async () => {
    const outcomes = [];
    for (const [m, user, pw] of [["SCRAM-SHA-256", "alice", "nope"], ["SCRAM-SHA-256", "nobody", "alice-pw"], ["SCRAM-SHA-512", "bob", "bob-pw"]] as const) {
      const conn = saslConn();
      const res = await scramLogin(conn, m, user, pw);
      outcomes.push({ ...res.response, closeReason: res.closeReason, principal: conn.principal, user: conn.sasl!.user });
    }
    for (const [bytes, m] of [["\u0000alice\u0000nope", "PLAIN"], ["\u0000nobody\u0000x", "PLAIN"], ["garbage", "PLAIN"], ["n,,n=alice", "SCRAM-SHA-256"]] as const) {
      const conn = saslConn();
      await handshake(conn, m);
      const res = await authenticate(conn, bytes);
      outcomes.push({ ...res.response, closeReason: res.closeReason, principal: conn.principal, user: conn.sasl!.user });
    }
    for (const o of outcomes) {
      expect(o.errorCode).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED);
      expect(o.closeReason).toBe("SASL authentication failed");
      expect(o.principal).toBe("User:ANONYMOUS");
      expect(o.user).toBeNull();
    }
    // One text per mechanism, whatever was wrong.
    expect(new Set(outcomes.map((o) => o.errorMessage))).toEqual(new Set(["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"].map(authenticationFailedMessage)));
  });

  it("refuses SaslAuthenticate without a handshake, a second handshake mid-exchange, and unknown mechanisms", async () => {
    const conn = saslConn();
    const early = await authenticate(conn, "x");
    expect(early.response.errorCode).toBe(ErrorCode.ILLEGAL_SASL_STATE);
    expect(early.closeReason).not.toBeNull();

    const c2 = saslConn();
    expect((await handshake(c2, "SCRAM-SHA-256")).response.errorCode).toBe(ErrorCode.NONE);
    const again = await handshake(c2, "SCRAM-SHA-256");
    expect(again.response.errorCode).toBe(ErrorCode.ILLEGAL_SASL_STATE);
    expect(again.closeReason).not.toBeNull();

    const c3 = saslConn();
    const gssapi = await handshake(c3, "GSSAPI");
    expect(gssapi.response).toEqual({ errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] });
    expect(gssapi.closeReason).not.toBeNull();

    const plaintext = await callOn(saslHandshake, broker, 1, { mechanism: "PLAIN" }, testConnection());
    expect(plaintext.response.errorCode).toBe(ErrorCode.ILLEGAL_SASL_STATE);
  });

  it("re-authentication (KIP-368) renews the session for the same user and closes for another", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const b = await createTestBroker({ saslSessionLifetimeMs: 60_000 });
    await b.controller.upsertScramCredential("alice", credentialFromPassword("SCRAM-SHA-256", "alice-pw", 4096));
    await b.controller.upsertScramCredential("bob", credentialFromPassword("SCRAM-SHA-256", "bob-pw", 4096));
    const prev = broker;
    broker = b;
    try {
      const conn = saslConn();
      const first = await scramLogin(conn, "SCRAM-SHA-256", "alice", "alice-pw");
      expect(first.response.sessionLifetimeMs).toBe(60_000n);
      expect(conn.sasl!.expiresAtMs).toBe(1_060_000);
      vi.setSystemTime(1_050_000);
      const renewed = await scramLogin(conn, "SCRAM-SHA-256", "alice", "alice-pw", 2);
      expect(renewed.response.errorCode).toBe(ErrorCode.NONE);
      expect(conn.sasl!.expiresAtMs).toBe(1_110_000);
      const other = await scramLogin(conn, "SCRAM-SHA-256", "bob", "bob-pw");
      expect(other.response.errorCode).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED);
      expect(other.closeReason).not.toBeNull();
      expect(conn.principal).toBe("User:alice");
    } finally {
      b.close();
      broker = prev;
    }
  });
});

/** Sends frames through the real dispatcher, as a connection would. */
function wire(conn: ConnectionInfo) {
  const dispatch = createDispatch(broker, HANDLERS, broker.metrics);
  let correlationId = 0;
  return async (apiKey: number, version: number, body: unknown) => {
    const frame = encodeRequest(apiKey, version, ++correlationId, "test", body).subarray(4);
    const result = await dispatch(frame, conn);
    if (result.kind !== "respond") return { result, body: null };
    const r = new Reader(result.frame.subarray(4));
    ResponseHeader.decode(r, responseHeaderVersion(apiKey, version));
    return { result, body: API_SPECS.get(apiKey)!.response.decode(r, version) as Record<string, unknown> };
  };
}

describe("the dispatcher on a SASL connection", () => {
  it("serves ApiVersions before authentication and closes on anything else", async () => {
    const conn = saslConn();
    const send = wire(conn);
    const versions = await send(ApiKey.ApiVersions, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" });
    expect(versions.body).toMatchObject({ errorCode: 0 });
    const keys = supportedApis(HANDLERS).filter((k) => [17, 36, 50, 51].includes(k.apiKey));
    expect(keys).toEqual([
      { apiKey: 17, minVersion: 1, maxVersion: 1 },
      { apiKey: 36, minVersion: 0, maxVersion: 2 },
      { apiKey: 50, minVersion: 0, maxVersion: 0 },
      { apiKey: 51, minVersion: 0, maxVersion: 0 },
    ]);
    const metadata = await send(ApiKey.Metadata, 4, { topics: null, allowAutoTopicCreation: false });
    expect(metadata.result).toEqual({ kind: "close", reason: "Metadata request before SASL authentication" });
  });

  it("after a SCRAM login serves requests, closes once the session expired, and writes the failure response before closing", async () => {
    vi.useFakeTimers({ now: 5_000 });
    broker.config.saslSessionLifetimeMs = 1000;
    const conn = saslConn();
    const send = wire(conn);
    await send(ApiKey.SaslHandshake, 1, { mechanism: "SCRAM-SHA-512" });
    const client = new ScramClientExchange("SCRAM-SHA-512", "alice", "alice-pw");
    const first = await send(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from(client.first()) });
    const final = await send(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from(client.final((first.body!.authBytes as Buffer).toString())) });
    expect(final.body).toMatchObject({ errorCode: 0, sessionLifetimeMs: 1000n });
    const served = await send(ApiKey.DescribeCluster, 0, { includeClusterAuthorizedOperations: false });
    expect(served.result.kind).toBe("respond");
    vi.setSystemTime(6_000);
    const expired = await send(ApiKey.DescribeCluster, 0, { includeClusterAuthorizedOperations: false });
    expect(expired.result).toEqual({ kind: "close", reason: "SASL session of alice expired; the client did not re-authenticate in time" });

    const bad = saslConn();
    const sendBad = wire(bad);
    await sendBad(ApiKey.SaslHandshake, 1, { mechanism: "PLAIN" });
    const failed = await sendBad(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from("\u0000alice\u0000wrong") });
    expect(failed.result).toMatchObject({ kind: "respond", thenClose: "SASL authentication failed" });
    expect(failed.body).toMatchObject({ errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED });
  });

  it("leaves a plaintext connection alone", async () => {
    const send = wire(testConnection());
    const served = await send(ApiKey.DescribeCluster, 0, { includeClusterAuthorizedOperations: false });
    expect(served.result.kind).toBe("respond");
  });
});

function upsertion(name: string, mechanism: number, password: string, iterations = 4096): AlterUserScramCredentialsRequest["upsertions"][number] {
  const m: ScramMechanism = mechanism === 2 ? "SCRAM-SHA-512" : "SCRAM-SHA-256";
  const salt = Buffer.from(`salt-of-${name}`);
  return { name, mechanism, iterations, salt, saltedPassword: mechanism === 1 || mechanism === 2 ? saltPassword(m, password, salt, iterations) : Buffer.alloc(32) };
}

describe("DescribeUserScramCredentials and AlterUserScramCredentials", () => {
  const admin = () => testConnection({ principal: "User:admin" });

  it("adds a user who can then log in, describes it, and deletes it again", async () => {
    const alter = await callOn(alterUserScramCredentials, broker, 0, { deletions: [], upsertions: [upsertion("carol", 1, "carol-pw"), upsertion("carol", 2, "carol-pw", 8192)] }, admin());
    expect(alter.response.results).toEqual([{ user: "carol", errorCode: 0, errorMessage: null }]);
    const conn = saslConn();
    expect((await scramLogin(conn, "SCRAM-SHA-512", "carol", "carol-pw")).response.errorCode).toBe(0);
    expect(JSON.stringify(broker.journal)).not.toContain("carol-pw");

    const described = await callOn(describeUserScramCredentials, broker, 0, { users: [{ name: "carol" }, { name: "zed" }, { name: "bob" }, { name: "bob" }] }, admin());
    expect(described.response).toEqual({
      throttleTimeMs: 0,
      errorCode: 0,
      errorMessage: null,
      results: [
        { user: "carol", errorCode: 0, errorMessage: null, credentialInfos: [{ mechanism: 1, iterations: 4096 }, { mechanism: 2, iterations: 8192 }] },
        { user: "zed", errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: "Attempt to describe a user credential that does not exist", credentialInfos: [] },
        { user: "bob", errorCode: ErrorCode.DUPLICATE_RESOURCE, errorMessage: "Cannot describe SCRAM credentials for the same user twice in a single request", credentialInfos: [] },
      ],
    });
    const all = await callOn(describeUserScramCredentials, broker, 0, { users: null }, admin());
    expect(all.response.results.map((r) => r.user)).toEqual(["alice", "bob", "carol"]);

    const deleted = await callOn(alterUserScramCredentials, broker, 0, { deletions: [{ name: "carol", mechanism: 1 }, { name: "carol", mechanism: 2 }], upsertions: [] }, admin());
    expect(deleted.response.results).toEqual([{ user: "carol", errorCode: 0, errorMessage: null }]);
    expect(broker.controller.scram.mechanismsOf("carol")).toEqual([]);
    const loggedOut = await scramLogin(saslConn(), "SCRAM-SHA-256", "carol", "carol-pw");
    expect(loggedOut.response.errorCode).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED);
  });

  it("refuses bad changes per user, applying none of that user's changes", async () => {
    const before = broker.journal.length;
    const res = await callOn(
      alterUserScramCredentials,
      broker,
      0,
      {
        deletions: [{ name: "ghost", mechanism: 1 }, { name: "dup", mechanism: 1 }],
        upsertions: [upsertion("", 1, "x"), upsertion("few", 1, "x", 1000), upsertion("many", 2, "x", 20000), upsertion("mech", 3, "x"), upsertion("dup", 1, "x"), { ...upsertion("short", 1, "x"), saltedPassword: Buffer.alloc(5) }],
      },
      admin(),
    );
    const byUser = Object.fromEntries(res.response.results.map((r) => [r.user, r.errorCode]));
    expect(byUser).toEqual({
      ghost: ErrorCode.RESOURCE_NOT_FOUND,
      dup: ErrorCode.DUPLICATE_RESOURCE,
      "": ErrorCode.UNACCEPTABLE_CREDENTIAL,
      few: ErrorCode.UNACCEPTABLE_CREDENTIAL,
      many: ErrorCode.UNACCEPTABLE_CREDENTIAL,
      mech: ErrorCode.UNSUPPORTED_SASL_MECHANISM,
      short: ErrorCode.UNACCEPTABLE_CREDENTIAL,
    });
    expect(broker.journal.length).toBe(before);
  });

  it("with FLOE_SUPER_USERS set, only super users may describe or alter users", async () => {
    broker.config.superUsers = "User:admin";
    const denied = await callOn(alterUserScramCredentials, broker, 0, { deletions: [], upsertions: [upsertion("eve", 1, "x")] }, testConnection({ principal: "User:alice" }));
    expect(denied.response.results).toEqual([{ user: "eve", errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: "Cluster authorization failed." }]);
    expect(broker.controller.scram.mechanismsOf("eve")).toEqual([]);
    const hidden = await callOn(describeUserScramCredentials, broker, 0, { users: null }, testConnection({ principal: "User:alice" }));
    expect(hidden.response).toMatchObject({ errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, results: [] });
    const allowed = await callOn(alterUserScramCredentials, broker, 0, { deletions: [], upsertions: [upsertion("eve", 1, "x")] }, admin());
    expect(allowed.response.results[0]!.errorCode).toBe(0);
  });

  it("replays the records into the same credentials", async () => {
    const { Controller, memoryJournal } = await import("../../cluster/controller.js");
    const { TopicRegistry } = await import("../../cluster/topics.js");
    const replayed = new Controller(new TopicRegistry(), memoryJournal());
    for (const r of broker.journal) replayed.replay(r);
    expect(replayed.scram.users()).toEqual(["alice", "bob"]);
    expect(replayed.scram.get("alice", "SCRAM-SHA-512")).toEqual(broker.controller.scram.get("alice", "SCRAM-SHA-512"));
  });
});
