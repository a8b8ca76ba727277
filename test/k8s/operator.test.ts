import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { eventually, startApiServer, type ApiServer } from "./apiserver.js";
import { KubeError, type KubeClient, type KubeObject } from "../../src/operator/kube/client.js";
import { R } from "../../src/operator/kube/resources.js";
import { Operator } from "../../src/operator/operator.js";
import { createRegistry } from "../../src/common/metrics.js";
import { silentLogger } from "../../src/common/logger.js";
import { freePort } from "../ports.js";
import { startMoto, type MotoServer } from "../moto-server.js";
import { awsClientFactory } from "../../src/operator/aws/clients.js";
import { CreateBucketCommand, GetBucketLifecycleConfigurationCommand, GetBucketTaggingCommand, HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";

/**
 * The operator against a real kube-apiserver and etcd: the CRD's schema and CEL rules,
 * children applied with server-side apply and owned by the StreamCluster, status from the
 * zone StatefulSets, the scale subresource keeping zones balanced, restarts and leader
 * election, and the cloud side (bucket, conditions, finalizer, deletionPolicy) against moto
 * as the AWS endpoint. (No kubelet runs: the test sets StatefulSet status the way the
 * controller manager would.)
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let api: ApiServer;
let client: KubeClient;
let moto: MotoServer;
let s3: S3Client;
const operators: Operator[] = [];

function example(file: string): KubeObject {
  return parseAllDocuments(fs.readFileSync(path.join(REPO, "examples", file), "utf8")).map((d) => d.toJS()).find((d) => d.kind === "StreamCluster");
}


function startOperator(identity: string): Operator {
  const op = new Operator(api.client(), silentLogger(), createRegistry(`operator-${identity}`, false), { leaseNamespace: "default", identity, leaseDurationMs: 3000, resyncMs: 10_000, aws: awsClientFactory({ endpointOverride: moto.endpoint, credentials: moto.credentials }) });
  op.start();
  operators.push(op);
  return op;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const get = (r: typeof R.statefulSet, ns: string, name: string) => client.get<any>(r, ns, name);

beforeAll(async () => {
  moto = await startMoto();
  s3 = new S3Client({ region: moto.region, endpoint: moto.endpoint, forcePathStyle: true, credentials: moto.credentials });
  api = await startApiServer();
  client = api.client("floe-test");
  await client.apply(R.crd, parse(fs.readFileSync(path.join(REPO, "crds/floe.dev_streamclusters.yaml"), "utf8")));
  await eventually("the CRD to be established", async () => {
    const crd = await client.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(R.crd, undefined, "streamclusters.floe.dev");
    return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
  });
  await client.apply(R.namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name: "streaming" } });
}, 3_600_000);

afterAll(async () => {
  for (const op of operators) await op.stop();
  client?.close();
  // moto first: its stop is bounded (SIGKILL after 5 s), the API server's is not.
  s3?.destroy();
  await moto?.stop();
  await api?.stop();
});

describe("StreamCluster CRD validation (real API server)", () => {
  const invalid = async (mutate: (spec: Record<string, unknown>) => void) => {
    const sc = structuredClone(example("s3-wal.yaml")) as KubeObject & { spec: Record<string, unknown> };
    sc.metadata.name = `invalid-${Math.floor(Math.random() * 1e6)}`;
    mutate(sc.spec);
    try {
      await client.create(R.streamCluster, sc);
    } catch (err) {
      return (err as KubeError).message;
    }
    return "accepted";
  };

  it("refuses duplicate zones, min > max, a bad WAL type and a missing replica count with clear messages", async () => {
    expect(await invalid((s) => (s.zones = ["a", "a"]))).toContain("zones must be unique");
    expect(await invalid((s) => (s.autoscaling = { enabled: true, minReplicas: 5, maxReplicas: 2 }))).toContain("autoscaling.minReplicas must not exceed autoscaling.maxReplicas");
    expect(await invalid((s) => ((s.wal as Record<string, unknown>).type = "tape"))).toMatch(/supported values: "ebs", "nfs", "s3"/);
    expect(await invalid((s) => delete s.replicas)).toContain("set replicas, or enable autoscaling");
    expect(await invalid((s) => (s.zones = []))).toMatch(/zones/);
  });

  it("accepts examples/listeners.yaml, and refuses listeners without the security they ask for, PLAIN on a listener without TLS, and an external name that is not per pod", async () => {
    const listeners = structuredClone(example("listeners.yaml")) as KubeObject & { spec: Record<string, unknown> };
    listeners.metadata.name = `listeners-${Math.floor(Math.random() * 1e6)}`;
    await client.create(R.streamCluster, listeners);
    await client.delete(R.streamCluster, "streaming", listeners.metadata.name);
    const external = { port: 9094, advertisedHost: "$(POD_NAME).kafka.example.com" };
    expect(await invalid((s) => (s.listeners = { external: { ...external, tls: true } }))).toContain("a listener with tls: true needs security.tls");
    expect(await invalid((s) => (s.listeners = { internal: { sasl: true } }))).toContain("a listener with sasl: true needs security.sasl");
    expect(await invalid((s) => ((s.security = { tls: { generated: true }, sasl: { mechanisms: ["PLAIN"] } }), (s.listeners = { external: { ...external, tls: false } })))).toContain("every listener with SASL needs TLS too");
    expect(await invalid((s) => (s.listeners = { external: { ...external, advertisedHost: "kafka.example.com" } }))).toContain("must start with $(POD_NAME).");
    expect(await invalid((s) => (s.listeners = { external: { ...external, port: 9080 } }))).toContain("must differ from the internal Kafka port 9092 and the HTTP port 9080");
  });

  it("refuses changing the WAL type or the bucket of an existing cluster", async () => {
    const sc = structuredClone(example("s3-wal.yaml"));
    sc.metadata.name = "immutable";
    await client.create(R.streamCluster, sc);
    const changed = structuredClone(sc) as KubeObject & { spec: { wal: { type: string }; storage: { bucket: string } } };
    changed.spec.wal.type = "ebs";
    await expect(client.apply(R.streamCluster, changed)).rejects.toThrow(/wal.type cannot change/);
    const moved = structuredClone(sc) as typeof changed;
    moved.spec.storage.bucket = "somewhere-else";
    await expect(client.apply(R.streamCluster, moved)).rejects.toThrow(/storage.bucket cannot change/);
    await client.delete(R.streamCluster, "streaming", "immutable");
  });
});

describe("operator", () => {
  it("reconciles an example into zone StatefulSets, services, PDBs and a ConfigMap, all owned by the StreamCluster", async () => {
    startOperator("op-a");
    const sc = await client.apply<KubeObject>(R.streamCluster, example("s3-wal.yaml"));
    const zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    for (const zone of zones) {
      const set = await eventually(`StatefulSet events-${zone}`, () => client.getOrNull<any>(R.statefulSet, "streaming", `events-${zone}`)); // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(set.spec.replicas).toBe(2);
      expect(set.metadata.ownerReferences[0]).toMatchObject({ kind: "StreamCluster", name: "events", uid: sc.metadata.uid, controller: true });
      expect(set.metadata.managedFields.some((f: { manager: string; operation: string }) => f.manager === "floe-operator" && f.operation === "Apply")).toBe(true);
    }
    // Children are applied one after another: wait for the last ones rather than race them.
    for (const zone of zones) await eventually(`PodDisruptionBudget events-${zone}`, () => client.getOrNull(R.podDisruptionBudget, "streaming", `events-${zone}`));
    await eventually("Service events-brokers", () => client.getOrNull(R.service, "streaming", "events-brokers"));
    await eventually("Service events-bootstrap", () => client.getOrNull(R.service, "streaming", "events-bootstrap"));
    const cm = await eventually("ConfigMap events-config", () => client.getOrNull<any>(R.configMap, "streaming", "events-config")); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(cm.data.FLOE_WAL_TYPE).toBe("s3");
    const sa = await get(R.serviceAccount, "streaming", "events-broker");
    expect(sa.metadata.annotations["eks.amazonaws.com/role-arn"]).toContain("floe-broker");
  }, 120_000);

  it("reports brokers as they become ready, with conditions and observedGeneration", async () => {
    const starting = await eventually("status with BrokersReady=False", async () => {
      const sc = await get(R.streamCluster, "streaming", "events");
      return sc.status?.conditions?.find((c: { type: string }) => c.type === "BrokersReady")?.status === "False" && sc;
    });
    expect(starting.status).toMatchObject({ replicas: 6, readyReplicas: 0, bootstrap: "events-bootstrap.streaming.svc:9092", observedGeneration: starting.metadata.generation });
    expect(starting.status.selector).toContain("app.kubernetes.io/instance=events");
    expect(starting.status.brokers.map((b: { brokerId: number }) => b.brokerId)).toEqual([0, 1, 1000, 1001, 2000, 2001]);
    // Play the StatefulSet controller: every pod is ready.
    for (const zone of ["us-east-1a", "us-east-1b", "us-east-1c"]) {
      await client.mergePatch(R.statefulSet, "streaming", `events-${zone}`, { status: { replicas: 2, readyReplicas: 2, availableReplicas: 2 } }, "status");
    }
    const ready = await eventually("Ready=True", async () => {
      const sc = await get(R.streamCluster, "streaming", "events");
      return sc.status?.conditions?.find((c: { type: string }) => c.type === "Ready")?.status === "True" && sc;
    });
    expect(ready.status.readyReplicas).toBe(6);
    expect(ready.status.conditions.map((c: { type: string }) => c.type)).toEqual(["BrokersReady", "BucketReady", "Degraded", "EndpointReady", "Ready"]);
    const cond = (type: string) => ready.status.conditions.find((c: { type: string }) => c.type === type);
    expect(cond("BucketReady")).toMatchObject({ status: "True", observedGeneration: ready.metadata.generation });
    expect(cond("EndpointReady")).toMatchObject({ status: "True", reason: "NotRequested" });
    // The bucket is real (in moto), with Floe's rules and the cluster's identity.
    await s3.send(new HeadBucketCommand({ Bucket: "acme-floe-events" }));
    const rules = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: "acme-floe-events" }))).Rules!.map((r) => r.ID).sort();
    expect(rules).toEqual(["floe-abort-incomplete-uploads", "floe-expire-deleted"]);
    const tags = (await s3.send(new GetBucketTaggingCommand({ Bucket: "acme-floe-events" }))).TagSet!;
    expect(tags).toContainEqual({ Key: "floe.dev/cluster", Value: "streaming/events" });
    expect(ready.metadata.finalizers).toEqual(["floe.dev/cloud-resources"]);
  }, 60_000);

  it("keeps zones balanced when the scale subresource changes replicas, as an HPA does", async () => {
    await client.mergePatch(R.streamCluster, "streaming", "events", { spec: { replicas: 7 } }, "scale");
    await eventually("zones 3/2/2", async () => {
      const counts = await Promise.all(["us-east-1a", "us-east-1b", "us-east-1c"].map(async (z) => (await get(R.statefulSet, "streaming", `events-${z}`)).spec.replicas));
      return JSON.stringify(counts) === "[3,2,2]";
    });
    const scale = await client.request<{ spec: { replicas: number }; status: { replicas: number; selector: string } }>("GET", "/apis/floe.dev/v1alpha1/namespaces/streaming/streamclusters/events/scale");
    expect(scale.spec.replicas).toBe(7);
    await eventually("scale status", async () => (await client.request<{ status: { replicas: number } }>("GET", "/apis/floe.dev/v1alpha1/namespaces/streaming/streamclusters/events/scale")).status.replicas === 7);
  }, 60_000);

  it("puts back a child someone deleted at once, without waiting for the periodic resync", async () => {
    await client.delete(R.service, "streaming", "events-bootstrap");
    await client.delete(R.podDisruptionBudget, "streaming", "events-us-east-1b");
    // The test operators resync every 10 s: a watch on the children must be quicker.
    await eventually("the bootstrap Service back", () => client.getOrNull(R.service, "streaming", "events-bootstrap"), 8_000);
    await eventually("the PDB back", () => client.getOrNull(R.podDisruptionBudget, "streaming", "events-us-east-1b"), 8_000);
  }, 30_000);

  it("converges after an operator restart, and only one of two replicas leads", async () => {
    for (const op of operators.splice(0)) await op.stop();
    // A change made while no operator runs.
    await client.mergePatch(R.streamCluster, "streaming", "events", { spec: { replicas: 4 } }, "scale");
    const a = startOperator("op-b");
    const b = startOperator("op-c");
    await eventually("one leader", async () => a.isLeader !== b.isLeader);
    await new Promise((r) => setTimeout(r, 1500));
    expect([a.isLeader, b.isLeader].filter(Boolean)).toHaveLength(1);
    await eventually("zones 2/1/1", async () => {
      const counts = await Promise.all(["us-east-1a", "us-east-1b", "us-east-1c"].map(async (z) => (await get(R.statefulSet, "streaming", `events-${z}`)).spec.replicas));
      return JSON.stringify(counts) === "[2,1,1]";
    });
    // The leader steps down: the standby takes over.
    const leader = a.isLeader ? a : b;
    const standby = a.isLeader ? b : a;
    await leader.stop();
    await eventually("the standby to lead", async () => standby.isLeader, 20_000);
  }, 90_000);
});

describe("operator and AWS (moto)", () => {
  const events = async (ns: string, name: string) =>
    (await client.request<{ items: { reason: string; type: string; involvedObject: { name: string }; message: string }[] }>("GET", `/api/v1/namespaces/${ns}/events`)).items.filter((e) => e.involvedObject.name === name);
  const condition = async (name: string, type: string) => (await get(R.streamCluster, "streaming", name)).status?.conditions?.find((c: { type: string }) => c.type === type);

  it("a missing bucket it may not create is BucketReady=False BucketNotFound, retried with backoff until the bucket appears", async () => {
    if (!operators.some((o) => o.isLeader)) startOperator("op-d");
    const sc = structuredClone(example("s3-wal.yaml")) as KubeObject & { spec: { storage: Record<string, unknown> } };
    sc.metadata.name = "adopts";
    sc.spec.storage.bucket = "acme-floe-adopts";
    sc.spec.storage.createBucket = false;
    await client.apply(R.streamCluster, sc);
    const missing = await eventually("BucketReady=False", async () => {
      const c = await condition("adopts", "BucketReady");
      return c?.status === "False" && c;
    });
    expect(missing).toMatchObject({ reason: "BucketNotFound" });
    expect(missing.message).toContain("acme-floe-adopts does not exist and storage.createBucket is false");
    expect(await condition("adopts", "Ready")).toMatchObject({ status: "False", reason: "BucketNotReady" });
    // Retried through the work queue's backoff, counted as requeues, not errors.
    const leader = operators.find((o) => o.isLeader)!;
    const requeues = async () => (await leader.metrics.reconciles.get()).values.find((v) => v.labels.result === "requeue")?.value ?? 0;
    await eventually("two requeues", async () => (await requeues()) >= 2);
    // The zone StatefulSets are applied all the same: a cloud problem never blocks or crashes the rest.
    await eventually("StatefulSet adopts-us-east-1a", () => client.getOrNull(R.statefulSet, "streaming", "adopts-us-east-1a"));
    expect((await events("streaming", "adopts")).some((e) => e.type === "Warning" && e.reason === "BucketNotFound")).toBe(true);
    await s3.send(new CreateBucketCommand({ Bucket: "acme-floe-adopts" }));
    const adopted = await eventually("BucketReady=True after the retry", async () => {
      const c = await condition("adopts", "BucketReady");
      return c?.status === "True" && c;
    });
    expect(adopted.reason).toBe("BucketConfigured");
    expect((await events("streaming", "adopts")).map((e) => e.reason)).toEqual(expect.arrayContaining(["BucketAdopted", "LifecycleSet"]));
    // Retain (the default): deleting the StreamCluster removes the finalizer and keeps the bucket.
    await client.delete(R.streamCluster, "streaming", "adopts");
    await eventually("adopts to be gone", async () => (await client.getOrNull(R.streamCluster, "streaming", "adopts")) === null);
    await s3.send(new HeadBucketCommand({ Bucket: "acme-floe-adopts" }));
  }, 90_000);

  it("storage.credentialsSecret: a missing Secret is BucketReady=False CredentialsSecretMissing until it exists", async () => {
    if (!operators.some((o) => o.isLeader)) startOperator("op-f");
    const sc = structuredClone(example("s3-wal.yaml")) as KubeObject & { spec: { storage: Record<string, unknown> } };
    sc.metadata.name = "keyed";
    sc.spec.storage.bucket = "acme-floe-keyed";
    sc.spec.storage.credentialsSecret = "keyed-s3";
    await client.apply(R.streamCluster, sc);
    const missing = await eventually("BucketReady=False", async () => {
      const c = await condition("keyed", "BucketReady");
      return c?.status === "False" && c;
    });
    expect(missing).toMatchObject({ reason: "CredentialsSecretMissing", message: "Secret streaming/keyed-s3 named by storage.credentialsSecret does not exist" });
    await client.create(R.secret, { apiVersion: "v1", kind: "Secret", metadata: { name: "keyed-s3", namespace: "streaming" }, stringData: { AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey } });
    await eventually("BucketReady=True with the Secret's keys", async () => (await condition("keyed", "BucketReady"))?.status === "True");
    await s3.send(new HeadBucketCommand({ Bucket: "acme-floe-keyed" }));
    await client.delete(R.streamCluster, "streaming", "keyed");
  }, 90_000);

  it("deletionPolicy Delete empties and deletes the bucket it created before the StreamCluster goes, and says so in an Event", async () => {
    if (!operators.some((o) => o.isLeader)) startOperator("op-e");
    const sc = structuredClone(example("s3-wal.yaml")) as KubeObject & { spec: { storage: Record<string, unknown>; deletionPolicy?: string } };
    sc.metadata.name = "scratch";
    sc.spec.storage.bucket = "acme-floe-scratch";
    sc.spec.deletionPolicy = "Delete";
    await client.apply(R.streamCluster, sc);
    await eventually("BucketReady=True", async () => (await condition("scratch", "BucketReady"))?.status === "True");
    const obj = await get(R.streamCluster, "streaming", "scratch");
    expect(obj.metadata.finalizers).toEqual(["floe.dev/cloud-resources"]);
    expect((await events("streaming", "scratch")).map((e) => e.reason)).toEqual(expect.arrayContaining(["BucketCreated", "LifecycleSet", "EncryptionSet", "PublicAccessBlocked"]));
    await client.delete(R.streamCluster, "streaming", "scratch");
    await eventually("scratch to be gone", async () => (await client.getOrNull(R.streamCluster, "streaming", "scratch")) === null);
    await expect(s3.send(new HeadBucketCommand({ Bucket: "acme-floe-scratch" }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    const deleted = (await events("streaming", "scratch")).find((e) => e.reason === "BucketDeleted");
    expect(deleted?.message).toMatch(/Emptied \(0 objects\) and deleted bucket acme-floe-scratch/);
  }, 90_000);
});

describe("every example", () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const applyExample = async (file: string): Promise<any> => {
    if (!operators.some((o) => o.isLeader)) startOperator("op-examples");
    const docs = parseAllDocuments(fs.readFileSync(path.join(REPO, "examples", file), "utf8")).map((d) => d.toJS() as KubeObject);
    for (const doc of docs) {
      const ns = doc.metadata.namespace ?? "default";
      if (doc.kind === "StreamCluster") continue;
      await client.apply(resourceFor(doc.kind), { ...doc, metadata: { ...doc.metadata, namespace: ns } });
    }
    return client.apply(R.streamCluster, docs.find((d) => d.kind === "StreamCluster")!);
  };
  // Kinds an example carries besides the StreamCluster (the operator itself never writes these).
  const resourceFor = (kind: string) => ({ Secret: { apiVersion: "v1", plural: "secrets", namespaced: true }, Deployment: { apiVersion: "apps/v1", plural: "deployments", namespaced: true }, Service: R.service } as Record<string, typeof R.service>)[kind] ?? (() => {
    throw new Error(`example carries a ${kind}; teach the test where it goes`);
  })();

  it("aws-ebs: a gp3 StorageClass (WaitForFirstConsumer) and a WAL volume per broker", async () => {
    await applyExample("aws-ebs.yaml");
    const cls = await eventually("StorageClass floe-gp3-6000iops-250mibps", () => client.getOrNull<any>(R.storageClass, undefined, "floe-gp3-6000iops-250mibps")); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(cls).toMatchObject({ provisioner: "ebs.csi.aws.com", volumeBindingMode: "WaitForFirstConsumer", parameters: { type: "gp3", iops: "6000", throughput: "250", encrypted: "true" } });
    for (const zone of ["eu-west-1a", "eu-west-1b", "eu-west-1c"]) {
      const set = await eventually(`StatefulSet orders-${zone}`, () => client.getOrNull<any>(R.statefulSet, "streaming", `orders-${zone}`)); // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(set.spec.replicas).toBe(1);
      expect(set.spec.volumeClaimTemplates[0].spec).toMatchObject({ storageClassName: "floe-gp3-6000iops-250mibps", accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "50Gi" } } });
      expect(JSON.stringify(set.spec.template.spec.affinity)).toContain(zone);
    }
  }, 60_000);

  it("nfs-wal: one shared ReadWriteMany claim that outlives the cluster (deletionPolicy Retain), mounted by every broker", async () => {
    await applyExample("nfs-wal.yaml");
    const claim = await eventually("claim payments-wal", () => client.getOrNull<any>(R.persistentVolumeClaim, "streaming", "payments-wal")); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(claim.spec).toMatchObject({ accessModes: ["ReadWriteMany"], storageClassName: "efs-sc", resources: { requests: { storage: "200Gi" } } });
    expect(claim.metadata.ownerReferences ?? []).toEqual([]);
    for (const zone of ["us-west-2a", "us-west-2b"]) {
      const set = await eventually(`StatefulSet payments-${zone}`, () => client.getOrNull<any>(R.statefulSet, "streaming", `payments-${zone}`)); // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(set.spec.replicas).toBe(2);
      expect(set.spec.template.spec.volumes).toContainEqual({ name: "wal", persistentVolumeClaim: { claimName: "payments-wal" } });
      expect(set.spec.volumeClaimTemplates).toBeUndefined();
    }
  }, 60_000);

  it("autoscaling: an HPA on the StreamCluster's scale subresource; zones start at minReplicas", async () => {
    await applyExample("autoscaling.yaml");
    // Default gp3 settings: its own class, beside the one with custom IOPS above.
    expect((await eventually("StorageClass floe-gp3", () => client.getOrNull<any>(R.storageClass, undefined, "floe-gp3"))).parameters).toEqual({ type: "gp3", encrypted: "true" }); // eslint-disable-line @typescript-eslint/no-explicit-any
    const hpa = await eventually("HPA clicks", () => client.getOrNull<any>(R.horizontalPodAutoscaler, "streaming", "clicks")); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(hpa.spec).toMatchObject({ scaleTargetRef: { apiVersion: "floe.dev/v1alpha1", kind: "StreamCluster", name: "clicks" }, minReplicas: 3, maxReplicas: 12 });
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(600);
    expect(hpa.spec.metrics.map((m: { type: string }) => m.type).sort()).toEqual(["Pods", "Resource"]);
    await eventually("zones 1/1/1", async () => {
      const counts = await Promise.all(["us-east-1a", "us-east-1b", "us-east-1c"].map(async (z) => (await client.getOrNull<any>(R.statefulSet, "streaming", `clicks-${z}`))?.spec.replicas)); // eslint-disable-line @typescript-eslint/no-explicit-any
      return JSON.stringify(counts) === "[1,1,1]";
    });
    // The HPA writes the scale subresource; the operator spreads what it chose.
    await client.mergePatch(R.streamCluster, "streaming", "clicks", { spec: { replicas: 5 } }, "scale");
    await eventually("zones 2/2/1", async () => {
      const counts = await Promise.all(["us-east-1a", "us-east-1b", "us-east-1c"].map(async (z) => (await get(R.statefulSet, "streaming", `clicks-${z}`)).spec.replicas));
      return JSON.stringify(counts) === "[2,2,1]";
    });
  }, 60_000);

  it("local: brokers get the in-cluster store's endpoint and credentials from the Secret", async () => {
    await applyExample("local.yaml");
    const cm = await eventually("ConfigMap local-config", () => client.getOrNull<any>(R.configMap, "default", "local-config")); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(cm.data).toMatchObject({ FLOE_OBJECT_STORE: "s3", FLOE_S3_ENDPOINT: "http://minio.default.svc:9000", FLOE_S3_FORCE_PATH_STYLE: "true", FLOE_S3_BUCKET: "floe-local", FLOE_WAL_TYPE: "s3" });
    const set = await eventually("StatefulSet local-zone-a", () => client.getOrNull<any>(R.statefulSet, "default", "local-zone-a")); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(set.spec.template.spec.containers[0].envFrom).toContainEqual({ secretRef: { name: "minio-credentials" } });
    // The operator manages the bucket on the store the spec names (no MinIO runs here, so it is
    // not reachable yet): a condition about that store, never "NotManaged".
    const bucket = await eventually("BucketReady of local", async () => (await get(R.streamCluster, "default", "local")).status?.conditions?.find((c: { type: string }) => c.type === "BucketReady"));
    expect(bucket.reason).not.toBe("NotManaged");
    expect(bucket.message).toContain("minio.default.svc");
  }, 60_000);
});

/** The operator as users run it (`src/operator/main.ts`), watching and leading in namespace `proc`. */
function startOperatorProcess(httpPort: number, podName: string) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/operator/main.ts"], {
    cwd: REPO,
    env: { ...process.env, FLOE_AWS_ENDPOINT_URL: moto.endpoint, AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey, KUBECONFIG: api.kubeconfigPath, FLOE_OPERATOR_HTTP_PORT: String(httpPort), FLOE_OPERATOR_NAMESPACE: "proc", FLOE_WATCH_NAMESPACE: "proc", POD_NAME: podName, FLOE_LOG_LEVEL: "debug" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return { child, output: () => out };
}

describe("operator process", () => {
  it("serves /healthz, /readyz and /metrics, logs JSON lines naming the StreamCluster, records Events, and exits cleanly on SIGTERM", async () => {
    // Alone: an in-process operator watching every namespace would reconcile (and record events) first.
    for (const op of operators.splice(0)) await op.stop();
    // Its own namespace for the lease and the watch, so the in-process operators above cannot interfere.
    await client.apply(R.namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name: "proc" } });
    const httpPort = await freePort();
    const { child, output } = startOperatorProcess(httpPort, "operator-process");
    const out = () => output();
    try {
      const http = (p: string) => fetch(`http://127.0.0.1:${httpPort}${p}`);
      await eventually("/healthz", async () => (await http("/healthz")).status === 200);
      await eventually("/readyz", async () => (await http("/readyz")).status === 200);
      const sc = structuredClone(example("s3-wal.yaml")) as KubeObject & { spec: { storage: { bucket: string } } };
      sc.metadata.namespace = "proc";
      sc.spec.storage.bucket = "acme-floe-proc"; // its own: one bucket per cluster
      await client.apply(R.streamCluster, sc);
      await eventually("a StatefulSet from the process", () => client.getOrNull(R.statefulSet, "proc", "events-us-east-1a"));
      const metrics = await eventually("reconcile metrics", async () => {
        const text = await (await http("/metrics")).text();
        return /floe_operator_reconciles_total\{result="success",component="operator"\} [1-9]/.test(text) && text;
      });
      expect(metrics).toMatch(/floe_operator_leader\{component="operator"\} 1/);
      expect(metrics).toMatch(/floe_operator_reconcile_seconds_count\{component="operator"\} [1-9]/);
      expect(metrics).toMatch(/floe_operator_queue_depth\{component="operator"\} \d/);
      expect(metrics).toMatch(/floe_process_resident_memory_bytes\{component="operator"\} \d/);
      // Every line is JSON; the reconciler's lines carry the object's key.
      const lines = out().trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.some((l) => l.streamcluster === "proc/events")).toBe(true);
      const events = await eventually("ZoneCreated events", async () => {
        const list = await client.request<{ items: { reason: string; involvedObject: { name: string }; message: string }[] }>("GET", "/api/v1/namespaces/proc/events");
        const zones = list.items.filter((e) => e.reason === "ZoneCreated" && e.involvedObject.name === "events");
        return zones.length === 3 && zones;
      });
      expect(events.map((e) => e.message).sort()[0]).toMatch(/^Created StatefulSet events-us-east-1a with 2 brokers in us-east-1a$/);
      // The process reached moto through FLOE_AWS_ENDPOINT_URL.
      await eventually("the process's bucket", () => s3.send(new HeadBucketCommand({ Bucket: "acme-floe-proc" })).then(() => true));
      child.kill("SIGTERM");
      const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 90_000);

  it("killed with SIGKILL in the middle of a reconcile, a new process takes the lease when it lapses and converges", async () => {
    const first = startOperatorProcess(await freePort(), "operator-killed");
    try {
      const sc = structuredClone(example("s3-wal.yaml")) as KubeObject & { spec: { storage: { bucket: string } } };
      sc.metadata = { name: "midway", namespace: "proc" };
      sc.spec.storage.bucket = "acme-floe-midway";
      await client.apply(R.streamCluster, sc);
      // The first child is there: kill at once, whatever else it had yet to do.
      await eventually("the first StatefulSet", () => client.getOrNull(R.statefulSet, "proc", "midway-us-east-1a"), 60_000);
      first.child.kill("SIGKILL");
      // And lose something it had made, as if an apply never landed.
      await client.delete(R.service, "proc", "midway-bootstrap").catch(() => undefined);
    } finally {
      if (first.child.exitCode === null) first.child.kill("SIGKILL");
    }
    const killedAt = Date.now();
    const second = startOperatorProcess(await freePort(), "operator-successor");
    try {
      for (const zone of ["us-east-1a", "us-east-1b", "us-east-1c"]) {
        await eventually(`StatefulSet midway-${zone}`, () => client.getOrNull(R.statefulSet, "proc", `midway-${zone}`), 60_000);
        await eventually(`PDB midway-${zone}`, () => client.getOrNull(R.podDisruptionBudget, "proc", `midway-${zone}`), 60_000);
      }
      await eventually("the bootstrap Service again", () => client.getOrNull(R.service, "proc", "midway-bootstrap"), 60_000);
      const status = await eventually("status from the successor", async () => {
        const got = await get(R.streamCluster, "proc", "midway");
        return got.status?.conditions?.some((c: { type: string; status: string }) => c.type === "BucketReady" && c.status === "True") && got.status;
      }, 60_000);
      expect(status.replicas).toBe(6);
      // It could only lead once the killed process's Lease (15 s) lapsed.
      expect(second.output()).toContain("operator-successor");
      expect(Date.now() - killedAt).toBeLessThan(60_000);
    } finally {
      second.child.kill("SIGTERM");
      await new Promise((r) => (second.child.exitCode !== null ? r(null) : second.child.once("exit", r)));
    }
  }, 150_000);
});
