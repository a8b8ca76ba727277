import { GROUP, VERSION } from "./types.js";

/**
 * The StreamUser resource (floe.dev/v1alpha1): a Kafka user of one StreamCluster, with its
 * credential (generated into a Secret) and its ACLs, in the shape Strimzi's KafkaUser users
 * know. Types and the CRD schema are written side by side in this one file; `npm run
 * gen:crds` renders crds/floe.dev_streamusers.yaml from it.
 */
export const STREAM_USER_KIND = "StreamUser";
export const STREAM_USER_PLURAL = "streamusers";

export type AuthenticationType = "scram-sha-512" | "scram-sha-256" | "tls";
export type AclResourceType = "topic" | "group" | "cluster" | "transactionalId";
export type AclOperationName = "All" | "Read" | "Write" | "Create" | "Delete" | "Alter" | "Describe" | "ClusterAction" | "DescribeConfigs" | "AlterConfigs" | "IdempotentWrite";

export interface StreamUserAcl {
  resource: { type: AclResourceType; name?: string; patternType?: "literal" | "prefixed" };
  operations: AclOperationName[];
  host?: string;
  type?: "allow" | "deny";
}

export interface StreamUserSpec {
  /** The StreamCluster (same namespace) this user belongs to. */
  cluster: string;
  authentication: { type: AuthenticationType };
  authorization?: { acls?: StreamUserAcl[] };
  /** Byte rates per broker (Kafka's producer_byte_rate / consumer_byte_rate for this user). */
  quotas?: { producerByteRate?: number; consumerByteRate?: number };
}

