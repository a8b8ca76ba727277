import crypto from "node:crypto";
import type { Logger } from "pino";
import type { StreamCluster } from "./api/types.js";
import { API_VERSION } from "./api/types.js";
import { STREAM_USER_KIND, type AclOperationName, type StreamUser, type StreamUserAcl, type StreamUserCondition, type StreamUserStatus } from "./api/streamuser.js";
import type { KubeClient, KubeObject } from "./kube/client.js";
import { R } from "./kube/resources.js";
import type { EventRecorder } from "./events.js";
import { bootstrapAddress, certificatesArePrincipals, KAFKA_PORT, names, namespaceOf, operatorCanLogIn, operatorLogin, resolveSecurity } from "./specs/index.js";
import { ensureOperatorCredentials, ensureSecret, generatedCa, generatePassword, scramJaasConfig } from "./credentials.js";
import { usesTls } from "../../broker/config.js";
import { KafkaAdminClient, KafkaAdminError, type AdminConnection } from "./kafka/admin.js";
import { RequeueWithBackoff } from "./streamcluster.controller.js";
import { AclOperation, CLUSTER_NAME, PatternType, PermissionType, ResourceType, type AclBinding } from "../../broker/security/acl.js";
import type { ScramMechanism } from "../../broker/security/scram.js";

/** Held while the user's credential and ACLs may exist on the cluster. */
export const USER_FINALIZER = "floe.dev/user-cleanup";

/** Where the operator reaches a cluster's brokers; tests point it at a local broker. */
export type BootstrapResolver = (sc: StreamCluster) => { host: string; port: number };

export const inClusterBootstrap: BootstrapResolver = (sc) => {
  const address = bootstrapAddress(sc);
  return { host: address.slice(0, address.lastIndexOf(":")), port: KAFKA_PORT };
};

const OPERATION: Record<AclOperationName, number> = {
  All: AclOperation.ALL, Read: AclOperation.READ, Write: AclOperation.WRITE, Create: AclOperation.CREATE, Delete: AclOperation.DELETE, Alter: AclOperation.ALTER,
  Describe: AclOperation.DESCRIBE, ClusterAction: AclOperation.CLUSTER_ACTION, DescribeConfigs: AclOperation.DESCRIBE_CONFIGS, AlterConfigs: AclOperation.ALTER_CONFIGS, IdempotentWrite: AclOperation.IDEMPOTENT_WRITE,
};
const RESOURCE: Record<StreamUserAcl["resource"]["type"], number> = { topic: ResourceType.TOPIC, group: ResourceType.GROUP, cluster: ResourceType.CLUSTER, transactionalId: ResourceType.TRANSACTIONAL_ID };

/** The Kafka principal of a StreamUser: its name for SCRAM, the certificate subject CN=<name> for TLS. */
export function principalOf(user: StreamUser): string {
  return user.spec.authentication.type === "tls" ? `User:CN=${user.metadata.name}` : `User:${user.metadata.name}`;
}

export function scramMechanismOf(user: StreamUser): ScramMechanism | null {
  const t = user.spec.authentication.type;
  return t === "scram-sha-512" ? "SCRAM-SHA-512" : t === "scram-sha-256" ? "SCRAM-SHA-256" : null;
}

/** spec.authorization.acls as Kafka bindings, one per operation, deduplicated and sorted. */
export function desiredAcls(user: StreamUser): AclBinding[] {
  const principal = principalOf(user);
  const out = new Map<string, AclBinding>();
  for (const acl of user.spec.authorization?.acls ?? []) {
    for (const op of acl.operations) {
      const b: AclBinding = {
        resourceType: RESOURCE[acl.resource.type],
        resourceName: acl.resource.type === "cluster" ? CLUSTER_NAME : acl.resource.name!,
        patternType: acl.resource.patternType === "prefixed" ? PatternType.PREFIXED : PatternType.LITERAL,
        principal,
        host: acl.host ?? "*",
        operation: OPERATION[op],
        permissionType: acl.type === "deny" ? PermissionType.DENY : PermissionType.ALLOW,
      };
      out.set(aclKey(b), b);
    }
  }
  return [...out.values()].sort((a, b) => (aclKey(a) < aclKey(b) ? -1 : 1));
}

