import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { StreamCluster } from "../api/types.js";
import { brokerSettings, certificate, desiredChildren, operatorLogin, resolveSecurity, spreadReplicas, type Manifest } from "./index.js";
import { listenersOf, loadBrokerConfig } from "../../../broker/config.js";
import { BROKER_NODE_FLAGS } from "../../../broker/node-flags.js";

const EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../examples");

function example(file: string): StreamCluster {
  const docs = parseAllDocuments(fs.readFileSync(path.join(EXAMPLES, file), "utf8")).map((d) => d.toJS());
  const sc = docs.find((d) => d.kind === "StreamCluster") as StreamCluster;
  return { ...sc, metadata: { ...sc.metadata, uid: "uid-1" } };
}

const byKind = (children: Manifest[], kind: string) => children.filter((c) => c.kind === kind);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const any = (x: unknown) => x as any;

describe("replica spreading", () => {
  it("spreads evenly, the first zones taking the remainder", () => {
    expect([...spreadReplicas(7, ["a", "b", "c"]).values()]).toEqual([3, 2, 2]);
    expect([...spreadReplicas(2, ["a", "b", "c"]).values()]).toEqual([1, 1, 0]);
    expect([...spreadReplicas(0, ["a"]).values()]).toEqual([0]);
  });
});

describe("children of each example", () => {
  it.each(["local.yaml", "aws-ebs.yaml", "nfs-wal.yaml", "s3-wal.yaml", "autoscaling.yaml", "security.yaml", "listeners.yaml"])("%s: one StatefulSet and one PDB per zone, owned by the StreamCluster", (file) => {
    const sc = example(file);
    const children = desiredChildren(sc);
    const sets = byKind(children, "StatefulSet");
    expect(sets.map((s) => s.metadata.name)).toEqual(sc.spec.zones.map((z) => `${sc.metadata.name}-${z}`));
    expect(byKind(children, "PodDisruptionBudget")).toHaveLength(sc.spec.zones.length);
    const total = sets.reduce((n, s) => n + any(s).spec.replicas, 0);
    expect(total).toBe(sc.spec.replicas ?? sc.spec.autoscaling!.minReplicas);
    for (const [i, s] of sets.entries()) {
      const pod = any(s).spec.template.spec;
      expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]).toEqual({ key: "topology.kubernetes.io/zone", operator: "In", values: [sc.spec.zones[i]] });
      const env = Object.fromEntries(pod.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
      expect(env.FLOE_NODE_ID_BASE).toBe(String(i * 1000));
      expect(pod.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
      // The image's entrypoint is node: the broker's V8 flags go before its script.
      expect(pod.containers[0].args).toEqual([...BROKER_NODE_FLAGS, "dist/broker/main.js"]);
      // preStop drains through the broker's own endpoint: the image has no shell for an exec hook.
      expect(pod.containers[0].lifecycle.preStop).toEqual({ httpGet: { path: "/admin/v1/drain", port: "http" } });
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(60);
    }
    for (const c of children.filter((c) => c.kind !== "StorageClass" && !(c.kind === "PersistentVolumeClaim" && sc.spec.deletionPolicy !== "Delete"))) {
      expect(c.metadata.ownerReferences, `${c.kind} ${c.metadata.name}`).toEqual([{ apiVersion: "floe.dev/v1alpha1", kind: "StreamCluster", name: sc.metadata.name, uid: "uid-1", controller: true, blockOwnerDeletion: true }]);
    }
    // Pure: building twice gives the same objects.
    expect(desiredChildren(sc)).toEqual(children);
  });

  it("EBS: a PVC template per broker on the operator's gp3 class", () => {
    const children = desiredChildren(example("aws-ebs.yaml"));
    const sc = byKind(children, "StorageClass")[0]!;
    expect(any(sc)).toMatchObject({ provisioner: "ebs.csi.aws.com", volumeBindingMode: "WaitForFirstConsumer", parameters: { type: "gp3", iops: "6000", throughput: "250" } });
    const tpl = any(byKind(children, "StatefulSet")[0]).spec.volumeClaimTemplates[0];
    expect(tpl.spec).toEqual({ accessModes: ["ReadWriteOnce"], storageClassName: "floe-gp3-6000iops-250mibps", resources: { requests: { storage: "50Gi" } } });
    expect(sc.metadata.name).toBe("floe-gp3-6000iops-250mibps");
  });

  it("EBS: clusters with different gp3 settings get different classes (class parameters are immutable)", () => {
    const plain = byKind(desiredChildren(example("autoscaling.yaml")), "StorageClass")[0]!;
    expect(plain.metadata.name).toBe("floe-gp3");
    expect(any(plain).parameters).toEqual({ type: "gp3", encrypted: "true" });
  });

  it("NFS: one shared RWX claim kept on deletion under Retain, mounted by every broker", () => {
    const children = desiredChildren(example("nfs-wal.yaml"));
    const claim = byKind(children, "PersistentVolumeClaim")[0]!;
    expect(any(claim).spec.accessModes).toEqual(["ReadWriteMany"]);
    expect(claim.metadata.ownerReferences).toEqual([]);
    for (const s of byKind(children, "StatefulSet")) {
      expect(any(s).spec.volumeClaimTemplates).toBeUndefined();
      expect(any(s).spec.template.spec.volumes).toContainEqual({ name: "wal", persistentVolumeClaim: { claimName: "payments-wal" } });
    }
  });

  it("S3 WAL: no volumes beyond scratch space", () => {
    const children = desiredChildren(example("s3-wal.yaml"));
    expect(byKind(children, "PersistentVolumeClaim")).toEqual([]);
    expect(byKind(children, "StorageClass")).toEqual([]);
    expect(brokerSettings(example("s3-wal.yaml"))).toMatchObject({ FLOE_WAL_TYPE: "s3", FLOE_WAL_FLUSH_INTERVAL_MS: "250", FLOE_S3_BUCKET: "acme-floe-events" });
  });

  it("autoscaling: an HPA on the StreamCluster's scale subresource, fast up and slow down", () => {
    const hpa = any(byKind(desiredChildren(example("autoscaling.yaml")), "HorizontalPodAutoscaler")[0]);
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "floe.dev/v1alpha1", kind: "StreamCluster", name: "clicks" });
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 12 });
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(600);
    expect(hpa.spec.behavior.scaleUp.stabilizationWindowSeconds).toBe(0);
    expect(hpa.spec.metrics.map((m: { type: string }) => m.type)).toEqual(["Resource", "Pods"]);
    expect(byKind(desiredChildren(example("s3-wal.yaml")), "HorizontalPodAutoscaler")).toEqual([]);
  });

  it("user broker settings cannot override the storage wiring the operator owns", () => {
    const sc = example("s3-wal.yaml");
    sc.spec.brokerConfig = { FLOE_S3_BUCKET: "elsewhere", FLOE_AUTO_CREATE_TOPICS: "false" };
    expect(brokerSettings(sc)).toMatchObject({ FLOE_S3_BUCKET: "acme-floe-events", FLOE_AUTO_CREATE_TOPICS: "false" });
  });
});

