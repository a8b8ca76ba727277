import crypto from "node:crypto";
import type { StreamCluster } from "./api/types.js";
import { KubeError, type KubeClient, type KubeObject } from "./kube/client.js";
import { R } from "./kube/resources.js";
import { brokerDnsNames, commonLabels, metadataFor, names, namespaceOf, OPERATOR_USER, operatorLogin, USERS_FILE_KEY } from "./specs/index.js";
import { createCa, loadCa, type CertificateAuthority } from "./pki.js";

/**
 * Generated passwords live in Secrets the operator creates once and never rewrites: a
 * password must survive operator restarts, and rotating one is deleting its Secret.
 */
export function generatePassword(): string {
  // 24 random bytes: 192 bits, 32 URL-safe characters, nothing a JAAS line must escape.
  return crypto.randomBytes(24).toString("base64url");
}

export function scramJaasConfig(username: string, password: string): string {
  return `org.apache.kafka.common.security.scram.ScramLoginModule required username="${username}" password="${password}";`;
}

const decode = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, "base64").toString("utf8"));

/**
 * Creates `secret` unless a Secret of that name exists; either way returns the Secret's
 * data as text. Create (not apply) so that two reconciles racing can never both write:
 * the loser's 409 reads the winner's password.
 */
export async function ensureSecret(client: KubeClient, secret: KubeObject & { stringData: Record<string, string> }): Promise<Record<string, string>> {
  const ns = secret.metadata.namespace;
  const read = async () => {
    const found = await client.getOrNull<KubeObject & { data?: Record<string, string> }>(R.secret, ns, secret.metadata.name);
    return found ? Object.fromEntries(Object.entries(found.data ?? {}).map(([k, v]) => [k, decode(v)!])) : null;
  };
  const existing = await read();
  if (existing) return existing;
  try {
    await client.create(R.secret, secret);
    return secret.stringData;
  } catch (err) {
    if (err instanceof KubeError && err.isConflict) return (await read()) ?? secret.stringData;
    throw err;
  }
}

/**
 * The operator's own SCRAM login for a cluster with SASL: a super user (resolveSecurity adds
 * it to FLOE_SUPER_USERS) whose password the brokers bootstrap from the `users` key of this
 * Secret (FLOE_SASL_USERS_FILE). Owned by the StreamCluster, so it goes with it.
 */
export async function ensureOperatorCredentials(client: KubeClient, sc: StreamCluster): Promise<{ username: string; password: string }> {
  const password = generatePassword();
  const data = await ensureSecret(client, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { ...metadataFor(sc, names.operatorCredentials(sc)), labels: commonLabels(sc) },
    type: "Opaque",
    stringData: { username: OPERATOR_USER, password, [USERS_FILE_KEY]: `${OPERATOR_USER}:${password}\n` },
  });
  if (!data.password) throw new Error(`Secret ${namespaceOf(sc)}/${names.operatorCredentials(sc)} has no password key: delete it and the operator makes a new one`);
  return { username: data.username ?? OPERATOR_USER, password: data.password };
}

/**
 * security.tls.generated: the operator's CA for the cluster (Secret <name>-ca) and the
 * brokers' certificate signed by it (Secret <name>-tls, with ca.crt for clients and for
 * mutual TLS). Each is made once; an existing Secret is never replaced, so a CA that clients
 * already trust stays the same across operator restarts.
 */
export async function ensureGeneratedTls(client: KubeClient, sc: StreamCluster): Promise<void> {
  const meta = (name: string) => ({ ...metadataFor(sc, name), labels: commonLabels(sc) });
  const caData = await ensureSecret(client, (() => {
    const ca = createCa(`${sc.metadata.name}.${namespaceOf(sc)} Floe CA`);
    return { apiVersion: "v1", kind: "Secret", metadata: meta(names.caSecret(sc)), type: "kubernetes.io/tls", stringData: { "tls.crt": ca.certPem, "tls.key": ca.keyPem } };
  })());
  const ca = loadCa(caData["tls.crt"]!, caData["tls.key"]!);
  if (!(await client.getOrNull(R.secret, namespaceOf(sc), names.tlsSecret(sc)))) {
    const leaf = ca.sign(names.bootstrap(sc), brokerDnsNames(sc));
    await ensureSecret(client, { apiVersion: "v1", kind: "Secret", metadata: meta(names.tlsSecret(sc)), type: "kubernetes.io/tls", stringData: { "tls.crt": leaf.certPem, "tls.key": leaf.keyPem, "ca.crt": caData["tls.crt"]! } });
  }
  if (operatorLogin(sc) === "certificate" && !(await client.getOrNull(R.secret, namespaceOf(sc), names.operatorCertificate(sc)))) {
    const mine = ca.sign(OPERATOR_USER, [], 365);
    await ensureSecret(client, { apiVersion: "v1", kind: "Secret", metadata: meta(names.operatorCertificate(sc)), type: "kubernetes.io/tls", stringData: { "tls.crt": mine.certPem, "tls.key": mine.keyPem, "ca.crt": caData["tls.crt"]! } });
  }
}

/** The generated CA of a cluster, or null when it has none (cert-manager or a user's Secret). */
export async function generatedCa(client: KubeClient, sc: StreamCluster): Promise<CertificateAuthority | null> {
  if (!sc.spec.security?.tls?.generated) return null;
  const found = await client.getOrNull<KubeObject & { data?: Record<string, string> }>(R.secret, namespaceOf(sc), names.caSecret(sc));
  const cert = decode(found?.data?.["tls.crt"]);
  const key = decode(found?.data?.["tls.key"]);
  return cert && key ? loadCa(cert, key) : null;
}
