import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { startApiServer, type ApiServer } from "../k8s/apiserver.js";
import type { KubeClient, KubeObject } from "../../src/operator/kube/client.js";
import { R, resourceOf } from "../../src/operator/kube/resources.js";
import { resourcePath } from "../../src/operator/kube/client.js";
import { bootstrapAddress } from "../../src/operator/specs/index.js";
import type { StreamCluster } from "../../src/operator/api/types.js";
import { HELM, REPO, discover, installHelm } from "./helm.js";

/**
 * e2e/run.sh needs Docker and kind, which CI here does not have. Its --dry-run prints every
 * command and writes every manifest a run would apply; this test checks the plan (steps in
 * order, 3 -> 6 -> 3, record ranges that add up, the bootstrap address the operator
 * publishes) and has a real kube-apiserver validate every manifest (dryRun=All).
 */
let api: ApiServer;
let client: KubeClient;
let workdir: string;
let commands: string[];
let stdout: string;

beforeAll(async () => {
  installHelm();
  workdir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-e2e-dry-"));
  const r = spawnSync("bash", [path.join(REPO, "e2e/run.sh"), "--dry-run", "--workdir", workdir], { encoding: "utf8", timeout: 120_000, env: { ...process.env, FLOE_E2E_RECORDS: "1000" } });
  if (r.status !== 0) throw new Error(`e2e/run.sh --dry-run failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  stdout = r.stdout;
  commands = stdout.split("\n").filter((l) => l.startsWith("+ ")).map((l) => l.slice(2));
  api = await startApiServer();
  client = api.client("floe-e2e-dry-run");
}, 3_600_000);

afterAll(async () => {
  client?.close();
  await api?.stop();
  if (workdir) fs.rmSync(workdir, { recursive: true, force: true });
});

const docs = (file: string): KubeObject[] => parseAllDocuments(fs.readFileSync(path.join(workdir, file), "utf8")).map((d) => d.toJS()).filter((d) => d !== null);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const jobScript = (name: string): string => (docs(`job-${name}.yaml`)[0] as any).spec.template.spec.containers[0].args[0];

/**
 * Runs the real (not dry-run) path with stand-ins for docker, kind and kubectl that log
 * their arguments and answer like a healthy cluster, so the script's own logic (waiting
 * on Jobs, comparing what came back, cleaning up) runs here too. helm renders for real.
 */
interface HpaScript { start: string; scaleOut: string; scaleIn: string }
/** What a healthy HPA does: 3 brokers, then 6 (a batch after the load starts), then back to 3. */
const HEALTHY_HPA: HpaScript = { start: "3/3", scaleOut: "6/3 6/6", scaleIn: "4/4 3/3" };
const BATCHES = 5; // one at 3 brokers, two while scaling out, two while scaling in
const total = BATCHES * 1000;
const sha256Of = (n: number) => createHash("sha256").update(Array.from({ length: n }, (_, i) => `${i + 1}\n`).join("")).digest("hex");

function runWithStandIns(consumeResult: string, opts: { failingJob?: string; hpa?: HpaScript; env?: Record<string, string> } = {}): { status: number | null; out: string; calls: string[] } {
  const { failingJob = "", hpa = HEALTHY_HPA } = opts;
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "floe-e2e-bin-"));
  const log = path.join(bin, "calls.log");
  const standIn = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/usr/bin/env bash\necho "${name} $*" >>"${log}"\n${body}\n`, { mode: 0o755 });
  standIn("docker", "exit 0");
  standIn("kind", "exit 0");
  // The StreamCluster's "desired/ready" brokers as the HPA would move them: the load Job makes
  // it scale out to 6 (one look still at 3 ready), deleting the load makes it scale back in.
  const replicas = path.join(bin, "replicas");
  fs.writeFileSync(replicas, `${hpa.start}\n`);
  standIn(
    "kubectl",
    `case "$*" in
  *"get job/${failingJob || "-none-"} "*) echo "FailureTarget Failed" ;;
  *"get job/"*) echo "SuccessCriteriaMet Complete" ;;
  *"apply --server-side -f "*"/job-e2e-load.yaml") echo "${hpa.scaleOut}" >"${replicas}"; echo ok ;;
  *"delete job/e2e-load "*) echo "${hpa.scaleIn}" >"${replicas}"; echo ok ;;
  *"jsonpath={.spec.replicas}/{.status.readyReplicas}"*) read -r now rest <"${replicas}"; printf %s "$now"; if [ -n "$rest" ]; then echo "$rest" >"${replicas}"; fi ;;
  *"logs job/e2e-consume"*) echo "Processed a total of ${total} messages"; echo "${consumeResult}" ;;
  *) echo ok ;;
esac`,
  );
  // helm: render and lint for real, pretend to install.
  standIn("helm", `case "$1" in template|lint) exec "${HELM}" "$@" ;; *) exit 0 ;; esac`);
  const wd = fs.mkdtempSync(path.join(os.tmpdir(), "floe-e2e-wd-"));
  try {
    const r = spawnSync("bash", [path.join(REPO, "e2e/run.sh"), "--workdir", wd], { encoding: "utf8", timeout: 120_000, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FLOE_E2E_RECORDS: "1000", ...opts.env } });
    return { status: r.status, out: r.stdout + r.stderr, calls: fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [] };
  } finally {
    fs.rmSync(bin, { recursive: true, force: true });
    fs.rmSync(wd, { recursive: true, force: true });
  }
}