/** The user name quotas are set on: the principal without `User:`. */
export function quotaUserOf(user: StreamUser): string {
  return principalOf(user).slice("User:".length);
}

/** spec.quotas as Kafka quota keys. */
export function desiredQuotas(user: StreamUser): Map<string, number> {
  const q = user.spec.quotas ?? {};
  const out = new Map<string, number>();
  if (q.producerByteRate !== undefined) out.set("producer_byte_rate", q.producerByteRate);
  if (q.consumerByteRate !== undefined) out.set("consumer_byte_rate", q.consumerByteRate);
  return out;
}

/** What to set and what to remove so the user's quotas are exactly `desired`. */
export function quotaDiff(desired: ReadonlyMap<string, number>, current: ReadonlyMap<string, number>): { set: Map<string, number>; remove: string[] } {
  return { set: new Map([...desired].filter(([k, v]) => current.get(k) !== v)), remove: [...current.keys()].filter((k) => !desired.has(k)) };
}

export function aclKey(b: AclBinding): string {
  return [b.resourceType, b.patternType, b.resourceName, b.principal, b.host, b.operation, b.permissionType].join("\u0000");
}

/** What to create and delete so that `current` becomes `desired`. */
export function aclDiff(desired: readonly AclBinding[], current: readonly AclBinding[]): { create: AclBinding[]; remove: AclBinding[] } {
  const want = new Set(desired.map(aclKey));
  const have = new Set(current.map(aclKey));
  return { create: desired.filter((b) => !have.has(aclKey(b))), remove: current.filter((b) => !want.has(aclKey(b))) };
}

/**
 * Reconciles one StreamUser: its Secret (SCRAM users: a generated password, made once), its
 * SCRAM credential and its ACLs on the cluster through the Kafka Admin protocol, logged in
 * as the operator's super user. The cluster's ACLs for the user's principal are made equal
 * to the spec's. Deleting the StreamUser removes both (finalizer). Failures on the Kafka side
 * become the Ready condition and an Event, and are retried with backoff.
 */
