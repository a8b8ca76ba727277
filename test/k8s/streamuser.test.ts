import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { eventually, startApiServer, type ApiServer } from "./apiserver.js";
import type { KubeClient, KubeObject } from "../../src/operator/kube/client.js";
import { R } from "../../src/operator/kube/resources.js";
import { Operator } from "../../src/operator/operator.js";
import { createRegistry } from "../../src/common/metrics.js";
import { silentLogger } from "../../src/common/logger.js";
import { freePort } from "../ports.js";
import { startBroker, type BrokerHandle } from "../clients/harness.js";
import { makeCa, makeCert, type TestCa } from "../../broker/security/test-certs.js";
import { KafkaAdminClient } from "../../src/operator/kafka/admin.js";

/**
 * Security from Kubernetes, end to end: a StreamCluster's spec.security becomes broker
 * settings, mounts and a cert-manager Certificate (checked on a real API server with a
 * minimal copy of cert-manager's CRD, written for this test); a real broker started with
 * exactly the settings the operator rendered (the test plays kubelet and cert-manager);
 * StreamUsers applied through the Kafka Admin protocol, their passwords used by kafkajs,
 * their ACLs converged and removed with them.
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const NS = "streaming";
let api: ApiServer;
let client: KubeClient;
let operator: Operator | undefined;
let broker: BrokerHandle | undefined;
let brokerPort: number;
let certsBroker: BrokerHandle | undefined;
let certsPort: number;
let ca: TestCa;
let caPem: string;

// A stand-in for cert-manager's Certificate CRD: the group, kind and an open schema; enough
// for the operator's Certificate to be stored and read back (cert-manager itself does not run).
const CERTIFICATE_CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "certificates.cert-manager.io" },
  spec: {
    group: "cert-manager.io",
    names: { kind: "Certificate", listKind: "CertificateList", plural: "certificates", singular: "certificate" },
    scope: "Namespaced",
    versions: [{ name: "v1", served: true, storage: true, subresources: { status: {} }, schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } }],
  },
};

function exampleDocs(file: string): KubeObject[] {
  return parseAllDocuments(fs.readFileSync(path.join(REPO, "examples", file), "utf8")).map((d) => d.toJS() as KubeObject);
}
const exampleOf = (kind: string) => structuredClone(exampleDocs("security.yaml").find((d) => d.kind === kind)!);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const get = (r: typeof R.secret, name: string) => client.getOrNull<any>(r, NS, name);
const secretText = (s: { data: Record<string, string> }, key: string) => Buffer.from(s.data[key]!, "base64").toString("utf8");

async function establish(name: string): Promise<void> {
  await eventually(`CRD ${name} established`, async () => {
    const crd = await client.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(R.crd, undefined, name);
    return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
  });
}

beforeAll(async () => {
  api = await startApiServer();
  client = api.client("floe-test");
  for (const file of ["floe.dev_streamclusters.yaml", "floe.dev_streamusers.yaml"]) await client.apply(R.crd, parse(fs.readFileSync(path.join(REPO, "crds", file), "utf8")));
  await client.apply(R.crd, CERTIFICATE_CRD as unknown as KubeObject);
  for (const name of ["streamclusters.floe.dev", "streamusers.floe.dev", "certificates.cert-manager.io"]) await establish(name);
  await client.apply(R.namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  brokerPort = await freePort();
  certsPort = await freePort();
  ca = makeCa("Floe StreamUser Test CA");
  caPem = fs.readFileSync(ca.caFile, "utf8");
  const offline = await freePort(); // nothing listens here
  operator = new Operator(api.client(), silentLogger(), createRegistry("operator-users", false), {
    leaseNamespace: "default",
    identity: "op-users",
    leaseDurationMs: 3000,
    resyncMs: 5_000,
    kafkaBootstrap: (sc) => ({ host: "127.0.0.1", port: sc.metadata.name === "payments" || sc.metadata.name === "impostor" ? brokerPort : sc.metadata.name === "certs" ? certsPort : offline }),
  });
  operator.start();
}, 3_600_000);

afterAll(async () => {
  await operator?.stop();
  await broker?.stop();
  await certsBroker?.stop();
  client?.close();
  await api?.stop();
  if (ca) fs.rmSync(ca.dir, { recursive: true, force: true });
});

describe("CEL validation of spec.security and StreamUser (real API server)", () => {
  const refusal = async (r: typeof R.streamCluster, obj: KubeObject) => {
    try {
      await client.create(r, obj);
      await client.delete(r, NS, obj.metadata.name);
      return "accepted";
    } catch (err) {
      return (err as Error).message;
    }
  };
  const cluster = (name: string, security: unknown) => {
    const sc = exampleOf("StreamCluster") as KubeObject & { spec: Record<string, unknown> };
    sc.metadata.name = name;
    sc.spec.security = security;
    return sc;
  };
  const user = (name: string, spec: unknown) => ({ apiVersion: "floe.dev/v1alpha1", kind: "StreamUser", metadata: { name, namespace: NS }, spec });

  it("refuses inconsistent security settings with messages that say what to change", async () => {
    expect(await refusal(R.streamCluster, cluster("two-sources", { tls: { issuerRef: { name: "x" }, secretName: "y" } }))).toContain("security.tls needs exactly one certificate source");
    expect(await refusal(R.streamCluster, cluster("no-source", { tls: { clientAuth: "required" } }))).toContain("security.tls needs exactly one certificate source");
    expect(await refusal(R.streamCluster, cluster("plain-in-clear", { sasl: { mechanisms: ["PLAIN"] } }))).toContain("PLAIN sends passwords in the clear");
    expect(await refusal(R.streamCluster, cluster("acl-anonymous", { authorization: { type: "acl" } }))).toContain("security.authorization.type acl needs authenticated clients");
    expect(await refusal(R.streamCluster, cluster("supers-without-acl", { sasl: {}, authorization: { type: "none", superUsers: ["User:a"] } }))).toContain("superUsers only matter with security.authorization.type acl");
    expect(await refusal(R.streamCluster, cluster("bad-principal", { sasl: {}, authorization: { type: "acl", superUsers: ["admin"] } }))).toMatch(/superUsers.*should match/);
    // Consistent ones pass: mTLS as the only authentication, with ACLs.
    expect(await refusal(R.streamCluster, cluster("mtls-only", { tls: { secretName: "mine", clientAuth: "required" }, authorization: { type: "acl" } }))).toBe("accepted");
  });

  it("refuses StreamUser ACLs Kafka would refuse, and moving a user to another cluster", async () => {
    const auth = { type: "scram-sha-512" };
    expect(await refusal(R.streamUser, user("no-name", { cluster: "payments", authentication: auth, authorization: { acls: [{ resource: { type: "topic" }, operations: ["Read"] }] } }))).toContain("resource.name is required for topic");
    expect(await refusal(R.streamUser, user("named-cluster", { cluster: "payments", authentication: auth, authorization: { acls: [{ resource: { type: "cluster", name: "x" }, operations: ["Alter"] }] } }))).toContain("must be left out for the cluster resource");
    expect(await refusal(R.streamUser, user("bad-op", { cluster: "payments", authentication: auth, authorization: { acls: [{ resource: { type: "topic", name: "t" }, operations: ["Fly"] }] } }))).toMatch(/Unsupported value: "Fly"/);
    expect(await refusal(R.streamUser, user("bad-auth", { cluster: "payments", authentication: { type: "kerberos" } }))).toMatch(/Unsupported value: "kerberos"/);
    await client.create(R.streamUser, user("mover", { cluster: "elsewhere", authentication: auth }) as KubeObject);
    await expect(client.mergePatch(R.streamUser, NS, "mover", { spec: { cluster: "payments" } })).rejects.toThrow(/cluster cannot change/);
    await client.delete(R.streamUser, NS, "mover");
  });
});

describe("examples/security.yaml reconciled", () => {
  it("the brokers get exactly the security settings, the certificate and users-file mounts, and a cert-manager Certificate", async () => {
    await client.apply(R.streamCluster, exampleOf("StreamCluster"));
    const cert = await eventually("Certificate payments-tls", () => get(R.certificate, "payments-tls"));
    expect(cert.spec).toEqual({
      secretName: "payments-tls",
      issuerRef: { name: "floe-ca", kind: "Issuer", group: "cert-manager.io" },
      dnsNames: ["payments-bootstrap.streaming.svc", "*.payments-brokers.streaming.svc", "payments-bootstrap.streaming.svc.cluster.local", "*.payments-brokers.streaming.svc.cluster.local"],
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      usages: ["server auth", "digital signature", "key encipherment"],
    });
    expect(cert.metadata.ownerReferences[0]).toMatchObject({ kind: "StreamCluster", name: "payments" });
    const cm = await eventually("ConfigMap payments-config", () => get(R.configMap, "payments-config"));
    const security = Object.fromEntries(Object.entries(cm.data as Record<string, string>).filter(([k]) => /^FLOE_(SECURITY|TLS|SASL|SUPER|AUTHORIZER)/.test(k)));
    expect(security).toEqual({
      FLOE_SECURITY_PROTOCOL: "SASL_SSL",
      FLOE_TLS_CERT_FILE: "/etc/floe/tls/tls.crt",
      FLOE_TLS_KEY_FILE: "/etc/floe/tls/tls.key",
      FLOE_TLS_CLIENT_AUTH: "none",
      FLOE_SASL_ENABLED_MECHANISMS: "SCRAM-SHA-512",
      FLOE_SASL_USERS_FILE: "/etc/floe/sasl/users",
      FLOE_AUTHORIZER: "acl",
      FLOE_SUPER_USERS: "User:platform-admin;User:floe-operator",
    });
    const set = await eventually("StatefulSet payments-us-east-1a", () => get(R.statefulSet, "payments-us-east-1a"));
    const pod = set.spec.template.spec;
    expect(pod.volumes.filter((v: { secret?: unknown }) => v.secret)).toEqual([
      { name: "tls", secret: { secretName: "payments-tls", defaultMode: 0o440 } },
      { name: "sasl-users", secret: { secretName: "payments-operator-credentials", defaultMode: 0o440, items: [{ key: "users", path: "users" }] } },
    ]);
    expect(pod.containers[0].volumeMounts.filter((m: { readOnly?: boolean }) => m.readOnly)).toEqual([
      { name: "tls", mountPath: "/etc/floe/tls", readOnly: true },
      { name: "sasl-users", mountPath: "/etc/floe/sasl", readOnly: true },
    ]);
    const creds = await eventually("Secret payments-operator-credentials", () => get(R.secret, "payments-operator-credentials"));
    expect(secretText(creds, "username")).toBe("floe-operator");
    expect(secretText(creds, "users")).toBe(`floe-operator:${secretText(creds, "password")}\n`);
    expect(secretText(creds, "password")).toMatch(/^[A-Za-z0-9_-]{32}$/);
  }, 60_000);

  it("a broker started with those settings (cert-manager and kubelet played by the test) takes the operator's login", async () => {
    // cert-manager's part: the Secret the Certificate names, with a certificate for the address the test dials.
    // The operator checks the broker's certificate against the bootstrap Service's name, as in a cluster.
    const server = makeCert(ca, "localhost", { sans: "DNS:payments-bootstrap.streaming.svc,DNS:impostor-bootstrap.streaming.svc,DNS:localhost,IP:127.0.0.1" });
    await client.apply(R.secret, { apiVersion: "v1", kind: "Secret", metadata: { name: "payments-tls", namespace: NS }, type: "kubernetes.io/tls", stringData: { "tls.crt": fs.readFileSync(server.certFile, "utf8"), "tls.key": fs.readFileSync(server.keyFile, "utf8"), "ca.crt": caPem } } as unknown as KubeObject);
    // kubelet's part: the Secrets as files, the ConfigMap as environment.
    const cm = await get(R.configMap, "payments-config");
    const creds = await get(R.secret, "payments-operator-credentials");
    const users = path.join(ca.dir, "users");
    fs.writeFileSync(users, secretText(creds, "users"));
    const env: Record<string, string> = Object.fromEntries(Object.entries(cm.data as Record<string, string>).filter(([k]) => /^FLOE_(SECURITY|TLS|SASL|SUPER|AUTHORIZER)/.test(k)));
    Object.assign(env, { FLOE_TLS_CERT_FILE: server.certFile, FLOE_TLS_KEY_FILE: server.keyFile, FLOE_SASL_USERS_FILE: users, FLOE_SCRAM_ITERATIONS: "4096" });
    broker = await startBroker({ port: brokerPort, env });
    await withKafka("floe-operator", secretText(creds, "password"), async (kafka) => {
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: "orders-1" }, { topic: "ledger" }, { topic: "audit" }] });
      await admin.disconnect();
    });
  }, 120_000);

  it("a StreamUser gets a Secret whose password logs in with kafkajs, and exactly its ACLs and quotas", async () => {
    await client.apply(R.streamUser, exampleOf("StreamUser"));
    const ready = await eventually("StreamUser orders-app Ready=True", async () => {
      const u = await get(R.streamUser, "orders-app");
      return u?.status?.conditions?.find((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True") && u;
    }, 60_000, () => broker?.logs() ?? "");
    expect(ready.status).toMatchObject({ observedGeneration: ready.metadata.generation, username: "orders-app", secret: "orders-app" });
    expect(ready.metadata.finalizers).toContain("floe.dev/user-cleanup");
    const secret = await get(R.secret, "orders-app");
    const password = secretText(secret, "password");
    expect(secretText(secret, "sasl.jaas.config")).toBe(`org.apache.kafka.common.security.scram.ScramLoginModule required username="orders-app" password="${password}";`);
    expect(secret.metadata.ownerReferences[0]).toMatchObject({ kind: "StreamUser", name: "orders-app", uid: ready.metadata.uid, controller: true });

    expect(await aclsOf("User:orders-app")).toEqual([
      "ALLOW topic PREFIXED orders- CREATE *", "ALLOW topic PREFIXED orders- DESCRIBE *", "ALLOW topic PREFIXED orders- READ *", "ALLOW topic PREFIXED orders- WRITE *",
      "ALLOW group LITERAL orders-app READ *",
    ].sort());
    expect(await quotasOf("orders-app")).toEqual({ consumer_byte_rate: 20971520, producer_byte_rate: 10485760 });
    await withKafka("orders-app", password, async (kafka) => {
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: "orders-1", messages: [{ value: "paid" }] });
      await expect(producer.send({ topic: "ledger", messages: [{ value: "nope" }] })).rejects.toThrow(/authoriz/i);
      await producer.disconnect();
    });

    // The password survives reconciles: the Secret is never rewritten.
    await client.mergePatch(R.streamUser, NS, "orders-app", { metadata: { annotations: { poke: "1" } } });
    await new Promise((r) => setTimeout(r, 2000));
    expect(secretText(await get(R.secret, "orders-app"), "password")).toBe(password);
  }, 120_000);

  it("changed ACLs and quotas converge: removed rules go, new ones come, one added by hand is taken away, a quota left out is removed", async () => {
    await withKafka("floe-operator", await operatorPassword(), (kafka) => withAdmin(kafka, (admin) =>
      admin.createAcls({ acl: [{ resourceType: 2, resourceName: "ledger", resourcePatternType: 3, principal: "User:orders-app", host: "*", operation: 4, permissionType: 3 }] })));
    await client.mergePatch(R.streamUser, NS, "orders-app", { spec: { authorization: { acls: [{ resource: { type: "topic", name: "audit" }, operations: ["Write"] }, { resource: { type: "topic", name: "orders-1" }, operations: ["Read"], type: "deny" }] }, quotas: { producerByteRate: 1048576, consumerByteRate: null } } });
    await eventually("ACLs of orders-app converged", async () => JSON.stringify(await aclsOf("User:orders-app")) === JSON.stringify(["ALLOW topic LITERAL audit WRITE *", "DENY topic LITERAL orders-1 READ *"]), 30_000);
    // The changed quota is set and the one left out removed.
    await eventually("quotas of orders-app converged", async () => JSON.stringify(await quotasOf("orders-app")) === JSON.stringify({ producer_byte_rate: 1048576 }), 30_000);
    const password = secretText(await get(R.secret, "orders-app"), "password");
    await withKafka("orders-app", password, async (kafka) => {
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: "audit", messages: [{ value: "ok" }] });
      await expect(producer.send({ topic: "orders-1", messages: [{ value: "no longer" }] })).rejects.toThrow(/authoriz/i);
      await producer.disconnect();
    });
  }, 120_000);

  it("deleting the StreamUser removes its credential, ACLs and quotas: the login fails", async () => {
    const password = secretText(await get(R.secret, "orders-app"), "password");
    await client.delete(R.streamUser, NS, "orders-app");
    await eventually("StreamUser orders-app gone (finalizer done)", async () => (await get(R.streamUser, "orders-app")) === null, 30_000);
    expect(await aclsOf("User:orders-app")).toEqual([]);
    expect(await quotasOf("orders-app")).toEqual({});
    await expect(withKafka("orders-app", password, async (kafka) => {
      const producer = kafka.producer();
      await producer.connect();
      await producer.disconnect();
    })).rejects.toThrow(/SASL|authentication/i);
  }, 60_000);

  it("brokers that refuse the operator's login make the user Ready=False OperatorLoginFailed with an Event", async () => {
    // "impostor" is reached at the payments broker, which never heard of impostor's operator password.
    const sc = exampleOf("StreamCluster") as KubeObject & { spec: Record<string, unknown> };
    sc.metadata.name = "impostor";
    (sc.spec.storage as Record<string, unknown>).bucket = "acme-floe-impostor";
    sc.spec.security = { tls: { secretName: "payments-tls" }, sasl: { mechanisms: ["SCRAM-SHA-512"] }, authorization: { type: "acl" } };
    await client.apply(R.streamCluster, sc);
    await client.apply(R.streamUser, { apiVersion: "floe.dev/v1alpha1", kind: "StreamUser", metadata: { name: "mallory", namespace: NS }, spec: { cluster: "impostor", authentication: { type: "scram-sha-512" } } });
    const u = await eventually("StreamUser mallory Ready=False OperatorLoginFailed", async () => {
      const got = await get(R.streamUser, "mallory");
      return got?.status?.conditions?.find((c: { type: string; reason: string }) => c.type === "Ready" && c.reason === "OperatorLoginFailed") && got;
    }, 30_000);
    expect(u.status.conditions[0].message).toMatch(/SASL SCRAM-SHA-512 login as floe-operator: .*Authentication failed/i);
    await eventually("an OperatorLoginFailed Event", async () => (await client.list<KubeObject & { reason: string; involvedObject: { name: string } }>(R.event, NS)).items.some((e) => e.reason === "OperatorLoginFailed" && e.involvedObject.name === "mallory"));
    await client.delete(R.streamCluster, NS, "impostor");
    await client.delete(R.streamUser, NS, "mallory");
    await eventually("StreamUser mallory gone", async () => (await get(R.streamUser, "mallory")) === null, 30_000);
  }, 60_000);

  it("security.tls.generated: the operator makes a CA and a broker certificate for the brokers' names, once", async () => {
    const sc = exampleOf("StreamCluster") as KubeObject & { spec: Record<string, unknown> };
    sc.metadata.name = "selfsigned";
    (sc.spec.storage as Record<string, unknown>).bucket = "acme-floe-selfsigned";
    sc.spec.security = { tls: { generated: true, clientAuth: "requested" } };
    await client.apply(R.streamCluster, sc);
    const tlsSecret = await eventually("Secret selfsigned-tls", () => get(R.secret, "selfsigned-tls"));
    const caSecret = await get(R.secret, "selfsigned-ca");
    expect(tlsSecret.type).toBe("kubernetes.io/tls");
    expect(secretText(tlsSecret, "ca.crt")).toBe(secretText(caSecret, "tls.crt"));
    const caCert = new crypto.X509Certificate(secretText(caSecret, "tls.crt"));
    const cert = new crypto.X509Certificate(secretText(tlsSecret, "tls.crt"));
    expect(caCert.ca).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkHost("selfsigned-us-east-1a-0.selfsigned-brokers.streaming.svc")).toBe("*.selfsigned-brokers.streaming.svc");
    expect(cert.checkHost("selfsigned-bootstrap.streaming.svc.cluster.local")).toBe("selfsigned-bootstrap.streaming.svc.cluster.local");
    expect(cert.checkPrivateKey(crypto.createPrivateKey(secretText(tlsSecret, "tls.key")))).toBe(true);
    const cm = await eventually("ConfigMap selfsigned-config", () => get(R.configMap, "selfsigned-config"));
    expect(cm.data).toMatchObject({ FLOE_SECURITY_PROTOCOL: "SSL", FLOE_TLS_CLIENT_AUTH: "requested", FLOE_TLS_CA_FILE: "/etc/floe/tls/ca.crt", FLOE_AUTHORIZER: "none" });
    expect(cm.data.FLOE_SASL_USERS_FILE).toBeUndefined();
    // Reconciles later never replace either Secret.
    await client.mergePatch(R.streamCluster, NS, "selfsigned", { metadata: { annotations: { poke: "1" } } });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await get(R.secret, "selfsigned-tls")).data).toEqual(tlsSecret.data);
    expect((await get(R.secret, "selfsigned-ca")).data).toEqual(caSecret.data);
    await client.delete(R.streamCluster, NS, "selfsigned");
  }, 60_000);

  it("a cluster the operator cannot reach makes the user Ready=False ClusterUnreachable with an Event, retried", async () => {
    const sc = exampleOf("StreamCluster") as KubeObject & { spec: Record<string, unknown> };
    sc.metadata.name = "offline";
    (sc.spec.storage as Record<string, unknown>).bucket = "acme-floe-offline";
    await client.apply(R.streamCluster, sc);
    await client.apply(R.streamUser, { apiVersion: "floe.dev/v1alpha1", kind: "StreamUser", metadata: { name: "lonely", namespace: NS }, spec: { cluster: "offline", authentication: { type: "scram-sha-512" } } });
    const u = await eventually("StreamUser lonely Ready=False", async () => {
      const got = await get(R.streamUser, "lonely");
      return got?.status?.conditions?.find((c: { type: string; reason: string }) => c.type === "Ready" && c.reason === "ClusterUnreachable") && got;
    }, 30_000);
    expect(u.status.conditions[0]).toMatchObject({ status: "False", observedGeneration: u.metadata.generation });
    expect(u.status.conditions[0].message).toMatch(/offline: connecting to 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    const events = await eventually("a ClusterUnreachable Event", async () => {
      const list = await client.list<KubeObject & { reason: string; involvedObject: { name: string } }>(R.event, NS);
      return list.items.filter((e) => e.reason === "ClusterUnreachable" && e.involvedObject.name === "lonely").length > 0 && list;
    });
    expect(events).toBeTruthy();
    // Deleting a user whose cluster is gone does not hang on the finalizer.
    await client.delete(R.streamCluster, NS, "offline");
    await client.delete(R.streamUser, NS, "lonely");
    await eventually("StreamUser lonely gone", async () => (await get(R.streamUser, "lonely")) === null, 30_000);
  }, 90_000);
});

describe("tls StreamUsers on a cluster with the operator's CA and client certificates as logins", () => {
  const servername = "certs-bootstrap.streaming.svc";
  const withCert = async <T>(pem: { cert: string; key: string }, fn: (kafka: Kafka) => Promise<T>): Promise<T> => {
    const tlsSecret = await get(R.secret, "certs-tls");
    const kafka = new Kafka({ clientId: "streamuser-tls-test", brokers: [`127.0.0.1:${certsPort}`], logLevel: logLevel.NOTHING, retry: { retries: 2 }, ssl: { ca: secretText(tlsSecret, "ca.crt"), servername, ...pem } });
    return fn(kafka);
  };

  it("the operator signs itself a client certificate, is a super user by its subject, and the broker takes it", async () => {
    const sc = exampleOf("StreamCluster") as KubeObject & { spec: Record<string, unknown> };
    sc.metadata.name = "certs";
    (sc.spec.storage as Record<string, unknown>).bucket = "acme-floe-certs";
    sc.spec.security = { tls: { generated: true, clientAuth: "required" }, authorization: { type: "acl" } };
    await client.apply(R.streamCluster, sc);
    const tlsSecret = await eventually("Secret certs-tls", () => get(R.secret, "certs-tls"));
    const mine = await eventually("Secret certs-operator-certificate", () => get(R.secret, "certs-operator-certificate"));
    expect(new crypto.X509Certificate(secretText(mine, "tls.crt")).subject).toBe("CN=floe-operator");
    const cm = await eventually("ConfigMap certs-config", () => get(R.configMap, "certs-config"));
    expect(cm.data).toMatchObject({ FLOE_SECURITY_PROTOCOL: "SSL", FLOE_TLS_CLIENT_AUTH: "required", FLOE_AUTHORIZER: "acl", FLOE_SUPER_USERS: "User:CN=floe-operator" });
    const dir = fs.mkdtempSync(path.join(ca.dir, "certs-"));
    const file = (name: string, key: string) => (fs.writeFileSync(path.join(dir, name), secretText(tlsSecret, key)), path.join(dir, name));
    const env: Record<string, string> = Object.fromEntries(Object.entries(cm.data as Record<string, string>).filter(([k]) => /^FLOE_(SECURITY|TLS|SASL|SUPER|AUTHORIZER)/.test(k)));
    Object.assign(env, { FLOE_TLS_CERT_FILE: file("tls.crt", "tls.crt"), FLOE_TLS_KEY_FILE: file("tls.key", "tls.key"), FLOE_TLS_CA_FILE: file("ca.crt", "ca.crt") });
    certsBroker = await startBroker({ port: certsPort, env });
    await withCert({ cert: secretText(mine, "tls.crt"), key: secretText(mine, "tls.key") }, (kafka) => withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: "invoices" }, { topic: "salaries" }] })));
  }, 120_000);

  it("a tls StreamUser gets a certificate CN=<name> in its Secret and exactly its ACLs; deleting it takes them away", async () => {
    await client.apply(R.streamUser, { apiVersion: "floe.dev/v1alpha1", kind: "StreamUser", metadata: { name: "billing", namespace: NS }, spec: { cluster: "certs", authentication: { type: "tls" }, authorization: { acls: [{ resource: { type: "topic", name: "invoices" }, operations: ["Write"] }] } } });
    const ready = await eventually("StreamUser billing Ready=True", async () => {
      const u = await get(R.streamUser, "billing");
      return u?.status?.conditions?.find((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True") && u;
    }, 60_000, () => certsBroker?.logs() ?? "");
    expect(ready.status).toMatchObject({ username: "CN=billing", secret: "billing" });
    const secret = await get(R.secret, "billing");
    const cert = new crypto.X509Certificate(secretText(secret, "user.crt"));
    expect(cert.subject).toBe("CN=billing");
    expect(cert.verify(new crypto.X509Certificate(secretText(secret, "ca.crt")).publicKey)).toBe(true);
    const pem = { cert: secretText(secret, "user.crt"), key: secretText(secret, "user.key") };
    const produce = (topic: string) => withCert(pem, async (kafka) => {
      const producer = kafka.producer();
      await producer.connect();
      try {
        await producer.send({ topic, messages: [{ value: "x" }] });
      } finally {
        await producer.disconnect();
      }
    });
    await produce("invoices");
    await expect(produce("salaries")).rejects.toThrow(/authoriz/i);
    await client.delete(R.streamUser, NS, "billing");
    await eventually("StreamUser billing gone", async () => (await get(R.streamUser, "billing")) === null, 30_000);
    // The certificate stays valid (no revocation); without its ACLs it may do nothing.
    await expect(produce("invoices")).rejects.toThrow(/authoriz/i);
  }, 120_000);
});

async function operatorPassword(): Promise<string> {
  return secretText(await get(R.secret, "payments-operator-credentials"), "password");
}

async function withKafka<T>(username: string, password: string, fn: (kafka: Kafka) => Promise<T>): Promise<T> {
  const kafka = new Kafka({
    clientId: "streamuser-test",
    brokers: [`127.0.0.1:${brokerPort}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 2 },
    ssl: { ca: caPem },
    sasl: { mechanism: "scram-sha-512", username, password },
  });
  return fn(kafka);
}

async function withAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

const TYPE: Record<number, string> = { 2: "topic", 3: "group", 4: "cluster", 5: "transactionalId" };
const PATTERN: Record<number, string> = { 3: "LITERAL", 4: "PREFIXED" };
const OP: Record<number, string> = { 2: "ALL", 3: "READ", 4: "WRITE", 5: "CREATE", 6: "DELETE", 7: "ALTER", 8: "DESCRIBE", 9: "CLUSTER_ACTION", 10: "DESCRIBE_CONFIGS", 11: "ALTER_CONFIGS", 12: "IDEMPOTENT_WRITE" };

/** The user's own quotas as the cluster lists them (DescribeClientQuotas, strict, by the operator's super user). */
async function quotasOf(user: string): Promise<Record<string, number>> {
  const admin = await KafkaAdminClient.connect({ host: "127.0.0.1", port: brokerPort, tls: { ca: caPem, servername: "payments-bootstrap.streaming.svc" }, sasl: { mechanism: "SCRAM-SHA-512", username: "floe-operator", password: await operatorPassword() } });
  try {
    return Object.fromEntries([...(await admin.quotasOfUser(user))].sort());
  } finally {
    admin.close();
  }
}

/** The principal's ACLs as the cluster lists them (DescribeAcls by the operator's super user), sorted. */
async function aclsOf(principal: string): Promise<string[]> {
  return withKafka("floe-operator", await operatorPassword(), (kafka) => withAdmin(kafka, async (admin) => {
    const res = await admin.describeAcls({ resourceType: 1, resourcePatternType: 1, principal, operation: 1, permissionType: 1 });
    return res.resources.flatMap((r) => r.acls.map((a) => `${a.permissionType === 2 ? "DENY" : "ALLOW"} ${TYPE[r.resourceType]} ${PATTERN[r.resourcePatternType]} ${r.resourceName} ${OP[a.operation]} ${a.host}`)).sort();
  }));
}
