import type { ListenerSecuritySpec, StreamCluster } from "../api/types.js";
import { usesSasl, usesTls, type SecurityProtocol as Protocol } from "../../../broker/config.js";
import { KAFKA_PORT, type Manifest, metadataFor, names, namespaceOf } from "./common.js";

/**
 * spec.security and spec.listeners turned into what the brokers need: FLOE_* settings (broker/config.ts), the
 * certificate Secret and the operator's users file mounted into each pod, and, with a
 * cert-manager issuer, the Certificate that fills the Secret. Pure, like every builder.
 */
export const TLS_DIR = "/etc/floe/tls";
export const SASL_DIR = "/etc/floe/sasl";
/** Key of the operator credentials Secret that the brokers read as FLOE_SASL_USERS_FILE. */
export const USERS_FILE_KEY = "users";
/** The SCRAM user the operator logs in as to manage StreamUsers: always a super user. */
export const OPERATOR_USER = "floe-operator";

/** A Kafka listener of the brokers, as the operator configures it. */
export interface ResolvedListener {
  name: "INTERNAL" | "EXTERNAL";
  port: number;
  protocol: Protocol;
  /** What clients are told, with `$(POD_NAME)` left for Kubernetes to expand in the pod. */
  advertisedHost: string;
  advertisedPort: number;
}

export interface ResolvedSecurity {
  /** The internal listener's protocol: the Services' and the operator's own connection. */
  protocol: Protocol;
  /** INTERNAL, then EXTERNAL when spec.listeners.external is set. */
  listeners: ResolvedListener[];
  /** The Secret holding tls.crt / tls.key / ca.crt, or null when no listener uses TLS. */
  tlsSecret: string | null;
  clientAuth: "none" | "requested" | "required";
  mechanisms: string[];
  authorizer: "none" | "acl";
  superUsers: string[];
}

export function resolveSecurity(sc: StreamCluster): ResolvedSecurity {
  const sec = sc.spec.security ?? {};
  const tls = sec.tls;
  const listeners = resolveListeners(sc);
  const anyTls = listeners.some((l) => usesTls(l.protocol));
  const anySasl = listeners.some((l) => usesSasl(l.protocol));
  const tlsSecret = tls && anyTls ? (tls.secretName ?? names.tlsSecret(sc)) : null;
  const authorizer = sec.authorization?.type ?? "none";
  const superUsers = [...(sec.authorization?.superUsers ?? [])];
  // The operator's own login must never be refused by the ACLs it manages.
  const login = operatorLogin(sc);
  const operatorPrincipal = login === "sasl" ? `User:${OPERATOR_USER}` : login === "certificate" ? `User:CN=${OPERATOR_USER}` : null;
  if (operatorPrincipal && !superUsers.includes(operatorPrincipal)) superUsers.push(operatorPrincipal);
  return {
    protocol: listeners[0]!.protocol,
    listeners,
    tlsSecret,
    clientAuth: tls?.clientAuth ?? "none",
    mechanisms: anySasl ? (sec.sasl?.mechanisms ?? ["SCRAM-SHA-512"]) : [],
    authorizer,
    superUsers,
  };
}

/**
 * The brokers' listeners: INTERNAL on the Kafka port (headless and bootstrap Services, the
 * operator), and EXTERNAL when spec.listeners.external is set. Each uses spec.security's
 * TLS and SASL unless spec.listeners says otherwise for it.
 */
export function resolveListeners(sc: StreamCluster): ResolvedListener[] {
  const sec = sc.spec.security ?? {};
  const protocolOf = (l: ListenerSecuritySpec | undefined): Protocol => {
    const tls = l?.tls ?? sec.tls !== undefined;
    const sasl = l?.sasl ?? sec.sasl !== undefined;
    return tls ? (sasl ? "SASL_SSL" : "SSL") : sasl ? "SASL_PLAINTEXT" : "PLAINTEXT";
  };
  const { internal, external } = sc.spec.listeners ?? {};
  const out: ResolvedListener[] = [{ name: "INTERNAL", port: KAFKA_PORT, protocol: protocolOf(internal), advertisedHost: `$(POD_NAME).${names.headless(sc)}.${namespaceOf(sc)}.svc`, advertisedPort: KAFKA_PORT }];
  if (external) out.push({ name: "EXTERNAL", port: external.port, protocol: protocolOf(external), advertisedHost: external.advertisedHost, advertisedPort: external.advertisedPort ?? external.port });
  return out;
}