describe("e2e/run.sh with stand-ins for docker, kind and kubectl", () => {
  const want = sha256Of(total);

  it("passes when every record comes back, and deletes its cluster", () => {
    const r = runWithStandIns(`RESULT count=${total} unique=${total} sha256=${want}`);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`e2e: PASSED: ${total} records produced in ${BATCHES} batches while the HPA scaled 3 -> 6 -> 3 brokers`));
    // helm renders and lints before anything touches a cluster.
    expect(r.calls.filter((c) => !/^helm (template|lint) /.test(c))[0]).toMatch(/^kind create cluster --name floe-e2e --config /);
    expect(r.calls.some((c) => /^helm install floe .* --set image\.pullPolicy=Never --wait/.test(c))).toBe(true);
    expect(r.calls.some((c) => /^helm upgrade --install metrics-server metrics-server .*--kubelet-insecure-tls/.test(c))).toBe(true);
    // Only the HPA changes the broker count: the script switches autoscaling on and never scales.
    expect(r.calls).toContain(`kubectl -n default patch streamcluster/local --type merge --patch-file ${r.calls.find((c) => c.includes("--patch-file"))!.split(" ").at(-1)}`);
    expect(r.calls.some((c) => /\bscale\b/.test(c) && c.startsWith("kubectl"))).toBe(false);
    const batchesApplied = r.calls.filter((c) => /^kubectl apply --server-side -f \S+\/job-e2e-produce-\d+\.yaml$/.test(c)).length;
    expect(batchesApplied).toBe(BATCHES);
    expect(r.calls.at(-1)).toBe("kind delete cluster --name floe-e2e");
  });

  it("fails, naming what is missing, when a record did not come back", () => {
    const r = runWithStandIns(`RESULT count=${total - 1} unique=${total - 1} sha256=${"0".repeat(64)}`);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(new RegExp(`FAILED: expected every record 1\\.\\.${total} back \\(unique=${total} sha256=[0-9a-f]{64}\\), got: RESULT count=${total - 1} unique=${total - 1}`));
    expect(r.calls.at(-1)).toBe("kind delete cluster --name floe-e2e");
  });

  it("fails, naming the HPA, when the cluster does not scale out in time, and deletes its cluster", () => {
    const r = runWithStandIns(`RESULT count=${total} unique=${total} sha256=${want}`, { hpa: { start: "3/3", scaleOut: "3/3", scaleIn: "3/3" }, env: { FLOE_E2E_PHASE_TIMEOUT: "0" } });
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/the HPA did not bring local to 6 ready brokers within 0 s \(now: 3\/3\)/);
    expect(r.calls).toContain("kubectl -n default describe hpa/local");
    expect(r.calls.some((c) => c.includes("e2e-consume"))).toBe(false);
    expect(r.calls.at(-1)).toBe("kind delete cluster --name floe-e2e");
  });

  it("stops at a failed Job with its log, without waiting out the timeout", () => {
    const started = Date.now();
    const r = runWithStandIns(`RESULT count=${total} unique=${total} sha256=${want}`, { failingJob: "e2e-produce-2" });
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/job e2e-produce-2 did not complete \(conditions: FailureTarget Failed\)/);
    expect(r.calls).toContain("kubectl -n default logs job/e2e-produce-2 --tail=200");
    expect(r.calls.some((c) => c.includes("e2e-produce-3"))).toBe(false);
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});

