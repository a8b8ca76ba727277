import type { StreamCluster } from "../api/types.js";
import { type Manifest, metadataFor, names, namespaceOf } from "./common.js";

/**
 * spec.security turned into what the brokers need: FLOE_* settings (broker/config.ts), the
 * certificate Secret and the operator's users file mounted into each pod, and, with a
 * cert-manager issuer, the Certificate that fills the Secret. Pure, like every builder.
 */
export const TLS_DIR = "/etc/floe/tls";
export const SASL_DIR = "/etc/floe/sasl";
/** Key of the operator credentials Secret that the brokers read as FLOE_SASL_USERS_FILE. */
export const USERS_FILE_KEY = "users";
/** The SCRAM user the operator logs in as to manage StreamUsers: always a super user. */
export const OPERATOR_USER = "floe-operator";

export interface ResolvedSecurity {
  protocol: "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL";
  /** The Secret holding tls.crt / tls.key / ca.crt, or null without TLS. */
  tlsSecret: string | null;
  clientAuth: "none" | "requested" | "required";
  mechanisms: string[];
  authorizer: "none" | "acl";
  superUsers: string[];
}

export function resolveSecurity(sc: StreamCluster): ResolvedSecurity {
  const sec = sc.spec.security ?? {};
  const tls = sec.tls;
  const sasl = sec.sasl !== undefined;
  const tlsSecret = tls ? (tls.secretName ?? names.tlsSecret(sc)) : null;
  const protocol = tls ? (sasl ? "SASL_SSL" : "SSL") : sasl ? "SASL_PLAINTEXT" : "PLAINTEXT";
  const authorizer = sec.authorization?.type ?? "none";
  const superUsers = [...(sec.authorization?.superUsers ?? [])];
  // The operator's own login must never be refused by the ACLs it manages.
  const login = operatorLogin(sc);
  const operatorPrincipal = login === "sasl" ? `User:${OPERATOR_USER}` : login === "certificate" ? `User:CN=${OPERATOR_USER}` : null;
  if (operatorPrincipal && !superUsers.includes(operatorPrincipal)) superUsers.push(operatorPrincipal);
  return {
    protocol,
    tlsSecret,
    clientAuth: tls?.clientAuth ?? "none",
    mechanisms: sasl ? (sec.sasl?.mechanisms ?? ["SCRAM-SHA-512"]) : [],
    authorizer,
    superUsers,
  };
}

/**
 * How the operator logs in to manage StreamUsers: SCRAM when the listener has SASL; else a
 * client certificate from the operator's own CA (tls.generated with client certificates on,
 * where the certificate is the principal); else it cannot.
 */
export function operatorLogin(sc: StreamCluster): "sasl" | "certificate" | null {
  const sec = sc.spec.security;
  if (sec?.sasl) return "sasl";
  if (sec?.tls?.generated && (sec.tls.clientAuth ?? "none") !== "none") return "certificate";
  return null;
}

export function operatorCanLogIn(sc: StreamCluster): boolean {
  return operatorLogin(sc) !== null;
}

/** True when client certificates name the principal: an SSL listener that asks for them. */
export function certificatesArePrincipals(sc: StreamCluster): boolean {
  const sec = sc.spec.security;
  return sec?.tls !== undefined && sec.sasl === undefined && (sec.tls.clientAuth ?? "none") !== "none";
}

/** The FLOE_* settings of spec.security; all of them are owned by the operator. */
export function securitySettings(sc: StreamCluster): Record<string, string> {
  const s = resolveSecurity(sc);
  const out: Record<string, string> = { FLOE_SECURITY_PROTOCOL: s.protocol, FLOE_AUTHORIZER: s.authorizer };
  if (s.tlsSecret) {
    out.FLOE_TLS_CERT_FILE = `${TLS_DIR}/tls.crt`;
    out.FLOE_TLS_KEY_FILE = `${TLS_DIR}/tls.key`;
    out.FLOE_TLS_CLIENT_AUTH = s.clientAuth;
    if (s.clientAuth !== "none") out.FLOE_TLS_CA_FILE = `${TLS_DIR}/ca.crt`;
  }
  if (s.mechanisms.length) {
    out.FLOE_SASL_ENABLED_MECHANISMS = s.mechanisms.join(",");
    out.FLOE_SASL_USERS_FILE = `${SASL_DIR}/${USERS_FILE_KEY}`;
  }
  if (s.superUsers.length) out.FLOE_SUPER_USERS = s.superUsers.join(";");
  return out;
}

/** Volumes and mounts for the broker container: certificate and users file, read-only. */
export function securityVolumes(sc: StreamCluster): { volumes: unknown[]; mounts: unknown[] } {
  const s = resolveSecurity(sc);
  const volumes: unknown[] = [];
  const mounts: unknown[] = [];
  if (s.tlsSecret) {
    volumes.push({ name: "tls", secret: { secretName: s.tlsSecret, defaultMode: 0o440 } });
    mounts.push({ name: "tls", mountPath: TLS_DIR, readOnly: true });
  }
  if (s.mechanisms.length) {
    volumes.push({ name: "sasl-users", secret: { secretName: names.operatorCredentials(sc), defaultMode: 0o440, items: [{ key: USERS_FILE_KEY, path: USERS_FILE_KEY }] } });
    mounts.push({ name: "sasl-users", mountPath: SASL_DIR, readOnly: true });
  }
  return { volumes, mounts };
}

/** The names every broker answers to: the bootstrap Service and each pod under the headless one. */
export function brokerDnsNames(sc: StreamCluster): string[] {
  const ns = namespaceOf(sc);
  const out: string[] = [];
  for (const suffix of [`${ns}.svc`, `${ns}.svc.cluster.local`]) out.push(`${names.bootstrap(sc)}.${suffix}`, `*.${names.headless(sc)}.${suffix}`);
  return out;
}

/** With tls.issuerRef: a cert-manager Certificate that keeps Secret <name>-tls filled and renewed. */
export function certificate(sc: StreamCluster): Manifest | null {
  const ref = sc.spec.security?.tls?.issuerRef;
  if (!ref) return null;
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: metadataFor(sc, names.tlsSecret(sc)),
    spec: {
      secretName: names.tlsSecret(sc),
      issuerRef: { name: ref.name, kind: ref.kind ?? "Issuer", group: ref.group ?? "cert-manager.io" },
      dnsNames: brokerDnsNames(sc),
      // The brokers re-read the files (FLOE_TLS_RELOAD_INTERVAL_MS), so a new key on every renewal costs nothing.
      privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
      usages: ["server auth", "digital signature", "key encipherment"],
    },
  };
}
