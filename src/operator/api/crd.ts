import { GROUP, KIND, PLURAL, VERSION } from "./types.js";

/**
 * The StreamCluster CustomResourceDefinition, written once here. `npm run gen:crds` renders
 * crds/floe.dev_streamclusters.yaml from it and a test fails when the committed file drifts.
 * Validation lives in the schema (types, enums, bounds, defaults) and in CEL rules whose
 * messages say what to change.
 */
type Schema = Record<string, unknown>;

const str = (description: string, extra: Schema = {}): Schema => ({ type: "string", description, ...extra });
const int = (description: string, extra: Schema = {}): Schema => ({ type: "integer", description, ...extra });
const bool = (description: string, dflt?: boolean): Schema => ({ type: "boolean", description, ...(dflt === undefined ? {} : { default: dflt }) });
const obj = (description: string, properties: Record<string, Schema>, extra: Schema = {}): Schema => ({ type: "object", description, properties, ...extra });
const stringMap = (description: string): Schema => ({ type: "object", description, additionalProperties: { type: "string" } });
const quantity = (description: string, dflt?: string): Schema => ({ type: "string", description, pattern: "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$", ...(dflt ? { default: dflt } : {}) });

const condition: Schema = obj(
  "A condition in the Kubernetes convention.",
  {
    type: str("Ready, BrokersReady, BucketReady, EndpointReady or Degraded."),
    status: str("True, False or Unknown.", { enum: ["True", "False", "Unknown"] }),
    reason: str("One CamelCase word for machines."),
    message: str("What happened, for people."),
    observedGeneration: int("The spec generation this condition describes.", { format: "int64" }),
    lastTransitionTime: str("When status last changed.", { format: "date-time" }),
  },
  { required: ["type", "status", "reason", "message", "lastTransitionTime"] },
);

// CEL over spec.listeners: whether a listener sets a flag to true or to false, and whether
// it ends up with TLS (its own flag, else whether security.tls is set; security must exist).
const listenerAsks = (l: "internal" | "external", flag: "tls" | "sasl") => `(has(self.listeners.${l}) && has(self.listeners.${l}.${flag}) && self.listeners.${l}.${flag})`;
const listenerDeclines = (l: "internal" | "external", flag: "tls" | "sasl") => `(has(self.listeners.${l}) && has(self.listeners.${l}.${flag}) && !self.listeners.${l}.${flag})`;
const listenerTls = (l: "internal" | "external") => `(has(self.listeners.${l}) && has(self.listeners.${l}.tls) ? self.listeners.${l}.tls : has(self.security.tls))`;

