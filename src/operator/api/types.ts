/**
 * The StreamCluster resource (floe.dev/v1alpha1) as TypeScript types. The CRD's OpenAPI
 * schema is built from `schema.ts` next to this file; keep the two in step (a test checks
 * that every example in examples/ validates against the schema and type-checks here).
 */
export const GROUP = "floe.dev";
export const VERSION = "v1alpha1";
export const KIND = "StreamCluster";
export const PLURAL = "streamclusters";
export const API_VERSION = `${GROUP}/${VERSION}`;

export type WalType = "ebs" | "nfs" | "s3";
export type DeletionPolicy = "Retain" | "Delete";

export interface StreamClusterSpec {
  /** Broker count across all zones. Owned by the HPA when autoscaling is enabled (leave it out of applied manifests then). */
  replicas?: number;
  /** Zones the brokers run in, one StatefulSet each; replicas are spread evenly. */
  zones: string[];
  image?: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  wal: {
    type: WalType;
    ebs?: { size?: string; storageClassName?: string; createStorageClass?: boolean; iops?: number; throughputMiBps?: number };
    nfs?: { claimName?: string; storageClassName?: string; size?: string };
    s3?: { flushIntervalMs?: number; flushBytes?: number };
  };
  storage: {
    bucket: string;
    /** Create the bucket (with lifecycle, encryption, public-access block) or adopt an existing one. */
    createBucket?: boolean;
    region?: string;
    /** Any S3-compatible endpoint; empty means AWS. */
    endpoint?: string;
    forcePathStyle?: boolean;
    prefix?: string;
    /** Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, for stores without IRSA. */
    credentialsSecret?: string;
    encryption?: { type: "SSE-S3" | "SSE-KMS"; kmsKeyId?: string };
    lifecycle?: { transitionDays?: number; transitionStorageClass?: string; abortIncompleteUploadDays?: number; deletedObjectsExpireDays?: number };
    /** Skip every cloud API call (bucket and endpoint are managed elsewhere). */
    manageWithAws?: boolean;
  };
  vpcEndpoint?: { enabled: boolean; vpcId?: string; routeTableIds?: string[] };
  autoscaling?: {
    enabled: boolean;
    minReplicas: number;
    maxReplicas: number;
    targetBytesInPerSecondPerBroker?: number;
    targetCPUUtilizationPercentage?: number;
    scaleDownStabilizationSeconds?: number;
  };
  security?: SecuritySpec;
  /** Which of spec.security each Kafka listener uses, and an optional second listener for clients outside the cluster. */
  listeners?: ListenersSpec;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  serviceAccount?: { annotations?: Record<string, string> };
  /** Extra broker settings (FLOE_* variables), see docs/configuration.md. */
  brokerConfig?: Record<string, string>;
  deletionPolicy?: DeletionPolicy;
}

export type SaslMechanismName = "SCRAM-SHA-512" | "SCRAM-SHA-256" | "PLAIN";

export interface SecuritySpec {
  tls?: {
    issuerRef?: { name: string; kind?: "Issuer" | "ClusterIssuer"; group?: string };
    secretName?: string;
    generated?: boolean;
    clientAuth?: "none" | "requested" | "required";
  };
  sasl?: { mechanisms?: SaslMechanismName[] };
  authorization?: { type?: "none" | "acl"; superUsers?: string[] };
}

/** Whether a listener encrypts (with security.tls's certificate) and asks for SASL logins (security.sasl). Unset: as spec.security has them. */
export interface ListenerSecuritySpec {
  tls?: boolean;
  sasl?: boolean;
}

export interface ListenersSpec {
  /** The in-cluster listener on port 9092: the headless and bootstrap Services, and the operator's own connection. */
  internal?: ListenerSecuritySpec;
  /** A second listener, e.g. reached through per-broker load balancers or host ports that you provide. */
  external?: ListenerSecuritySpec & {
    port: number;
    /** Each broker's name for outside clients; `$(POD_NAME)` becomes the pod's name, e.g. `$(POD_NAME).kafka.example.com`. */
    advertisedHost: string;
    /** Port outside clients dial; unset: `port`. */
    advertisedPort?: number;
  };
}

export interface Condition {
  type: "Ready" | "BrokersReady" | "BucketReady" | "EndpointReady" | "Degraded";
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface StreamClusterStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  replicas?: number;
  readyReplicas?: number;
  /** Label selector string for the scale subresource (HPA). */
  selector?: string;
  bootstrap?: string;
  zones?: { zone: string; replicas: number; readyReplicas: number }[];
  brokers?: { pod: string; brokerId: number; zone: string }[];
}

export interface StreamCluster {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string; deletionTimestamp?: string; finalizers?: string[]; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: StreamClusterSpec;
  status?: StreamClusterStatus;
}