export class StreamUserReconciler {
  constructor(
    private readonly client: KubeClient,
    private readonly logger: Logger,
    private readonly events: EventRecorder,
    private readonly bootstrap: BootstrapResolver = inClusterBootstrap,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async reconcile(user: StreamUser): Promise<number | null> {
    const ns = user.metadata.namespace ?? "default";
    const log = this.logger.child({ streamuser: `${ns}/${user.metadata.name}` });
    const sc = await this.client.getOrNull<StreamCluster>(R.streamCluster, ns, user.spec.cluster);
    if (user.metadata.deletionTimestamp) return this.finalize(user, sc);
    if (!(user.metadata.finalizers ?? []).includes(USER_FINALIZER)) {
      await this.client.mergePatch(R.streamUser, ns, user.metadata.name, { metadata: { finalizers: [...(user.metadata.finalizers ?? []), USER_FINALIZER], resourceVersion: user.metadata.resourceVersion } });
    }
    if (!sc) return this.notReady(user, "ClusterNotFound", `StreamCluster ${user.spec.cluster} does not exist in ${ns}`, true);
    // Nothing below changes until the cluster's spec does, and that requeues its users.
    if (!operatorCanLogIn(sc)) {
      await this.notReady(user, "ClusterWithoutSasl", `StreamCluster ${sc.metadata.name} has no SASL on its internal listener (security.sasl, unless listeners.internal.sasl is false) nor tls.generated with clientAuth: the operator cannot log in to manage users`, false);
      return null;
    }
    const mechanism = scramMechanismOf(user);
    const security = resolveSecurity(sc);
    if (mechanism && !security.mechanisms.includes(mechanism)) {
      await this.notReady(user, "MechanismNotEnabled", `StreamCluster ${sc.metadata.name} offers ${security.mechanisms.join(", ") || "no SASL"}, not ${mechanism}: add it to security.sasl.mechanisms`, false);
      return null;
    }
    if (!mechanism && !certificatesArePrincipals(sc)) {
      await this.notReady(user, "ClusterWithoutClientCertificates", `StreamCluster ${sc.metadata.name} does not take client certificates as logins: tls users need security.tls.clientAuth requested or required, and no security.sasl (with SASL the login names the principal)`, false);
      return null;
    }
    let password: string | null = null;
    let secret: string | undefined;
    if (mechanism) {
      password = (await this.ensureUserSecret(user)).password;
      secret = user.metadata.name;
    } else if (await this.ensureUserCertificate(user, sc)) {
      secret = user.metadata.name;
    }

    const status: StreamUserStatus = { username: user.spec.authentication.type === "tls" ? `CN=${user.metadata.name}` : user.metadata.name, ...(secret ? { secret } : {}) };
    try {
      const admin = await this.connect(sc);
      try {
        // A credential is only rewritten when its password (or mechanism) changed: each
        // write is a metadata log entry, and resyncs come every few minutes.
        const stamp = mechanism && password ? credentialStamp(sc, mechanism, password) : undefined;
        if (mechanism && password && user.metadata.annotations?.[CREDENTIAL_ANNOTATION] !== stamp) {
          await admin.upsertScram(user.metadata.name, mechanism, password);
          // The other mechanism may hold an old credential from a previous authentication type.
          await admin.deleteScram(user.metadata.name, mechanism === "SCRAM-SHA-512" ? ["SCRAM-SHA-256"] : ["SCRAM-SHA-512"]);
          await this.client.mergePatch(R.streamUser, ns, user.metadata.name, { metadata: { annotations: { [CREDENTIAL_ANNOTATION]: stamp } } });
          await this.events.normal(asInvolved(user), "CredentialSet", `Stored the ${mechanism} credential of ${user.metadata.name} on ${sc.metadata.name}`);
        }
        const desired = desiredAcls(user);
        const { create, remove } = aclDiff(desired, await admin.aclsOf(principalOf(user)));
        await admin.createAcls(create);
        await admin.deleteAcls(remove);
        if (create.length || remove.length) await this.events.normal(asInvolved(user), "AclsChanged", `ACLs of ${principalOf(user)}: ${create.length} added, ${remove.length} removed, ${desired.length} in place`);
        const quotas = quotaDiff(desiredQuotas(user), await admin.quotasOfUser(quotaUserOf(user)));
        await admin.alterUserQuotas(quotaUserOf(user), quotas.set, quotas.remove);
        if (quotas.set.size || quotas.remove.length) await this.events.normal(asInvolved(user), "QuotasChanged", `Quotas of ${principalOf(user)}: ${[...quotas.set].map(([k, v]) => `${k}=${v}`).concat(quotas.remove.map((k) => `${k} removed`)).join(", ")}`);
        await this.patchStatus(user, status, { type: "Ready", status: "True", reason: "Reconciled", message: `${mechanism ? `${mechanism} credential and ` : ""}${desired.length} ACLs in place on ${sc.metadata.name}` });
        log.debug({ acls: desired.length, created: create.length, removed: remove.length }, "user reconciled");
      } finally {
        admin.close();
      }
    } catch (err) {
      if (!(err instanceof KafkaAdminError)) throw err;
      return this.kafkaFailure(user, sc, err, status);
    }
    return null;
  }

  private async ensureUserSecret(user: StreamUser): Promise<{ password: string }> {
    const ns = user.metadata.namespace ?? "default";
    const password = generatePassword();
    const data = await ensureSecret(this.client, { ...this.userSecretShell(user), stringData: { password, "sasl.jaas.config": scramJaasConfig(user.metadata.name, password) } });
    if (!data.password) throw new Error(`Secret ${ns}/${user.metadata.name} has no password key: delete it and the operator makes a new one`);
    return { password: data.password };
  }

  /**
   * tls users of a cluster with the operator's own CA get a client certificate, subject
   * CN=<name>, in their Secret (user.crt, user.key, ca.crt, as Strimzi names them), made
   * once. Other clusters' CAs are not the operator's: the user brings the certificate.
   */
  private async ensureUserCertificate(user: StreamUser, sc: StreamCluster): Promise<boolean> {
    const ca = await generatedCa(this.client, sc);
    if (!ca) return false;
    const existing = await this.client.getOrNull(R.secret, user.metadata.namespace, user.metadata.name);
    if (existing) return true;
    const issued = ca.sign(user.metadata.name, [], 365);
    await ensureSecret(this.client, { ...this.userSecretShell(user), stringData: { "user.crt": issued.certPem, "user.key": issued.keyPem, "ca.crt": ca.certPem } });
    return true;
  }

  private userSecretShell(user: StreamUser): KubeObject {
    return {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: user.metadata.name,
        namespace: user.metadata.namespace ?? "default",
        labels: { "app.kubernetes.io/managed-by": "floe-operator", "app.kubernetes.io/part-of": "floe", "floe.dev/cluster": user.spec.cluster },
        ownerReferences: [{ apiVersion: API_VERSION, kind: STREAM_USER_KIND, name: user.metadata.name, uid: user.metadata.uid ?? "", controller: true, blockOwnerDeletion: true }],
      },
      type: "Opaque",
    };
  }