export const SPEC_SCHEMA: Schema = obj(
  "Desired state of a Floe cluster.",
  {
    replicas: int("Broker count across all zones. Leave it out when autoscaling is enabled: the HorizontalPodAutoscaler owns it (apply with --server-side).", { minimum: 0, maximum: 3000, format: "int32" }),
    zones: {
      type: "array",
      description: "Availability zones; one StatefulSet each, pinned with node affinity on topology.kubernetes.io/zone. Replicas are spread evenly.",
      items: { type: "string", minLength: 1, maxLength: 63 },
      minItems: 1,
      maxItems: 16,
      "x-kubernetes-list-type": "atomic",
    },
    image: str("Floe image (broker and operator share one).", { default: "ghcr.io/floe-dev/floe:0.1.0" }),
    imagePullPolicy: str("Image pull policy.", { enum: ["Always", "IfNotPresent", "Never"], default: "IfNotPresent" }),
    wal: obj(
      "Where each broker's write-ahead log lives.",
      {
        type: str("ebs: a block volume per broker (lowest latency). nfs: a directory per broker on a shared RWX volume (fast failover). s3: WAL objects, no volume (cheapest).", { enum: ["ebs", "nfs", "s3"] }),
        ebs: obj("Options for wal.type=ebs.", {
          size: quantity("Volume size per broker.", "20Gi"),
          storageClassName: str("An existing StorageClass. Empty: the operator creates a gp3 class with WaitForFirstConsumer."),
          createStorageClass: bool("Create the gp3 StorageClass when storageClassName is empty.", true),
          iops: int("gp3 IOPS.", { minimum: 3000, maximum: 16000 }),
          throughputMiBps: int("gp3 throughput in MiB/s.", { minimum: 125, maximum: 1000 }),
        }),
        nfs: obj("Options for wal.type=nfs.", {
          claimName: str("An existing ReadWriteMany claim. Empty: the operator creates one."),
          storageClassName: str("StorageClass of the claim the operator creates (EFS, FSx, ...)."),
          size: quantity("Size of the claim the operator creates.", "100Gi"),
        }),
        s3: obj("Options for wal.type=s3.", {
          flushIntervalMs: int("Flush WAL objects at least this often.", { minimum: 10, maximum: 10000, default: 250 }),
          flushBytes: int("Flush a WAL object once this many bytes wait.", { minimum: 65536, maximum: 67108864, default: 4194304 }),
        }),
      },
      {
        required: ["type"],
        "x-kubernetes-validations": [
          { rule: "self.type == oldSelf.type", message: "wal.type cannot change on a running cluster: create a new cluster and move clients to it" },
          { rule: "self.type != 'ebs' || !has(self.nfs)", message: "wal.nfs is set but wal.type is ebs" },
          { rule: "self.type != 'nfs' || !has(self.ebs)", message: "wal.ebs is set but wal.type is nfs" },
        ],
      },
    ),
    storage: obj(
      "The object store holding all data.",
      {
        bucket: str("Bucket name (dedicated to this cluster).", { minLength: 3, maxLength: 63, pattern: "^[a-z0-9][a-z0-9.-]*[a-z0-9]$" }),
        createBucket: bool("Create the bucket if missing; otherwise adopt it and only check it.", true),
        region: str("Bucket region.", { default: "us-east-1" }),
        endpoint: str("S3-compatible endpoint URL. Empty: AWS."),
        forcePathStyle: bool("Path-style addressing (MinIO and most S3-compatible stores).", false),
        prefix: str("Key prefix inside the bucket.", { default: "" }),
        credentialsSecret: str("Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Empty: IRSA or the node's role."),
        manageWithAws: bool("Let the operator call S3 and EC2 APIs for the bucket and VPC endpoint. false: they are managed elsewhere.", true),
        encryption: obj("Default bucket encryption.", {
          type: str("SSE-S3 or SSE-KMS.", { enum: ["SSE-S3", "SSE-KMS"], default: "SSE-S3" }),
          kmsKeyId: str("KMS key for SSE-KMS."),
        }, { "x-kubernetes-validations": [{ rule: "self.type != 'SSE-KMS' || has(self.kmsKeyId)", message: "storage.encryption.kmsKeyId is required for SSE-KMS" }] }),
        lifecycle: obj("Bucket lifecycle rules. Live data is never expired by lifecycle; only the deletion prefix is.", {
          abortIncompleteUploadDays: int("Abort incomplete multipart uploads after this many days.", { minimum: 1, default: 1 }),
          deletedObjectsExpireDays: int("Expire objects under the deletion prefix after this many days.", { minimum: 1, default: 1 }),
          transitionDays: int("Move objects to transitionStorageClass after this many days (optional tiering).", { minimum: 1 }),
          transitionStorageClass: str("Storage class for tiering, e.g. STANDARD_IA.", { enum: ["STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR"] }),
        }, { "x-kubernetes-validations": [{ rule: "has(self.transitionDays) == has(self.transitionStorageClass)", message: "set both storage.lifecycle.transitionDays and transitionStorageClass, or neither" }] }),
      },
      { required: ["bucket"], "x-kubernetes-validations": [{ rule: "self.bucket == oldSelf.bucket", message: "storage.bucket cannot change: the cluster's data lives there" }, { rule: "!has(oldSelf.prefix) || self.prefix == oldSelf.prefix", message: "storage.prefix cannot change: the cluster's data lives there" }] },
    ),
    vpcEndpoint: obj("An S3 gateway VPC endpoint on the VPC's route tables, so broker traffic to S3 avoids NAT.", {
      enabled: bool("Create or adopt the endpoint.", false),
      vpcId: str("VPC of the cluster's nodes."),
      routeTableIds: { type: "array", items: { type: "string" }, description: "Route tables to attach. Empty: all route tables of the VPC." },
    }, { "x-kubernetes-validations": [{ rule: "!self.enabled || has(self.vpcId)", message: "vpcEndpoint.vpcId is required when vpcEndpoint.enabled is true" }] }),
    autoscaling: obj("A HorizontalPodAutoscaler on this resource's scale subresource.", {
      enabled: bool("Create the HorizontalPodAutoscaler.", false),
      minReplicas: int("Fewest brokers.", { minimum: 1, default: 3 }),
      maxReplicas: int("Most brokers.", { minimum: 1, maximum: 3000, default: 12 }),
      targetBytesInPerSecondPerBroker: int("Scale on produced bytes per broker (needs prometheus-adapter).", { minimum: 1 }),
      targetCPUUtilizationPercentage: int("Scale on CPU.", { minimum: 1, maximum: 100, default: 70 }),
      scaleDownStabilizationSeconds: int("Wait this long before scaling in (scale-out is immediate).", { minimum: 0, maximum: 3600, default: 300 }),
    }, { "x-kubernetes-validations": [{ rule: "self.minReplicas <= self.maxReplicas", message: "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }] }),
    security: obj(
      "Listener security: TLS, SASL logins and ACL authorization (docs/operations.md#security). Leave it out for a plaintext listener without authentication.",
      {
        tls: obj(
          "Encrypt the Kafka listener. The certificate comes from exactly one of issuerRef (cert-manager), secretName (yours) or generated (the operator's own CA).",
          {
            issuerRef: obj("A cert-manager Issuer or ClusterIssuer: the operator creates a Certificate for the brokers' names into the Secret <name>-tls.", {
              name: str("Issuer name.", { minLength: 1 }),
              kind: str("Issuer or ClusterIssuer.", { enum: ["Issuer", "ClusterIssuer"], default: "Issuer" }),
              group: str("API group of the issuer.", { default: "cert-manager.io" }),
            }, { required: ["name"] }),
            secretName: str("An existing Secret with tls.crt, tls.key and (for clientAuth) ca.crt, valid for the brokers' names.", { minLength: 1, maxLength: 253 }),
            generated: bool("The operator creates a CA (Secret <name>-ca) and a broker certificate signed by it (Secret <name>-tls)."),
            clientAuth: str("Client certificates (Kafka's ssl.client.auth): none, requested, or required (mutual TLS).", { enum: ["none", "requested", "required"], default: "none" }),
          },
          {
            "x-kubernetes-validations": [
              { rule: "[has(self.issuerRef), has(self.secretName), has(self.generated) && self.generated].filter(x, x).size() == 1", message: "security.tls needs exactly one certificate source: issuerRef, secretName, or generated: true" },
            ],
          },
        ),
        sasl: obj("SASL logins on the listener. The operator adds its own super user (Secret <name>-operator-credentials) to manage StreamUsers.", {
          mechanisms: {
            type: "array",
            description: "Mechanisms offered to clients.",
            items: { type: "string", enum: ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] },
            minItems: 1,
            maxItems: 3,
            default: ["SCRAM-SHA-512"],
            "x-kubernetes-list-type": "set",
          },
        }),
        authorization: obj("Which authenticated principals may do what.", {
          type: str("none: every authenticated client may do everything. acl: Kafka ACLs decide (StreamUser authorization.acls, kafka-acls).", { enum: ["none", "acl"], default: "none" }),
          superUsers: {
            type: "array",
            description: "Principals allowed everything, e.g. User:admin or User:CN=ops,O=acme (Kafka's super.users).",
            items: { type: "string", pattern: "^User:[^;]+$", maxLength: 512 },
            maxItems: 64,
            "x-kubernetes-list-type": "set",
          },
        }),
      },
      {
        "x-kubernetes-validations": [
          { rule: "!has(self.sasl) || !self.sasl.mechanisms.exists(m, m == 'PLAIN') || has(self.tls)", message: "security.sasl.mechanisms PLAIN sends passwords in the clear: enable security.tls too, or use SCRAM only" },
          { rule: "!has(self.authorization) || self.authorization.type != 'acl' || has(self.sasl) || (has(self.tls) && self.tls.clientAuth == 'required')", message: "security.authorization.type acl needs authenticated clients: enable security.sasl or security.tls.clientAuth: required" },
          { rule: "!has(self.authorization) || !has(self.authorization.superUsers) || self.authorization.type == 'acl'", message: "security.authorization.superUsers only matter with security.authorization.type acl" },
        ],
      },
    ),
    listeners: obj(
      "The brokers' Kafka listeners (docs/operations.md#named-listeners). Each uses security.tls and security.sasl unless told otherwise here, so an in-cluster listener and one for outside clients can differ, e.g. plaintext inside and SASL_SSL outside.",
      {
        internal: obj("The in-cluster listener on port 9092: the headless and bootstrap Services, and the operator's own connection (StreamUsers need SASL or client certificates here).", {
          tls: bool("Encrypt with security.tls's certificate. Unset: when security.tls is set."),
          sasl: bool("Ask for SASL logins (security.sasl). Unset: when security.sasl is set."),
        }),
        external: obj(
          "A second listener for clients outside the cluster. The operator opens the port on the pods (named kafka-external) and advertises each broker under its own name; routing those names to the pods (per-broker load balancers, host ports, DNS) is yours. With TLS the certificate must cover the names: issuerRef and generated certificates get the wildcard of advertisedHost.",
          {
            port: int("Container port of the listener.", { minimum: 1024, maximum: 65535 }),
            advertisedHost: str("Each broker's name for outside clients: must start with $(POD_NAME). (the pod's name), e.g. $(POD_NAME).kafka.example.com.", { minLength: 14, maxLength: 253 }),
            advertisedPort: int("Port outside clients dial. Unset: port.", { minimum: 1, maximum: 65535 }),
            tls: bool("Encrypt with security.tls's certificate. Unset: when security.tls is set."),
            sasl: bool("Ask for SASL logins (security.sasl). Unset: when security.sasl is set."),
          },
          {
            required: ["port", "advertisedHost"],
            "x-kubernetes-validations": [
              { rule: "self.advertisedHost.startsWith('$(POD_NAME).')", message: "listeners.external.advertisedHost must start with $(POD_NAME). so every broker has its own name, e.g. $(POD_NAME).kafka.example.com" },
              { rule: "self.port != 9092 && self.port != 9080", message: "listeners.external.port must differ from the internal Kafka port 9092 and the HTTP port 9080" },
            ],
          },
        ),
      },
    ),
    resources: obj("Broker container resources.", { requests: stringMap("Requests."), limits: stringMap("Limits.") }),
    serviceAccount: obj("The brokers' ServiceAccount.", { annotations: stringMap("Annotations, e.g. eks.amazonaws.com/role-arn for IRSA.") }),
    brokerConfig: stringMap("Extra broker settings as FLOE_* environment variables (docs/configuration.md)."),
    deletionPolicy: str("What deleting this resource does to the bucket and its data: Retain (default) keeps them; Delete removes them.", { enum: ["Retain", "Delete"], default: "Retain" }),
  },
  {
    required: ["zones", "wal", "storage"],
    "x-kubernetes-validations": [
      { rule: "self.zones.all(z, self.zones.exists_one(y, y == z))", message: "zones must be unique" },
      { rule: "self.zones == oldSelf.zones", message: "zones cannot change yet: moving brokers between zones is not supported" },
      { rule: "!has(self.autoscaling) || !self.autoscaling.enabled || !has(self.replicas) || (self.replicas >= self.autoscaling.minReplicas && self.replicas <= self.autoscaling.maxReplicas)", message: "replicas must lie within autoscaling.minReplicas..maxReplicas" },
      { rule: "(has(self.autoscaling) && self.autoscaling.enabled) || has(self.replicas)", message: "set replicas, or enable autoscaling" },
      { rule: `!has(self.listeners) || (has(self.security) && has(self.security.tls)) || (!${listenerAsks("internal", "tls")} && !${listenerAsks("external", "tls")})`, message: "a listener with tls: true needs security.tls, the certificate it serves" },
      { rule: `!has(self.listeners) || (has(self.security) && has(self.security.sasl)) || (!${listenerAsks("internal", "sasl")} && !${listenerAsks("external", "sasl")})`, message: "a listener with sasl: true needs security.sasl, the mechanisms it offers" },
      {
        rule: `!has(self.listeners) || !has(self.security) || !has(self.security.sasl) || !self.security.sasl.mechanisms.exists(m, m == 'PLAIN') || ((${listenerDeclines("internal", "sasl")} || ${listenerTls("internal")}) && (!has(self.listeners.external) || ${listenerDeclines("external", "sasl")} || ${listenerTls("external")}))`,
        message: "security.sasl.mechanisms PLAIN sends passwords in the clear: every listener with SASL needs TLS too (listeners.*.tls), or use SCRAM only",
      },
    ],
  },
);

export const STATUS_SCHEMA: Schema = obj("Observed state, written by the operator.", {
  observedGeneration: int("The generation last reconciled.", { format: "int64" }),
  conditions: { type: "array", items: condition, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"], description: "Ready, BrokersReady, BucketReady, EndpointReady, Degraded." },
  replicas: int("Brokers that exist.", { format: "int32" }),
  readyReplicas: int("Brokers that are ready.", { format: "int32" }),
  selector: str("Label selector of the broker pods (scale subresource)."),
  bootstrap: str("Bootstrap address for Kafka clients."),
  zones: { type: "array", description: "Per-zone broker counts.", items: obj("One zone.", { zone: str("Zone."), replicas: int("Brokers."), readyReplicas: int("Ready brokers.") }) },
  brokers: { type: "array", description: "Broker ids by pod (broker id = zone index * 1000 + ordinal).", items: obj("One broker.", { pod: str("Pod name."), brokerId: int("Broker id."), zone: str("Zone.") }) },
});

export function streamClusterCrd(): Schema {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${PLURAL}.${GROUP}`, labels: { "app.kubernetes.io/part-of": "floe" } },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: "streamcluster", shortNames: ["sc", "floe"], categories: ["floe"] },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.replicas", labelSelectorPath: ".status.selector" },
          },
          additionalPrinterColumns: [
            { name: "Ready", type: "string", jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
            { name: "Brokers", type: "integer", jsonPath: ".status.readyReplicas", description: "Ready brokers" },
            { name: "Desired", type: "integer", jsonPath: ".spec.replicas" },
            { name: "Zones", type: "string", jsonPath: ".spec.zones", priority: 1 },
            { name: "WAL", type: "string", jsonPath: ".spec.wal.type" },
            { name: "Bootstrap", type: "string", jsonPath: ".status.bootstrap" },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: "A stateless Kafka-compatible cluster whose data lives in object storage.",
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec: SPEC_SCHEMA,
                status: STATUS_SCHEMA,
              },
              required: ["spec"],
            },
          },
        },
      ],
    },
  };
}
