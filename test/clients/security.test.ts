import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { makeCa, makeCert, type TestCa, type TestCert } from "../../broker/security/test-certs.js";
import { CLIENTS, EXIT_AUTHENTICATION_FAILED, EXIT_AUTHORIZATION_FAILED, requireClients, runClient, runClientExpectingFailure, startBroker, type BrokerHandle, type ClientName } from "./harness.js";

/**
 * A real client against Floe on SASL_SSL with SCRAM-SHA-512, mutual TLS required and
 * FLOE_AUTHORIZER=acl: the super user works without ACLs; a wrong password and an expired
 * client certificate exit with the CLI's authentication code; a user without ACLs exits with
 * the authorization code until an ACL made through the Admin API lets it produce.
 * A second broker listens on SSL with mutual TLS as the only authentication: the client
 * certificate's subject is the principal. All four real clients.
 */
const SECURED_CLIENTS: readonly ClientName[] = CLIENTS;
let broker: BrokerHandle | undefined;
let mtlsBroker: BrokerHandle | undefined;
let startError: unknown;
let ca: TestCa;
let client: TestCert;

beforeAll(async () => {
  try {
    await requireClients(SECURED_CLIENTS);
    ca = makeCa();
    const server = makeCert(ca, "localhost");
    client = makeCert(ca, "app", { sans: "DNS:app" });
    const users = path.join(ca.dir, "users");
    fs.writeFileSync(users, "admin:admin-secret\nalice:alice-secret\n");
    broker = await startBroker({
      env: {
        FLOE_SECURITY_PROTOCOL: "SASL_SSL",
        FLOE_SASL_ENABLED_MECHANISMS: "SCRAM-SHA-512",
        FLOE_SASL_USERS_FILE: users,
        FLOE_SCRAM_ITERATIONS: "4096",
        FLOE_TLS_CERT_FILE: server.certFile,
        FLOE_TLS_KEY_FILE: server.keyFile,
        FLOE_TLS_CA_FILE: ca.caFile,
        FLOE_TLS_CLIENT_AUTH: "required",
        FLOE_AUTHORIZER: "acl",
        FLOE_SUPER_USERS: "User:admin",
      },
    });
    mtlsBroker = await startBroker({
      env: {
        FLOE_SECURITY_PROTOCOL: "SSL",
        FLOE_TLS_CERT_FILE: server.certFile,
        FLOE_TLS_KEY_FILE: server.keyFile,
        FLOE_TLS_CA_FILE: ca.caFile,
        FLOE_TLS_CLIENT_AUTH: "required",
        FLOE_AUTHORIZER: "acl",
        // The principal of a certificate is its subject (FLOE_TLS_PRINCIPAL=dn, Kafka's default).
        FLOE_SUPER_USERS: "User:CN=ops,O=Floe Tests",
      },
    });
  } catch (err) {
    startError = err;
  }
}, 1_800_000);

afterAll(async () => {
  await broker?.stop();
  await mtlsBroker?.stop();
});

function bootstrap(): string {
  if (!broker) throw startError instanceof Error ? startError : new Error(`broker did not start: ${String(startError)}`);
  return broker.bootstrap;
}

const login = (user: string, password: string, cert: TestCert = client) => [
  "--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-512", "--username", user, "--password", password,
  "--ca-file", ca.caFile, "--cert-file", cert.certFile, "--key-file", cert.keyFile,
];