describe("listeners", () => {
  const podEnv = (set: Manifest) => Object.fromEntries(any(set).spec.template.spec.containers[0].env.filter((e: { value?: string }) => e.value !== undefined).map((e: { name: string; value: string }) => [e.name, e.value]));
  /** What the broker in pod `pod` reads: the ConfigMap, then the pod's env with $(POD_NAME) expanded as Kubernetes does. */
  const brokerView = (sc: ReturnType<typeof example>, pod: string) => {
    const env: Record<string, string> = { ...brokerSettings(sc) };
    for (const [k, v] of Object.entries(podEnv(byKind(desiredChildren(sc), "StatefulSet")[0]!))) env[k] = String(v).replaceAll("$(POD_NAME)", pod);
    return listenersOf(loadBrokerConfig({ ...env, FLOE_TLS_CERT_FILE: env.FLOE_TLS_CERT_FILE ?? "", FLOE_POD_INDEX: "0" }));
  };

  it("without spec.listeners: one listener configured as before (FLOE_SECURITY_PROTOCOL, FLOE_ADVERTISED_HOST), so an upgrade rolls nothing", () => {
    const sc = example("security.yaml");
    const settings = brokerSettings(sc);
    expect(settings.FLOE_SECURITY_PROTOCOL).toBe("SASL_SSL");
    expect(settings.FLOE_LISTENERS).toBeUndefined();
    const set = byKind(desiredChildren(sc), "StatefulSet")[0]!;
    expect(podEnv(set).FLOE_ADVERTISED_HOST).toBe("$(POD_NAME).payments-brokers.streaming.svc");
    expect(any(set).spec.template.spec.containers[0].ports.map((p: { name: string }) => p.name)).toEqual(["kafka", "http"]);
    expect(brokerView(sc, "payments-us-east-1a-0")).toEqual([{ name: "SASL_SSL", host: "0.0.0.0", port: 9092, protocol: "SASL_SSL", advertisedHost: "payments-us-east-1a-0.payments-brokers.streaming.svc", advertisedPort: 0 }]);
  });

  it("an internal plaintext listener and an external SASL_SSL one, as the broker reads them in the pod", () => {
    const sc = example("listeners.yaml");
    expect(brokerSettings(sc)).toMatchObject({
      FLOE_LISTENERS: "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094",
      FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL",
      FLOE_INTER_BROKER_LISTENER_NAME: "INTERNAL",
      FLOE_SASL_ENABLED_MECHANISMS: "SCRAM-SHA-512",
      FLOE_TLS_CERT_FILE: "/etc/floe/tls/tls.crt",
    });
    expect(brokerSettings(sc).FLOE_SECURITY_PROTOCOL).toBeUndefined();
    const set = byKind(desiredChildren(sc), "StatefulSet")[0]!;
    expect(podEnv(set).FLOE_ADVERTISED_HOST).toBeUndefined();
    expect(any(set).spec.template.spec.containers[0].ports).toContainEqual({ name: "kafka-external", containerPort: 9094 });
    expect(brokerView(sc, "edge-us-east-1a-0")).toEqual([
      { name: "INTERNAL", host: "0.0.0.0", port: 9092, protocol: "PLAINTEXT", advertisedHost: "edge-us-east-1a-0.edge-brokers.streaming.svc", advertisedPort: 9092 },
      { name: "EXTERNAL", host: "0.0.0.0", port: 9094, protocol: "SASL_SSL", advertisedHost: "edge-us-east-1a-0.kafka.example.com", advertisedPort: 9094 },
    ]);
    // The operator logs in through the internal listener, which has no SASL here.
    expect(operatorLogin(sc)).toBeNull();
    expect(resolveSecurity(sc).protocol).toBe("PLAINTEXT");
  });

  it("the certificate covers the external names; brokerConfig cannot change the listeners", () => {
    const sc = example("listeners.yaml");
    sc.spec.security!.tls = { issuerRef: { name: "floe-ca" } };
    expect(any(certificate(sc)).spec.dnsNames).toContain("*.kafka.example.com");
    sc.spec.brokerConfig = { FLOE_LISTENERS: "X://0.0.0.0:1", FLOE_SECURITY_PROTOCOL: "PLAINTEXT", FLOE_PORT: "1", FLOE_ADVERTISED_LISTENERS: "X://h:1", FLOE_LOG_LEVEL: "debug" };
    const settings = brokerSettings(sc);
    expect(settings).toMatchObject({ FLOE_LISTENERS: "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094", FLOE_LOG_LEVEL: "debug" });
    for (const k of ["FLOE_SECURITY_PROTOCOL", "FLOE_PORT", "FLOE_ADVERTISED_LISTENERS"]) expect(settings[k], k).toBeUndefined();
  });

  it("each listener defaults to spec.security: SASL inside and out, the operator logs in inside, the advertised port may differ", () => {
    const sc = example("listeners.yaml");
    sc.spec.listeners = { external: { port: 9094, advertisedHost: "$(POD_NAME).kafka.example.com", advertisedPort: 443 } };
    expect(resolveSecurity(sc).listeners.map((l) => [l.name, l.protocol, l.advertisedPort])).toEqual([["INTERNAL", "SASL_SSL", 9092], ["EXTERNAL", "SASL_SSL", 443]]);
    expect(operatorLogin(sc)).toBe("sasl");
    expect(brokerView(sc, "edge-us-east-1b-2")[1]).toMatchObject({ advertisedHost: "edge-us-east-1b-2.kafka.example.com", advertisedPort: 443 });
  });
});
