import { API_VERSION, KIND, type StreamCluster, type StreamClusterSpec } from "../api/types.js";

/**
 * Shared pieces of the child-object builders: names, labels, owner references, and the
 * spec with defaults applied (the API server applies the CRD's defaults too; builders must
 * not depend on that, so they are pure functions tested without a cluster).
 */
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: unknown[] }; [k: string]: unknown };

export const KAFKA_PORT = 9092;
export const HTTP_PORT = 9080;
export const DATA_DIR = "/var/lib/floe";
export const NFS_WAL_DIR = "/var/lib/floe-wal";
/** Broker ids are zoneIndex * BROKER_ID_STRIDE + pod ordinal, never the ordinal alone. */
export const BROKER_ID_STRIDE = 1000;

export type ResolvedSpec = StreamClusterSpec & {
  image: string;
  imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  deletionPolicy: "Retain" | "Delete";
};

export function resolveSpec(spec: StreamClusterSpec): ResolvedSpec {
  return {
    ...spec,
    image: spec.image ?? "ghcr.io/floe-dev/floe:0.1.0",
    imagePullPolicy: spec.imagePullPolicy ?? "IfNotPresent",
    deletionPolicy: spec.deletionPolicy ?? "Retain",
  };
}

export function namespaceOf(sc: StreamCluster): string {
  return sc.metadata.namespace ?? "default";
}

export function selectorLabels(sc: StreamCluster): Record<string, string> {
  return { "app.kubernetes.io/name": "floe", "app.kubernetes.io/instance": sc.metadata.name, "app.kubernetes.io/component": "broker" };
}

export function commonLabels(sc: StreamCluster): Record<string, string> {
  return { ...selectorLabels(sc), "app.kubernetes.io/managed-by": "floe-operator", "app.kubernetes.io/part-of": "floe" };
}

export function zoneLabels(sc: StreamCluster, zone: string): Record<string, string> {
  return { ...selectorLabels(sc), "floe.dev/zone": zone };
}

export function ownerReference(sc: StreamCluster): unknown {
  return { apiVersion: API_VERSION, kind: KIND, name: sc.metadata.name, uid: sc.metadata.uid ?? "", controller: true, blockOwnerDeletion: true };
}

export function metadataFor(sc: StreamCluster, name: string, labels: Record<string, string> = commonLabels(sc)): Manifest["metadata"] {
  return { name, namespace: namespaceOf(sc), labels, ownerReferences: [ownerReference(sc)] };
}

export const names = {
  statefulSet: (sc: StreamCluster, zone: string) => `${sc.metadata.name}-${zone}`,
  headless: (sc: StreamCluster) => `${sc.metadata.name}-brokers`,
  bootstrap: (sc: StreamCluster) => `${sc.metadata.name}-bootstrap`,
  config: (sc: StreamCluster) => `${sc.metadata.name}-config`,
  serviceAccount: (sc: StreamCluster) => `${sc.metadata.name}-broker`,
  pdb: (sc: StreamCluster, zone: string) => `${sc.metadata.name}-${zone}`,
  nfsClaim: (sc: StreamCluster) => `${sc.metadata.name}-wal`,
  hpa: (sc: StreamCluster) => sc.metadata.name,
  /** The brokers' certificate: filled by cert-manager or the operator (unless security.tls.secretName names one). */
  tlsSecret: (sc: StreamCluster) => `${sc.metadata.name}-tls`,
  /** The operator-generated CA (security.tls.generated). */
  caSecret: (sc: StreamCluster) => `${sc.metadata.name}-ca`,
  /** The operator's own SCRAM login (a super user) and the brokers' users file holding it. */
  operatorCredentials: (sc: StreamCluster) => `${sc.metadata.name}-operator-credentials`,
  /** The operator's client certificate (CN=floe-operator) from the generated CA, for SSL listeners. */
  operatorCertificate: (sc: StreamCluster) => `${sc.metadata.name}-operator-certificate`,
  /**
   * StorageClass parameters cannot change once created, and the class is shared by every
   * cluster: one class per parameter set, so clusters asking for different IOPS or
   * throughput never fight over one object.
   */
  storageClass: (sc: StreamCluster) => {
    const ebs = sc.spec.wal.ebs;
    return ["floe-gp3", ebs?.iops ? `${ebs.iops}iops` : "", ebs?.throughputMiBps ? `${ebs.throughputMiBps}mibps` : ""].filter(Boolean).join("-");
  },
};

/**
 * The replica count per zone: as even as possible, the first zones taking the remainder,
 * so scaling by one changes one zone by one.
 */
export function spreadReplicas(total: number, zones: readonly string[]): Map<string, number> {
  const base = Math.floor(total / zones.length);
  const extra = total % zones.length;
  return new Map(zones.map((z, i) => [z, base + (i < extra ? 1 : 0)]));
}

export function brokerId(zoneIndex: number, ordinal: number): number {
  return zoneIndex * BROKER_ID_STRIDE + ordinal;
}

/** The label selector string the scale subresource reports (what an HPA uses to find pods). */
export function selectorString(sc: StreamCluster): string {
  return Object.entries(selectorLabels(sc))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

export function bootstrapAddress(sc: StreamCluster): string {
  return `${names.bootstrap(sc)}.${namespaceOf(sc)}.svc:${KAFKA_PORT}`;
}