describe.each(SECURED_CLIENTS)("%s over SASL_SSL with ACLs", (clientName) => {
  const TOPIC = `secured-${clientName}`;
  it("the super user creates a topic, produces and consumes without any ACL", async () => {
    await runClient(clientName, ["create-topic", "--bootstrap", bootstrap(), "--topic", TOPIC, "--partitions", "1", ...login("admin", "admin-secret")]);
    const produced = await runClient(clientName, ["produce", "--bootstrap", bootstrap(), "--topic", TOPIC, "--count", "5", ...login("admin", "admin-secret")]);
    expect(produced.records).toHaveLength(5);
    const consumed = await runClient(clientName, ["consume", "--bootstrap", bootstrap(), "--topic", TOPIC, "--group", `admins-${clientName}`, "--count", "5", "--timeout-ms", "30000", ...login("admin", "admin-secret")]);
    expect(consumed.records.map((r) => r.v)).toEqual(produced.records.map((r) => r.v));
  }, 120_000);

  it("a wrong password exits with the authentication code", async () => {
    const r = await runClientExpectingFailure(clientName, ["produce", "--bootstrap", bootstrap(), "--topic", TOPIC, "--count", "1", ...login("alice", "wrong")]);
    expect(r.code, r.stderr).toBe(EXIT_AUTHENTICATION_FAILED);
    expect(r.stderr).toMatch(/SASL/);
  }, 120_000);

  it("a broker certificate from a CA the client does not trust exits with the authentication code", async () => {
    const otherCa = makeCa("Some Other CA");
    const r = await runClientExpectingFailure(clientName, ["produce", "--bootstrap", bootstrap(), "--topic", TOPIC, "--count", "1", ...login("alice", "alice-secret"), "--ca-file", otherCa.caFile]);
    expect(r.code, r.stderr).toBe(EXIT_AUTHENTICATION_FAILED);
    // The Java client names the reason as the JDK does: "PKIX path building failed".
    expect(r.stderr).toMatch(/certificate|PKIX/i);
  }, 120_000);

  it("an expired client certificate is refused", async () => {
    const expired = makeCert(ca, "alice", { expired: true, sans: "DNS:alice" });
    const args = ["produce", "--bootstrap", bootstrap(), "--topic", TOPIC, "--count", "1", ...login("alice", "alice-secret", expired)];
    // With TLS 1.3 the broker checks the client certificate after the client considers the
    // handshake done, so neither client sees a certificate error, only the connection
    // closed: kafkajs gives up after its retries with a plain failure; librdkafka, Java and
    // franz-go retry until the record times out (minutes by default, forever for
    // franz-go), so they are stopped after 20 s. Either way nothing is produced.
    if (clientName === "kafkajs") {
      const r = await runClientExpectingFailure(clientName, args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/KafkaJSConnectionClosedError/);
    } else {
      const r = await runClientExpectingFailure(clientName, args, 20_000, true);
      expect(r.timedOut).toBe(true);
      expect(r.stdout).toBe("");
      const closed = { librdkafka: /SSL connection closed by peer|connection reset by peer/, java: /terminated during authentication|SSL handshake failed/, "franz-go": /EOF|connection reset/ }[clientName as "librdkafka" | "java" | "franz-go"];
      expect(r.stderr).toMatch(closed);
    }
  }, 180_000);

  it("a user without ACLs exits with the authorization code, and produces once an ACL allows it", async () => {
    const denied = await runClientExpectingFailure(clientName, ["produce", "--bootstrap", bootstrap(), "--topic", TOPIC, "--count", "1", ...login("alice", "alice-secret")]);
    expect(denied.code, denied.stderr).toBe(EXIT_AUTHORIZATION_FAILED);
    expect(denied.stderr).toMatch(/authoriz/i);

    // The ACL goes in through the Admin API, as kafka-acls.sh would send it.
    // kafkajs's enums: resource type TOPIC 2, pattern LITERAL 3, operation WRITE 4, permission ALLOW 3.
    await withAdmin(async (admin) => {
      await admin.createAcls({ acl: [{ resourceType: 2, resourceName: TOPIC, resourcePatternType: 3, principal: "User:alice", host: "*", operation: 4, permissionType: 3 }] });
      const listed = await admin.describeAcls({ resourceType: 2, resourceName: TOPIC, resourcePatternType: 3, operation: 1, permissionType: 1 });
      expect(listed.resources.map((r) => [r.resourceName, r.acls.map((a) => a.principal)])).toEqual([[TOPIC, ["User:alice"]]]);
    });
    const allowed = await runClient(clientName, ["produce", "--bootstrap", bootstrap(), "--topic", TOPIC, "--count", "3", ...login("alice", "alice-secret")]);
    expect(allowed.records).toHaveLength(3);
  }, 180_000);

  it("a consumer with READ on the topic but not on its group exits with the authorization code", async () => {
    // READ on the topic (operation 3), nothing on the group.
    await withAdmin((admin) => admin.createAcls({ acl: [{ resourceType: 2, resourceName: TOPIC, resourcePatternType: 3, principal: "User:alice", host: "*", operation: 3, permissionType: 3 }] }));
    const r = await runClientExpectingFailure(clientName, ["consume", "--bootstrap", bootstrap(), "--topic", TOPIC, "--group", `alice-${clientName}`, "--count", "1", "--timeout-ms", "30000", ...login("alice", "alice-secret")]);
    if (clientName === "kafkajs") {
      // kafkajs logs the broker's GROUP_AUTHORIZATION_FAILED, then throws
      // KafkaJSGroupCoordinatorNotFound without it as a cause, so its CLI exits as a plain failure.
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/Group authorization failed/);
    } else {
      expect(r.code, r.stderr).toBe(EXIT_AUTHORIZATION_FAILED);
    }
  }, 120_000);
});