  private async connect(sc: StreamCluster): Promise<KafkaAdminClient> {
    const security = resolveSecurity(sc);
    const { host, port } = this.bootstrap(sc);
    const opts: AdminConnection = { host, port };
    const secretData = async (name: string) => {
      const s = await this.client.getOrNull<KubeObject & { data?: Record<string, string> }>(R.secret, sc.metadata.namespace, name);
      return (key: string) => (s?.data?.[key] === undefined ? undefined : Buffer.from(s.data[key]!, "base64").toString("utf8"));
    };
    // The bootstrap Service is the internal listener: TLS only if that listener has it.
    if (security.tlsSecret && usesTls(security.protocol)) {
      const tlsData = await secretData(security.tlsSecret);
      // The certificate is for the Service names, whatever address the brokers are reached at.
      opts.tls = { ca: tlsData("ca.crt"), servername: `${names.bootstrap(sc)}.${namespaceOf(sc)}.svc` };
    }
    if (operatorLogin(sc) === "sasl") {
      const { username, password } = await ensureOperatorCredentials(this.client, sc);
      const mechanism = (security.mechanisms.find((m) => m !== "PLAIN") ?? "SCRAM-SHA-512") as ScramMechanism;
      opts.sasl = { mechanism, username, password };
      if (security.clientAuth === "required") throw new KafkaAdminError("Refused", `StreamCluster ${sc.metadata.name} requires client certificates next to SASL (security.tls.clientAuth: required); the operator has no certificate for that listener, so use clientAuth: requested`);
    } else {
      const mine = await secretData(names.operatorCertificate(sc));
      const cert = mine("tls.crt");
      const key = mine("tls.key");
      // Made by the StreamCluster's reconcile; until then, try again later.
      if (!cert || !key) throw new KafkaAdminError("Unreachable", `the operator's client certificate (Secret ${names.operatorCertificate(sc)}) does not exist yet`);
      opts.tls = { ...opts.tls, cert, key };
    }
    return KafkaAdminClient.connect(opts);
  }

