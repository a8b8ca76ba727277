import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kafka, logLevel } from "kafkajs";
import { makeCa, makeCert, type TestCa } from "../../broker/security/test-certs.js";
import { ErrorCode } from "../../broker/protocol/errors.js";
import { RawClient } from "../raw-client.js";
import { CLIENTS, EXIT_AUTHENTICATION_FAILED, freePort, requireClients, runClient, runClientExpectingFailure, startBroker, waitForPort, type BrokerHandle } from "./harness.js";

/**
 * One broker, two named listeners (FLOE_LISTENERS): PLAIN on PLAINTEXT and SECURE on
 * SASL_SSL, each advertising a different host (127.0.0.1 and localhost), as an in-cluster
 * and an external listener would. Every real client produces on one and consumes the same
 * records on the other; each listener's Metadata names only its own addresses; the
 * plaintext listener asks for nothing, the SASL_SSL one refuses a wrong password.
 */
let broker: BrokerHandle | undefined;
let startError: unknown;
let ca: TestCa;
let plainPort: number;
let securePort: number;

beforeAll(async () => {
  try {
    await requireClients(CLIENTS);
    ca = makeCa();
    const server = makeCert(ca, "localhost");
    const users = path.join(ca.dir, "users");
    fs.writeFileSync(users, "admin:admin-secret\n");
    plainPort = await freePort();
    do securePort = await freePort();
    while (securePort === plainPort);
    broker = await startBroker({
      port: plainPort,
      env: {
        FLOE_PORT: "",
        FLOE_LISTENERS: `PLAIN://127.0.0.1:${plainPort},SECURE://127.0.0.1:${securePort}`,
        FLOE_ADVERTISED_LISTENERS: `SECURE://localhost:${securePort}`,
        FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "PLAIN:PLAINTEXT,SECURE:SASL_SSL",
        FLOE_SASL_ENABLED_MECHANISMS: "SCRAM-SHA-512",
        FLOE_SASL_USERS_FILE: users,
        FLOE_SCRAM_ITERATIONS: "4096",
        FLOE_TLS_CERT_FILE: server.certFile,
        FLOE_TLS_KEY_FILE: server.keyFile,
      },
    });
    await waitForPort(securePort, 10_000);
  } catch (err) {
    startError = err;
  }
}, 1_800_000);

afterAll(async () => {
  await broker?.stop();
  if (ca?.dir?.startsWith(os.tmpdir())) fs.rmSync(ca.dir, { recursive: true, force: true });
});

function started(): BrokerHandle {
  if (!broker) throw startError instanceof Error ? startError : new Error(`broker did not start: ${String(startError)}`);
  return broker;
}

const plain = () => `127.0.0.1:${started() && plainPort}`;
const secure = () => `localhost:${started() && securePort}`;
const login = (password: string) => ["--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-512", "--username", "admin", "--password", password, "--ca-file", ca.caFile];

describe("Metadata on each listener names that listener's addresses only", () => {
  it("PLAIN (raw Metadata v12, FindCoordinator v4 and DescribeCluster): 127.0.0.1 and the plaintext port", async () => {
    started();
    const raw = await RawClient.connect(plainPort);
    try {
      const md = await raw.request(3, 12, { topics: null });
      expect(md.brokers).toEqual([{ nodeId: 1, host: "127.0.0.1", port: plainPort, rack: null }]);
      const coordinator = await raw.request(10, 4, { keyType: 0, coordinatorKeys: ["g"] });
      expect(coordinator.coordinators).toMatchObject([{ key: "g", errorCode: ErrorCode.NONE, nodeId: 1, host: "127.0.0.1", port: plainPort }]);
      const cluster = await raw.request(60, 1, { endpointType: 1, includeClusterAuthorizedOperations: false });
      expect(cluster.brokers).toEqual([{ brokerId: 1, host: "127.0.0.1", port: plainPort, rack: null }]);
    } finally {
      raw.close();
    }
  });

  it("SECURE (kafkajs over SASL_SSL): localhost and the SASL_SSL port", async () => {
    started();
    const kafka = new Kafka({ clientId: "listeners-admin", brokers: [secure()], logLevel: logLevel.NOTHING, ssl: { ca: fs.readFileSync(ca.caFile, "utf8") }, sasl: { mechanism: "scram-sha-512", username: "admin", password: "admin-secret" } });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      expect(cluster.brokers).toEqual([{ nodeId: 1, host: "localhost", port: securePort }]);
    } finally {
      await admin.disconnect();
    }
  });
});

describe.each(CLIENTS)("%s on both listeners", (clientName) => {
  const TOPIC = `listeners-${clientName}`;

  it("produces on the plaintext listener without credentials and consumes the same records over SASL_SSL", async () => {
    await runClient(clientName, ["create-topic", "--bootstrap", plain(), "--topic", TOPIC, "--partitions", "2"]);
    const produced = await runClient(clientName, ["produce", "--bootstrap", plain(), "--topic", TOPIC, "--count", "6"]);
    expect(produced.records).toHaveLength(6);
    const consumed = await runClient(clientName, ["consume", "--bootstrap", secure(), "--topic", TOPIC, "--group", `listeners-${clientName}`, "--count", "6", "--timeout-ms", "30000", ...login("admin-secret")]);
    expect(consumed.records.map((r) => r.v).sort()).toEqual(produced.records.map((r) => r.v).sort());
    // And the other way: SASL_SSL in, plaintext out.
    const more = await runClient(clientName, ["produce", "--bootstrap", secure(), "--topic", TOPIC, "--count", "3", "--start", "6", ...login("admin-secret")]);
    expect(more.records).toHaveLength(3);
    const after = await runClient(clientName, ["consume", "--bootstrap", plain(), "--topic", TOPIC, "--group", `listeners-${clientName}`, "--count", "3", "--timeout-ms", "30000"]);
    expect(after.records.map((r) => r.v).sort()).toEqual(more.records.map((r) => r.v).sort());
  }, 180_000);

  it("the SASL_SSL listener refuses a wrong password with the authentication code", async () => {
    const r = await runClientExpectingFailure(clientName, ["produce", "--bootstrap", secure(), "--topic", TOPIC, "--count", "1", ...login("wrong")]);
    expect(r.code, r.stderr).toBe(EXIT_AUTHENTICATION_FAILED);
    expect(r.stderr).toMatch(/SASL/);
  }, 120_000);
});