/**
 * How the operator logs in to manage StreamUsers, through the internal listener (the
 * bootstrap Service): SCRAM when that listener has SASL; else a client certificate from the
 * operator's own CA (tls.generated with client certificates on, on an SSL listener where the
 * certificate is the principal); else it cannot.
 */
export function operatorLogin(sc: StreamCluster): "sasl" | "certificate" | null {
  const sec = sc.spec.security;
  const internal = resolveListeners(sc)[0]!.protocol;
  if (usesSasl(internal)) return "sasl";
  if (internal === "SSL" && sec?.tls?.generated && (sec.tls.clientAuth ?? "none") !== "none") return "certificate";
  return null;
}

export function operatorCanLogIn(sc: StreamCluster): boolean {
  return operatorLogin(sc) !== null;
}

/** True when client certificates name the principal: some SSL listener (TLS without SASL) asks for them. */
export function certificatesArePrincipals(sc: StreamCluster): boolean {
  const clientAuth = sc.spec.security?.tls?.clientAuth ?? "none";
  return clientAuth !== "none" && resolveListeners(sc).some((l) => l.protocol === "SSL");
}

/**
 * Broker settings the operator always owns (brokerConfig cannot set them): the listeners
 * follow the Services and the pods' names, and their security follows spec.security.
 */
export const LISTENER_SETTINGS = ["FLOE_PORT", "FLOE_ADVERTISED_HOST", "FLOE_ADVERTISED_PORT", "FLOE_SECURITY_PROTOCOL", "FLOE_LISTENERS", "FLOE_ADVERTISED_LISTENERS", "FLOE_LISTENER_SECURITY_PROTOCOL_MAP", "FLOE_INTER_BROKER_LISTENER_NAME"] as const;

/**
 * The FLOE_* settings of spec.security and spec.listeners (but the per-pod advertised
 * addresses: `advertisedSettings`); all of them are owned by the operator. One listener is
 * configured as before named listeners existed (FLOE_SECURITY_PROTOCOL), so clusters that
 * do not use spec.listeners.external keep their ConfigMap and are not rolled by an upgrade.
 */
export function securitySettings(sc: StreamCluster): Record<string, string> {
  const s = resolveSecurity(sc);
  const out: Record<string, string> = { FLOE_AUTHORIZER: s.authorizer };
  if (s.listeners.length === 1) out.FLOE_SECURITY_PROTOCOL = s.protocol;
  else {
    out.FLOE_LISTENERS = s.listeners.map((l) => `${l.name}://0.0.0.0:${l.port}`).join(",");
    out.FLOE_LISTENER_SECURITY_PROTOCOL_MAP = s.listeners.map((l) => `${l.name}:${l.protocol}`).join(",");
    out.FLOE_INTER_BROKER_LISTENER_NAME = "INTERNAL";
  }
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

/** The per-pod advertised addresses, as StatefulSet env (Kubernetes expands `$(POD_NAME)`). */
export function advertisedSettings(sc: StreamCluster): { name: string; value: string }[] {
  const listeners = resolveListeners(sc);
  if (listeners.length === 1) return [{ name: "FLOE_ADVERTISED_HOST", value: listeners[0]!.advertisedHost }];
  return [{ name: "FLOE_ADVERTISED_LISTENERS", value: listeners.map((l) => `${l.name}://${l.advertisedHost}:${l.advertisedPort}`).join(",") }];
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

/**
 * The names every broker answers to: the bootstrap Service and each pod under the headless
 * one, and with an external listener the wildcard of its advertised host (which starts with
 * `$(POD_NAME).`, a CEL rule).
 */
export function brokerDnsNames(sc: StreamCluster): string[] {
  const ns = namespaceOf(sc);
  const out: string[] = [];
  for (const suffix of [`${ns}.svc`, `${ns}.svc.cluster.local`]) out.push(`${names.bootstrap(sc)}.${suffix}`, `*.${names.headless(sc)}.${suffix}`);
  const external = sc.spec.listeners?.external;
  if (external) out.push(external.advertisedHost.replace(POD_NAME_PREFIX, "*."));
  return out;
}

/** What an external listener's advertised host starts with, so each broker has its own name under one wildcard. */
export const POD_NAME_PREFIX = "$(POD_NAME).";

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