  private async finalize(user: StreamUser, sc: StreamCluster | null): Promise<number | null> {
    const ns = user.metadata.namespace ?? "default";
    const finalizers = user.metadata.finalizers ?? [];
    if (!finalizers.includes(USER_FINALIZER)) return null;
    // No cluster (or one the operator cannot log in to): nothing of this user is left to remove.
    if (sc && operatorCanLogIn(sc) && !sc.metadata.deletionTimestamp) {
      try {
        const admin = await this.connect(sc);
        try {
          const mechanism = scramMechanismOf(user);
          if (mechanism) await admin.deleteScram(user.metadata.name, ["SCRAM-SHA-256", "SCRAM-SHA-512"]);
          await admin.deleteAcls(await admin.aclsOf(principalOf(user)));
          await admin.alterUserQuotas(quotaUserOf(user), new Map(), [...(await admin.quotasOfUser(quotaUserOf(user))).keys()]);
        } finally {
          admin.close();
        }
        await this.events.normal(asInvolved(user), "UserRemoved", `Removed the credential, ACLs and quotas of ${principalOf(user)} from ${sc.metadata.name}`);
      } catch (err) {
        if (!(err instanceof KafkaAdminError)) throw err;
        return this.kafkaFailure(user, sc, err, user.status ?? {}, "removing the user");
      }
    }
    await this.client.mergePatch(R.streamUser, ns, user.metadata.name, { metadata: { finalizers: finalizers.filter((f) => f !== USER_FINALIZER), resourceVersion: user.metadata.resourceVersion } });
    return null;
  }

  private async kafkaFailure(user: StreamUser, sc: StreamCluster, err: KafkaAdminError, status: StreamUserStatus, doing = "applying the user"): Promise<never> {
    const reason = err.reason === "Unreachable" ? "ClusterUnreachable" : err.reason === "AuthenticationFailed" ? "OperatorLoginFailed" : "ClusterRefused";
    const message = `${doing} on ${sc.metadata.name}: ${err.message}`;
    await this.events.warn(asInvolved(user), reason, message);
    await this.patchStatus(user, status, { type: "Ready", status: "False", reason, message });
    throw new RequeueWithBackoff(message);
  }

  private async notReady(user: StreamUser, reason: string, message: string, retry: boolean): Promise<null> {
    await this.patchStatus(user, user.status ?? {}, { type: "Ready", status: "False", reason, message });
    if (user.status?.conditions?.find((c) => c.type === "Ready")?.reason !== reason) await this.events.warn(asInvolved(user), reason, message);
    if (retry) throw new RequeueWithBackoff(message);
    return null;
  }

  private async patchStatus(user: StreamUser, status: StreamUserStatus, ready: Omit<StreamUserCondition, "lastTransitionTime" | "observedGeneration">): Promise<void> {
    const generation = user.metadata.generation ?? 0;
    const old = user.status?.conditions?.find((c) => c.type === "Ready");
    const lastTransitionTime = old && old.status === ready.status ? old.lastTransitionTime : this.clock().toISOString().replace(/\.\d{3}Z$/, "Z");
    const next: StreamUserStatus = { ...status, observedGeneration: generation, conditions: [{ ...ready, observedGeneration: generation, lastTransitionTime }] };
    await this.client.mergePatch(R.streamUser, user.metadata.namespace, user.metadata.name, { status: next }, "status");
  }
}

/** Records which password a credential was made from, without revealing it: a keyed hash. */
export const CREDENTIAL_ANNOTATION = "floe.dev/credential";

function credentialStamp(sc: StreamCluster, mechanism: ScramMechanism, password: string): string {
  return crypto.createHmac("sha256", sc.metadata.uid ?? sc.metadata.name).update(`${mechanism}\u0000${password}`).digest("base64url").slice(0, 22);
}

function asInvolved(user: StreamUser): { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; uid?: string } } {
  return { apiVersion: API_VERSION, kind: STREAM_USER_KIND, metadata: user.metadata };
}
