import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { startApiServer, type ApiServer, eventually } from "../k8s/apiserver.js";
import { KubeError, type KubeClient, type KubeObject } from "../../src/operator/kube/client.js";
import { R } from "../../src/operator/kube/resources.js";
import { renderCrd, renderUserCrd } from "../../src/operator/api/render-crd.js";
import { names, resolveSpec } from "../../src/operator/specs/index.js";
import { freePort } from "../ports.js";
import { CHART, REPO, discover, helm, installHelm, render, KUBE_VERSION } from "./helm.js";

/**
 * The Helm chart: lint and render with several value sets, the schema and README agree
 * with values.yaml, the rendered manifests are accepted by a real kube-apiserver (its
 * OpenAPI validation and PodSecurity admission), and the chart's RBAC is exactly enough:
 * the operator, running with a token of the chart's ServiceAccount and the Deployment's
 * environment, reconciles the examples; take statefulsets away and it fails visibly.
 */
const VALUE_SETS: Record<string, string[]> = {
  defaults: [],
  "one watched namespace": ["watchNamespace=apps"],
  "monitoring on": ["metrics.serviceMonitor.enabled=true", "metrics.brokerPodMonitor.enabled=true", "metrics.brokerPodMonitor.namespaces={streaming,apps}", "grafanaDashboard.enabled=true", "prometheusAdapter.rulesConfigMap=true"],
  "existing service account, single replica, no user roles": ["serviceAccount.create=false", "serviceAccount.name=floe-existing", "replicaCount=1", "rbac.aggregateToDefaultRoles=false"],
  "IRSA annotation and pinned image": ["serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/floe-operator", "image.repository=registry.example.com/floe", "image.tag=0.1.0-rc1", "image.pullPolicy=Always"],
};

let api: ApiServer;
let admin: KubeClient;
let tmp: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  installHelm();
  api = await startApiServer();
  admin = api.client("floe-chart-test");
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "floe-chart-"));
}, 3_600_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  admin?.close();
  await api?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});


const byKind = (objs: KubeObject[], kind: string) => objs.filter((o) => o.kind === kind);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const one = (objs: KubeObject[], kind: string): any => {
  const found = byKind(objs, kind);
  expect(found, kind).toHaveLength(1);
  return found[0];
};

async function ensureNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  await admin.apply(R.namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
}

/** Applies rendered manifests (CRDs first, then the rest) the way `helm install` would create them. */
async function applyAll(objs: KubeObject[]): Promise<void> {
  for (const crd of byKind(objs, "CustomResourceDefinition")) {
    await admin.apply(R.crd, crd);
    await eventually(`CRD ${crd.metadata.name} established`, async () => {
      const got = await admin.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(R.crd, undefined, crd.metadata.name);
      return got.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    });
  }
  for (const obj of objs.filter((o) => o.kind !== "CustomResourceDefinition")) {
    await admin.apply(await discover(admin, obj.apiVersion, obj.kind), obj);
  }
}

function example(file: string): KubeObject {
  return parseAllDocuments(fs.readFileSync(path.join(REPO, "examples", file), "utf8")).map((d) => d.toJS()).find((d) => d.kind === "StreamCluster");
}

/** A bearer token of a ServiceAccount from the TokenRequest API, as the kubelet would mount it. */
async function serviceAccountKubeconfig(namespace: string, sa: string, file: string): Promise<void> {
  const res = await admin.request<{ status: { token: string } }>("POST", `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { expirationSeconds: 3600 },
  });
  fs.writeFileSync(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{name: test, cluster: {server: ${JSON.stringify(api.config.server)}, insecure-skip-tls-verify: true}}]`,
      `users: [{name: ${sa}, user: {token: ${JSON.stringify(res.status.token)}}}]`,
      `contexts: [{name: test, context: {cluster: test, user: ${sa}}}]`,
      "current-context: test",
      "",
    ].join("\n"),
  );
}