async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const kafka = new Kafka({
    clientId: "acl-admin",
    brokers: [bootstrap()],
    logLevel: logLevel.NOTHING,
    ssl: { ca: fs.readFileSync(ca.caFile, "utf8"), cert: fs.readFileSync(client.certFile, "utf8"), key: fs.readFileSync(client.keyFile, "utf8") },
    sasl: { mechanism: "scram-sha-512", username: "admin", password: "admin-secret" },
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

describe.each(SECURED_CLIENTS)("%s over SSL with mutual TLS as the authentication", (clientName) => {
  const TOPIC = `mtls-${clientName}`;
  const mtls = (cert: TestCert) => ["--security-protocol", "SSL", "--ca-file", ca.caFile, "--cert-file", cert.certFile, "--key-file", cert.keyFile];
  const mtlsBootstrap = () => {
    if (!mtlsBroker) throw startError instanceof Error ? startError : new Error("mTLS broker did not start");
    return mtlsBroker.bootstrap;
  };

  it("the certificate's subject is the principal: the super user's certificate creates, produces and consumes", async () => {
    const ops = makeCert(ca, "ops", { org: "Floe Tests", sans: "DNS:ops" });
    await runClient(clientName, ["create-topic", "--bootstrap", mtlsBootstrap(), "--topic", TOPIC, "--partitions", "1", ...mtls(ops)]);
    const produced = await runClient(clientName, ["produce", "--bootstrap", mtlsBootstrap(), "--topic", TOPIC, "--count", "4", ...mtls(ops)]);
    expect(produced.records).toHaveLength(4);
    const consumed = await runClient(clientName, ["consume", "--bootstrap", mtlsBootstrap(), "--topic", TOPIC, "--group", `ops-${clientName}`, "--count", "4", "--timeout-ms", "30000", ...mtls(ops)]);
    expect(consumed.records.map((r) => r.v)).toEqual(produced.records.map((r) => r.v));
  }, 120_000);

  it("another valid certificate without ACLs exits with the authorization code", async () => {
    const app = makeCert(ca, "app", { org: "Floe Tests", sans: "DNS:app" });
    const r = await runClientExpectingFailure(clientName, ["produce", "--bootstrap", mtlsBootstrap(), "--topic", TOPIC, "--count", "1", ...mtls(app)]);
    expect(r.code, r.stderr).toBe(EXIT_AUTHORIZATION_FAILED);
  }, 120_000);
});

// Keep the temporary certificate folder out of the way of other runs.
afterAll(() => {
  if (ca?.dir?.startsWith(os.tmpdir())) fs.rmSync(ca.dir, { recursive: true, force: true });
});