describe("e2e/run.sh --dry-run", () => {
  it("validates its own manifests and prints the whole run, in order, executing nothing", () => {
    expect(stdout).toMatch(/^validated \d+ manifests in /m);
    const order = [
      /^kind create cluster --name floe-e2e --config \S+\/kind\.yaml/,
      /^docker build -t floe:e2e /,
      /^kind load docker-image floe:e2e --name floe-e2e$/,
      /^\S*helm install floe \S+\/charts\/floe --namespace floe-system --create-namespace --set image\.repository=floe --set image\.tag=e2e --set image\.pullPolicy=Never --wait/,
      /^\S*helm upgrade --install metrics-server metrics-server --repo https:\/\/kubernetes-sigs\.github\.io\/metrics-server\/ --version \S+ --namespace kube-system --set args=\{--kubelet-insecure-tls\} --wait/,
      /^kubectl apply --server-side -f \S+\/object-store\.yaml$/,
      /^kubectl -n default rollout status deployment\/minio/,
      /^kubectl apply --server-side -f \S+\/streamcluster\.yaml$/,
      /^kubectl -n default wait streamcluster\/local --for=condition=Ready/,
      /^kubectl apply --server-side -f \S+\/job-e2e-produce-1\.yaml$/,
      /^kubectl -n default get job\/e2e-produce-1 /,
      /^kubectl -n default get streamcluster\/local -o jsonpath=\{\.spec\.replicas\}\/\{\.status\.readyReplicas\}   # after each batch, until it is 3\/3$/,
      /^kubectl -n default patch streamcluster\/local --type merge --patch-file \S+\/autoscaling\.patch$/,
      /^kubectl apply --server-side -f \S+\/job-e2e-load\.yaml$/,
      /^kubectl apply --server-side -f \S+\/job-e2e-produce-2\.yaml$/,
      /^kubectl -n default get streamcluster\/local -o jsonpath=\{\.spec\.replicas\}\/\{\.status\.readyReplicas\}   # after each batch, until it is 6\/6$/,
      /^kubectl -n default wait streamcluster\/local --for=condition=Ready/,
      /^kubectl -n default delete job\/e2e-load --wait=true$/,
      /^kubectl apply --server-side -f \S+\/job-e2e-produce-3\.yaml$/,
      /^kubectl -n default get streamcluster\/local -o jsonpath=\{\.spec\.replicas\}\/\{\.status\.readyReplicas\}   # after each batch, until it is 3\/3$/,
      /^kubectl apply --server-side -f \S+\/job-e2e-consume\.yaml$/,
      /^kubectl -n default get job\/e2e-consume /,
    ];
    let at = -1;
    for (const re of order) {
      const i = commands.findIndex((c, j) => j > at && re.test(c));
      expect(i, `a command matching ${re} after ${commands[at] ?? "the start"}`).toBeGreaterThan(at);
      at = i;
    }
    // The script never sets the broker count itself: the HPA does.
    expect(commands.filter((c) => /^kubectl .*\bscale\b/.test(c))).toEqual([]);
    // Every file a command applies was written (and so is validated below).
    for (const c of commands) {
      const m = / -(?:f|-patch-file) (\S+)$/.exec(c);
      if (m) expect(fs.existsSync(m[1]!), m[1]).toBe(true);
    }
  });

  it("the kind cluster has one worker per StreamCluster zone, labelled topology.kubernetes.io/zone", () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const kind = docs("kind.yaml")[0] as any;
    expect(kind).toMatchObject({ kind: "Cluster", apiVersion: "kind.x-k8s.io/v1alpha4" });
    const workers = kind.nodes.filter((n: { role: string }) => n.role === "worker");
    expect(kind.nodes.filter((n: { role: string }) => n.role === "control-plane")).toHaveLength(1);
    const sc = docs("streamcluster.yaml")[0] as unknown as StreamCluster;
    expect(workers.map((w: { labels: Record<string, string> }) => w.labels["topology.kubernetes.io/zone"]).sort()).toEqual([...sc.spec.zones].sort());
  });

  it("applies examples/local.yaml as it is, only pointing the brokers at the image loaded into kind", () => {
    const original = parseAllDocuments(fs.readFileSync(path.join(REPO, "examples/local.yaml"), "utf8")).map((d) => d.toJS());
    const sc = docs("streamcluster.yaml");
    expect(sc).toHaveLength(1);
    const { image, imagePullPolicy, ...rest } = (sc[0] as unknown as StreamCluster).spec;
    expect({ image, imagePullPolicy }).toEqual({ image: "floe:e2e", imagePullPolicy: "Never" });
    expect({ ...sc[0], spec: rest }).toEqual(original.find((d) => d.kind === "StreamCluster"));
    expect(docs("object-store.yaml")).toEqual(original.filter((d) => d.kind !== "StreamCluster"));
  });

  it("produces contiguous numbered ranges to the bootstrap address the operator publishes, and expects all of them back", () => {
    const sc = docs("streamcluster.yaml")[0] as unknown as StreamCluster;
    const bootstrap = bootstrapAddress(sc);
    const ranges = [1, 2, 3].map((i) => {
      const s = jobScript(`e2e-produce-${i}`);
      expect(s).toContain(`--bootstrap-server ${bootstrap} --topic e2e`);
      expect(s).toMatch(/acks=all/);
      const m = /^seq (\d+) (\d+) \|/m.exec(s)!;
      return [Number(m[1]), Number(m[2])];
    });
    expect(ranges).toEqual([[1, 1000], [1001, 2000], [2001, 3000]]);
    const consume = jobScript("e2e-consume");
    expect(consume).toContain(`--bootstrap-server ${bootstrap} --topic e2e --from-beginning`);
    expect(consume).toMatch(/--max-messages 3000 /);
    expect(stdout).toContain(`expect: RESULT unique=3000 sha256=${sha256Of(3000)}`);
  });

  it("loads the cluster with Kafka's perf tool on its own topic, and switches on autoscaling between 3 and 6 brokers on CPU", () => {
    const sc = docs("streamcluster.yaml")[0] as unknown as StreamCluster;
    const load = jobScript("e2e-load");
    expect(load).toMatch(new RegExp(`kafka-producer-perf-test\\.sh --topic e2e-load .*--throughput \\d+`));
    expect(load).toContain(`bootstrap.servers=${bootstrapAddress(sc)} acks=all`);
    expect(sc.spec.autoscaling?.enabled ?? false).toBe(false);
    expect(sc.spec.resources?.requests?.cpu, "CPU utilization needs a CPU request").toBeTruthy();
    const patch = parseAllDocuments(fs.readFileSync(path.join(workdir, "autoscaling.patch"), "utf8"))[0]!.toJS();
    expect(patch).toEqual({ spec: { autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 6, targetCPUUtilizationPercentage: 40, scaleDownStabilizationSeconds: 60 } } });
  });

  it("every manifest is accepted by a real kube-apiserver (server-side apply, dryRun=All)", async () => {
    const chart = docs("chart.yaml");
    // The CRD for real, so StreamClusters are validated against its schema and CEL rules.
    for (const crd of chart.filter((o) => o.kind === "CustomResourceDefinition")) await client.apply(R.crd, crd);
    await client.apply(R.namespace, { apiVersion: "v1", kind: "Namespace", metadata: { name: "floe-system" } });
    const deadline = Date.now() + 30_000;
    while (!(await discover(client, "floe.dev/v1alpha1", "StreamCluster").then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error("the StreamCluster CRD was not served in 30 s");
      await new Promise((r) => setTimeout(r, 250));
    }
    const files = fs.readdirSync(workdir).filter((f) => f.endsWith(".yaml") && f !== "kind.yaml");
    let checked = 0;
    for (const file of files) {
      for (const obj of docs(file).filter((o) => o.kind !== "CustomResourceDefinition")) {
        const ref = obj.kind === "StreamCluster" ? resourceOf("StreamCluster") : await discover(client, obj.apiVersion, obj.kind);
        await client.request("PATCH", `${resourcePath(ref, obj.metadata.namespace, obj.metadata.name)}?fieldManager=e2e-dry-run&force=true&dryRun=All`, obj, "application/apply-patch+yaml").catch((err: Error) => {
          throw new Error(`${file}: ${obj.kind} ${obj.metadata.name}: ${err.message}`);
        });
        checked++;
      }
    }
    // The StreamCluster as the autoscaling patch leaves it passes the CRD's schema and CEL rules too.
    const sc = docs("streamcluster.yaml")[0]! as KubeObject & { spec: Record<string, unknown> };
    const patch = parseAllDocuments(fs.readFileSync(path.join(workdir, "autoscaling.patch"), "utf8"))[0]!.toJS() as { spec: Record<string, unknown> };
    const patched = { ...sc, spec: { ...sc.spec, ...patch.spec } };
    delete (patched.spec as { replicas?: number }).replicas;
    await client.request("PATCH", `${resourcePath(resourceOf("StreamCluster"), sc.metadata.namespace, sc.metadata.name)}?fieldManager=e2e-dry-run&force=true&dryRun=All`, patched, "application/apply-patch+yaml");
    expect(checked).toBeGreaterThanOrEqual(15);
  }, 60_000);
});