/**
 * Runs the operator with the rendered Deployment's environment (downward-API fields
 * resolved as the kubelet would) and the ServiceAccount's token. Only the HTTP port is
 * moved off 8080, which another process on this machine may hold.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function runOperator(deployment: any, podName: string, kubeconfig: string): Promise<{ child: ChildProcess; output: () => string; httpPort: number }> {
  const container = deployment.spec.template.spec.containers[0];
  expect(container.args).toEqual(["dist/src/operator/main.js"]);
  const env: Record<string, string> = {};
  const fields: Record<string, string> = { "metadata.name": podName, "metadata.namespace": deployment.metadata.namespace };
  for (const e of container.env as { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[]) {
    if (e.valueFrom?.fieldRef) {
      const v = fields[e.valueFrom.fieldRef.fieldPath];
      if (v === undefined) throw new Error(`the test does not resolve fieldRef ${e.valueFrom.fieldRef.fieldPath}`);
      env[e.name] = v;
    } else env[e.name] = e.value ?? "";
  }
  const httpPort = await freePort();
  expect(env.FLOE_OPERATOR_HTTP_PORT).toBe(String(container.ports[0].containerPort));
  const child = spawn(process.execPath, ["--import", "tsx", "src/operator/main.ts"], {
    cwd: REPO,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME!, ...env, FLOE_OPERATOR_HTTP_PORT: String(httpPort), KUBECONFIG: kubeconfig },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return { child, output: () => out, httpPort };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  child.kill("SIGTERM");
  return new Promise((r) => child.once("exit", (c) => r(c)));
}

describe("chart source", () => {
  it("ships the generated CRDs unchanged (one source: npm run gen:crds writes both copies)", () => {
    for (const [file, rendered] of [["floe.dev_streamclusters.yaml", renderCrd()], ["floe.dev_streamusers.yaml", renderUserCrd()]]) {
      const chartCopy = fs.readFileSync(path.join(CHART, "crds", file), "utf8");
      expect(chartCopy, "charts/floe/crds/ is stale: run npm run gen:crds").toBe(rendered);
      expect(chartCopy).toBe(fs.readFileSync(path.join(REPO, "crds", file), "utf8"));
    }
    expect(fs.readdirSync(path.join(CHART, "crds")).sort()).toEqual(["floe.dev_streamclusters.yaml", "floe.dev_streamusers.yaml"]);
  });

  it("README.md lists every value of values.yaml with its default, and nothing else", () => {
    const values = parse(fs.readFileSync(path.join(CHART, "values.yaml"), "utf8")) as Record<string, unknown>;
    const schema = JSON.parse(fs.readFileSync(path.join(CHART, "values.schema.json"), "utf8"));
    // A value is a leaf where the schema stops describing properties one by one (maps like resources).
    const leaves: [string, unknown][] = [];
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const walk = (obj: Record<string, unknown>, sch: any, prefix: string) => {
      for (const [k, v] of Object.entries(obj)) {
        const s = sch.properties?.[k];
        expect(s, `values.schema.json describes ${prefix}${k}`).toBeDefined();
        if (s.properties && v && typeof v === "object" && !Array.isArray(v)) walk(v as Record<string, unknown>, s, `${prefix}${k}.`);
        else leaves.push([`${prefix}${k}`, v]);
      }
    };
    walk(values, schema, "");
    const readme = fs.readFileSync(path.join(CHART, "README.md"), "utf8");
    const valuesSection = readme.slice(readme.indexOf("\n## Values"));
    const rows = new Map([...valuesSection.matchAll(/^\| `([^`]+)` \| `([^|]*)` \|/gm)].map((m) => [m[1]!, m[2]!]));
    for (const [key, def] of leaves) {
      expect(rows.has(key), `README.md has a row for ${key}`).toBe(true);
      expect(rows.get(key), `README.md default of ${key}`).toBe(JSON.stringify(def));
    }
    expect([...rows.keys()].sort()).toEqual(leaves.map(([k]) => k).sort());
  });
});

describe("helm lint and template", () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    it(`lints (strict) and renders with ${name}`, () => {
      const lint = helm(["lint", CHART, "--strict", "--kube-version", KUBE_VERSION, ...values.flatMap((v) => ["--set", v])]);
      expect(lint.status, lint.stdout + lint.stderr).toBe(0);
      const objs = render(values);
      expect(objs.length).toBeGreaterThan(5);
      for (const o of objs) expect(o.metadata.labels?.["app.kubernetes.io/part-of"], `${o.kind} ${o.metadata.name}`).toBe("floe");
    });
  }

  it("the schema rejects values that would render a broken install", () => {
    for (const bad of ["replicaCount=0", "logLevel=loud", "image.pullPolicy=Sometimes", "watchNamespace=Not_A_Namespace", "nosuchvalue=1", "service.port=70000"]) {
      const r = helm(["template", "floe", CHART, "--kube-version", KUBE_VERSION, "--set", bad]);
      expect(r.status, bad).not.toBe(0);
      expect(r.stderr, bad).toMatch(/values don't meet the specifications of the schema/);
    }
  });

  it("the operator Deployment: 2 replicas, downward-API identity, probes on /healthz and /readyz, resources, PodSecurity restricted settings", () => {
    const d = one(render(), "Deployment");
    expect(d.spec.replicas).toBe(2);
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    const env = Object.fromEntries(c.env.map((e: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }) => [e.name, e.value ?? e.valueFrom?.fieldRef.fieldPath]));
    expect(env).toMatchObject({ POD_NAME: "metadata.name", POD_NAMESPACE: "metadata.namespace", FLOE_OPERATOR_NAMESPACE: "metadata.namespace", FLOE_WATCH_NAMESPACE: "", FLOE_OPERATOR_HTTP_PORT: "8080" });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(c.resources.requests).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    // The operator and, by default, the brokers it creates run the same image.
    expect(c.image).toBe(resolveSpec({} as never).image);
    const svc = one(render(), "Service");
    expect(svc.spec.ports).toEqual([{ name: "http", port: 8080, targetPort: "http", protocol: "TCP" }]);
    expect(svc.spec.selector).toEqual(d.spec.selector.matchLabels);
  });

  it("the ServiceMonitor selects the metrics Service's port; the PodMonitor selects the brokers the operator creates", async () => {
    const objs = render(VALUE_SETS["monitoring on"]);
    const sm = one(objs, "ServiceMonitor");
    const svc = one(objs, "Service");
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    expect(sm.spec.endpoints[0].port).toBe(svc.spec.ports[0].name);
    const pm = one(objs, "PodMonitor");
    expect(pm.spec.namespaceSelector).toEqual({ matchNames: ["streaming", "apps"] });
    // The broker pods' labels come from the operator's own builders.
    const { desiredChildren } = await import("../../src/operator/specs/index.js");
    const sts = desiredChildren({ ...example("s3-wal.yaml"), metadata: { name: "events", namespace: "streaming", uid: "u" } } as never).find((m) => m.kind === "StatefulSet") as unknown as { spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { ports: { name: string }[] }[] } } } };
    for (const [k, v] of Object.entries(pm.spec.selector.matchLabels)) expect(sts.spec.template.metadata.labels[k], k).toBe(v);
    expect(sts.spec.template.spec.containers[0]!.ports.map((p) => p.name)).toContain(pm.spec.podMetricsEndpoints[0].port);
  });
});

describe("against a real kube-apiserver", () => {
  it("accepts every rendered manifest of every value set (OpenAPI validation, server-side apply)", async () => {
    // The Prometheus Operator's kinds need its CRDs, which this API server does not have;
    // their wiring is checked above. Everything else is applied for real.
    const monitoring = new Set(["ServiceMonitor", "PodMonitor"]);
    let applied = 0;
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const ns = `chart-${name.replace(/[^a-z]+/g, "-").slice(0, 40).replace(/^-|-$/g, "")}`;
      await ensureNamespace(ns);
      await ensureNamespace("apps");
      await ensureNamespace("streaming");
      const objs = render(values, { release: "floe", namespace: ns, includeCrds: true }).filter((o) => !monitoring.has(o.kind));
      // Cluster-scoped names carry the release's full name: give each set its own.
      for (const o of objs) if (!o.metadata.namespace && o.kind !== "CustomResourceDefinition") o.metadata.name = `${ns}-${o.metadata.name}`;
      for (const b of objs.filter((o) => o.kind === "ClusterRoleBinding") as unknown as { roleRef: { name: string } }[]) b.roleRef.name = `${ns}-${b.roleRef.name}`;
      await applyAll(objs);
      applied += objs.length;
    }
    expect(applied).toBeGreaterThan(40);
  }, 120_000);

  it("the operator pod passes PodSecurity admission at the restricted level (and a weakened copy does not)", async () => {
    await ensureNamespace("restricted", { "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" });
    const d = one(render(), "Deployment");
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "floe-operator-psa", namespace: "restricted" }, spec: structuredClone(d.spec.template.spec) };
    // No ServiceAccount admission here: name one that needs no token projection.
    pod.spec.serviceAccountName = "default";
    pod.spec.automountServiceAccountToken = false;
    await admin.create(R.pod, pod);
    const weak = structuredClone(pod);
    weak.metadata.name = "floe-operator-psa-weak";
    weak.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
    const err = await admin.create(R.pod, weak).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).message).toMatch(/violates PodSecurity "restricted:latest".*allowPrivilegeEscalation/);
  });

  it("with the chart's RBAC and ServiceAccount token, the operator leads and reconciles the examples into StatefulSets, a StorageClass, a PVC and an HPA", async () => {
    await ensureNamespace("floe-system");
    await ensureNamespace("streaming");
    const objs = render([], { release: "floe", namespace: "floe-system", includeCrds: true });
    await applyAll(objs);
    const deployment = one(objs, "Deployment");
    const kubeconfig = path.join(tmp, "operator.kubeconfig");
    await serviceAccountKubeconfig("floe-system", deployment.spec.template.spec.serviceAccountName, kubeconfig);
    const op = await runOperator(deployment, "floe-7d9f-abcde", kubeconfig);
    try {
      await eventually("/readyz", async () => (await fetch(`http://127.0.0.1:${op.httpPort}/readyz`)).status === 200, 30_000, op.output);
      // ebs (StorageClass + PVC templates), nfs (shared PVC), autoscaling (HPA): every kind in the RBAC.
      const clusters = [
        { sc: example("aws-ebs.yaml"), sts: "orders-eu-west-1a" },
        { sc: example("nfs-wal.yaml"), sts: "payments-us-west-2a" },
        { sc: example("autoscaling.yaml"), sts: "clicks-us-east-1a" },
      ];
      for (const { sc } of clusters) await admin.apply(R.streamCluster, sc);
      for (const { sc, sts } of clusters) {
        await eventually(`StatefulSet ${sts}`, () => admin.getOrNull(R.statefulSet, sc.metadata.namespace, sts), 30_000, op.output);
        await eventually(`status of ${sc.metadata.name}`, async () => (await admin.get<KubeObject & { status?: { replicas?: number } }>(R.streamCluster, sc.metadata.namespace, sc.metadata.name)).status?.replicas !== undefined, 30_000, op.output);
      }
      // Two ebs clusters with different volume settings: one StorageClass each.
      for (const { sc } of [clusters[0]!, clusters[2]!]) expect(await admin.getOrNull(R.storageClass, undefined, names.storageClass(sc as never)), names.storageClass(sc as never)).not.toBeNull();
      expect(await admin.getOrNull(R.persistentVolumeClaim, "streaming", "payments-wal")).not.toBeNull();
      expect(await admin.getOrNull(R.horizontalPodAutoscaler, "streaming", "clicks")).not.toBeNull();
      const lease = await admin.get<KubeObject & { spec: { holderIdentity: string } }>(R.lease, "floe-system", "floe-operator");
      expect(lease.spec.holderIdentity).toBe("floe-7d9f-abcde");
      const events = await admin.request<{ items: { reason: string }[] }>("GET", "/api/v1/namespaces/streaming/events");
      expect(events.items.some((e) => e.reason === "ZoneCreated")).toBe(true);
      expect(op.output()).not.toMatch(/forbidden/i);
      expect(await stop(op.child)).toBe(0);
    } finally {
      await stop(op.child);
    }
  }, 120_000);

  it("with watchNamespace, a Role in that namespace (plus StorageClasses cluster-wide) is enough, and other namespaces are left alone", async () => {
    await ensureNamespace("floe-scoped");
    await ensureNamespace("apps");
    const objs = render(["watchNamespace=apps"], { release: "scoped", namespace: "floe-scoped", includeCrds: true });
    expect(byKind(objs, "Role").map((r) => r.metadata.namespace).sort()).toEqual(["apps", "floe-scoped"]);
    await applyAll(objs);
    const deployment = one(objs, "Deployment");
    const kubeconfig = path.join(tmp, "scoped.kubeconfig");
    await serviceAccountKubeconfig("floe-scoped", deployment.spec.template.spec.serviceAccountName, kubeconfig);
    const op = await runOperator(deployment, "scoped-5c6b-abcde", kubeconfig);
    try {
      const inApps = { ...example("aws-ebs.yaml"), metadata: { name: "scoped", namespace: "apps" } };
      const elsewhere = { ...example("s3-wal.yaml"), metadata: { name: "elsewhere", namespace: "streaming" } };
      await admin.apply(R.streamCluster, inApps);
      await admin.apply(R.streamCluster, elsewhere);
      await eventually("StatefulSet scoped-eu-west-1a", () => admin.getOrNull(R.statefulSet, "apps", "scoped-eu-west-1a"), 30_000, op.output);
      const lease = await admin.get<KubeObject & { spec: { holderIdentity: string } }>(R.lease, "floe-scoped", "floe-operator");
      expect(lease.spec.holderIdentity).toBe("scoped-5c6b-abcde");
      expect(await admin.getOrNull(R.statefulSet, "streaming", "elsewhere-us-east-1a")).toBeNull();
      expect(op.output()).not.toMatch(/forbidden/i);
      expect(await stop(op.child)).toBe(0);
    } finally {
      await stop(op.child);
    }
  }, 90_000);

  it("without statefulsets in its ClusterRole the operator fails visibly and creates nothing", async () => {
    const objs = render([], { release: "floe", namespace: "floe-system", includeCrds: true });
    const role = byKind(objs, "ClusterRole").find((r) => r.metadata.name === "floe") as KubeObject & { rules: { resources: string[] }[] };
    role.rules = role.rules.filter((r) => !r.resources.includes("statefulsets"));
    expect(role.rules.length).toBeGreaterThan(3);
    // Same field manager as the install: applying the smaller rule list removes the rule.
    await admin.apply(await discover(admin, "rbac.authorization.k8s.io/v1", "ClusterRole"), role);
    const sc = structuredClone(example("s3-wal.yaml"));
    sc.metadata.name = "denied";
    await admin.apply(R.streamCluster, sc);
    const deployment = one(objs, "Deployment");
    const kubeconfig = path.join(tmp, "denied.kubeconfig");
    await serviceAccountKubeconfig("floe-system", deployment.spec.template.spec.serviceAccountName, kubeconfig);
    const op = await runOperator(deployment, "floe-7d9f-fghij", kubeconfig);
    try {
      // The API server's refusal, naming the resource, in the operator's output.
      // It stops with the API server's refusal, naming the resource: the pod would crash-loop with this in its log.
      const code = await new Promise<number | null>((r) => (op.child.exitCode !== null ? r(op.child.exitCode) : op.child.once("exit", (c) => r(c))));
      expect(code, op.output()).not.toBe(0);
      expect(op.output()).toMatch(/403 Forbidden statefulsets\.apps is forbidden: User "system:serviceaccount:floe-system:floe" cannot list resource "statefulsets"/);
      expect(await admin.getOrNull(R.statefulSet, "streaming", "denied-us-east-1a")).toBeNull();
      expect(await admin.getOrNull(R.configMap, "streaming", "denied-config")).toBeNull();
    } finally {
      await stop(op.child);
    }
  }, 90_000);
});