export interface StreamUserCondition {
  type: "Ready";
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface StreamUserStatus {
  observedGeneration?: number;
  conditions?: StreamUserCondition[];
  /** The Kafka principal's user name (User:<username>). */
  username?: string;
  /** The Secret holding the password (SCRAM users). */
  secret?: string;
}

export interface StreamUser {
  apiVersion: `${typeof GROUP}/${typeof VERSION}`;
  kind: typeof STREAM_USER_KIND;
  metadata: { name: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string; deletionTimestamp?: string; finalizers?: string[]; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: StreamUserSpec;
  status?: StreamUserStatus;
}

export const ACL_OPERATIONS: readonly AclOperationName[] = ["All", "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "DescribeConfigs", "AlterConfigs", "IdempotentWrite"];

type Schema = Record<string, unknown>;
const str = (description: string, extra: Schema = {}): Schema => ({ type: "string", description, ...extra });

const aclSchema: Schema = {
  type: "object",
  description: "One ACL rule: the operations this user may (allow) or may not (deny) do on matching resources.",
  required: ["resource", "operations"],
  properties: {
    resource: {
      type: "object",
      description: "What the rule is about.",
      required: ["type"],
      properties: {
        type: str("Kafka resource type.", { enum: ["topic", "group", "cluster", "transactionalId"] }),
        name: str("Resource name, or with patternType prefixed its prefix; `*` matches every name. Not set for cluster.", { minLength: 1, maxLength: 249 }),
        patternType: str("literal: the name exactly (or `*`). prefixed: every name starting with it.", { enum: ["literal", "prefixed"], default: "literal" }),
      },
      "x-kubernetes-validations": [
        { rule: "self.type == 'cluster' || has(self.name)", message: "resource.name is required for topic, group and transactionalId resources" },
        { rule: "self.type != 'cluster' || !has(self.name)", message: "resource.name must be left out for the cluster resource (Kafka calls it kafka-cluster)" },
        { rule: "self.type != 'cluster' || self.patternType == 'literal'", message: "the cluster resource takes patternType literal only" },
      ],
    },
    operations: { type: "array", description: "Kafka operations.", items: str("Operation.", { enum: [...ACL_OPERATIONS] }), minItems: 1, maxItems: 11, "x-kubernetes-list-type": "set" },
    host: str("Client host the rule applies to; `*` for any.", { default: "*", minLength: 1 }),
    type: str("allow or deny; a deny beats an allow.", { enum: ["allow", "deny"], default: "allow" }),
  },
};

export const USER_SPEC_SCHEMA: Schema = {
  type: "object",
  description: "A Kafka user of one StreamCluster.",
  required: ["cluster", "authentication"],
  properties: {
    cluster: str("Name of the StreamCluster in this namespace.", { minLength: 1, maxLength: 63 }),
    authentication: {
      type: "object",
      description: "How the user logs in. scram-sha-*: the operator generates a password into the Secret named like this StreamUser. tls: a client certificate whose subject is CN=<name> (the cluster listener's security.tls.clientAuth must accept it); no Secret.",
      required: ["type"],
      properties: { type: str("scram-sha-512, scram-sha-256 or tls.", { enum: ["scram-sha-512", "scram-sha-256", "tls"] }) },
    },
    authorization: {
      type: "object",
      description: "The user's ACLs. The operator makes the cluster's ACLs for this principal exactly these: ACLs added by hand for it are removed.",
      properties: { acls: { type: "array", items: aclSchema, maxItems: 256, description: "ACL rules.", "x-kubernetes-list-type": "atomic" } },
    },
    quotas: {
      type: "object",
      description: "Byte-rate quotas of this user, shared by all its clients and enforced by each broker on its own traffic (Kafka's user quotas). The operator makes the user's quotas exactly these: one left out is removed.",
      properties: {
        producerByteRate: { type: "integer", format: "int64", minimum: 1, description: "Bytes per second this user may produce to each broker (producer_byte_rate)." },
        consumerByteRate: { type: "integer", format: "int64", minimum: 1, description: "Bytes per second this user may fetch from each broker (consumer_byte_rate)." },
      },
    },
  },
  "x-kubernetes-validations": [{ rule: "self.cluster == oldSelf.cluster", message: "cluster cannot change: delete the StreamUser and create it for the other cluster" }],
};

export const USER_STATUS_SCHEMA: Schema = {
  type: "object",
  description: "Observed state, written by the operator.",
  properties: {
    observedGeneration: { type: "integer", format: "int64", description: "The generation last reconciled." },
    conditions: {
      type: "array",
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
      description: "Ready: the credential and ACLs are in place on the cluster.",
      items: {
        type: "object",
        required: ["type", "status", "reason", "message", "lastTransitionTime"],
        properties: {
          type: str("Ready."),
          status: str("True, False or Unknown.", { enum: ["True", "False", "Unknown"] }),
          reason: str("One CamelCase word for machines."),
          message: str("What happened, for people."),
          observedGeneration: { type: "integer", format: "int64", description: "The spec generation this condition describes." },
          lastTransitionTime: str("When status last changed.", { format: "date-time" }),
        },
      },
    },
    username: str("The Kafka user name (principal User:<username>)."),
    secret: str("The Secret with the password and a sasl.jaas.config line (SCRAM users)."),
  },
};

export function streamUserCrd(): Schema {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${STREAM_USER_PLURAL}.${GROUP}`, labels: { "app.kubernetes.io/part-of": "floe" } },
    spec: {
      group: GROUP,
      names: { kind: STREAM_USER_KIND, listKind: `${STREAM_USER_KIND}List`, plural: STREAM_USER_PLURAL, singular: "streamuser", shortNames: ["su"], categories: ["floe"] },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Cluster", type: "string", jsonPath: ".spec.cluster" },
            { name: "Authentication", type: "string", jsonPath: ".spec.authentication.type" },
            { name: "Ready", type: "string", jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
            { name: "Secret", type: "string", jsonPath: ".status.secret", priority: 1 },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: "A Kafka user of a StreamCluster: credential in a Secret, ACLs from the spec.",
              properties: { apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" }, spec: USER_SPEC_SCHEMA, status: USER_STATUS_SCHEMA },
              required: ["spec"],
            },
          },
        },
      ],
    },
  };
}
