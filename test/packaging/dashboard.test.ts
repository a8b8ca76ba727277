import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { createRegistry } from "../../src/common/metrics.js";
import { createOperatorMetrics } from "../../src/operator/metrics.js";
import { horizontalPodAutoscaler } from "../../src/operator/specs/policy.js";
import type { StreamCluster } from "../../src/operator/api/types.js";
import { freePort } from "../ports.js";
import { startMinio, type MinioServer } from "../s3-server.js";
import { CHART, REPO, installHelm, render } from "./helm.js";

/**
 * The Grafana dashboard and the prometheus-adapter rules may only name metrics the code
 * exports. The broker's names come from a real broker's /metrics (s3 object store and s3
 * WAL against MinIO, so the storage, WAL and S3 families are all registered); the
 * operator's from its own registry builder.
 */
const dashboard = JSON.parse(fs.readFileSync(path.join(CHART, "files/grafana-dashboard.json"), "utf8"));
const adapterRules = parse(fs.readFileSync(path.join(CHART, "files/prometheus-adapter-rules.yaml"), "utf8")) as { rules: { seriesQuery: string; name: { matches: string; as: string }; metricsQuery: string }[] };

let minio: MinioServer;
let broker: ChildProcess;
let dataDir: string;
const exported = { broker: new Set<string>(), operator: new Set<string>() };

/** Sample names a family of this type produces, as PromQL sees them. */
function sampleNames(name: string, type: string): string[] {
  if (type === "histogram") return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === "summary") return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

beforeAll(async () => {
  installHelm();
  minio = await startMinio({ bucket: "floe-dashboard" });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-dashboard-"));
  const [kafkaPort, httpPort] = [await freePort(), await freePort()];
  broker = spawn(process.execPath, ["--import", "tsx", "broker/main.ts"], {
    cwd: REPO,
    env: {
      ...process.env,
      FLOE_HOST: "127.0.0.1",
      FLOE_PORT: String(kafkaPort),
      FLOE_HTTP_PORT: String(httpPort),
      FLOE_DATA_DIR: dataDir,
      FLOE_WAL_TYPE: "s3",
      FLOE_OBJECT_STORE: "s3",
      FLOE_S3_BUCKET: minio.bucket,
      FLOE_S3_ENDPOINT: minio.endpoint,
      FLOE_S3_REGION: minio.region,
      FLOE_S3_FORCE_PATH_STYLE: "true",
      FLOE_S3_ACCESS_KEY_ID: minio.accessKey,
      FLOE_S3_SECRET_ACCESS_KEY: minio.secretKey,
      FLOE_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  broker.stdout!.on("data", (d) => (out += d));
  broker.stderr!.on("data", (d) => (out += d));
  const deadline = Date.now() + 60_000;
  let text = "";
  while (Date.now() < deadline) {
    text = await fetch(`http://127.0.0.1:${httpPort}/metrics`).then((r) => (r.ok ? r.text() : ""), () => "");
    if (text) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!text) throw new Error(`the broker served no /metrics within 60 s:\n${out.slice(-3000)}`);
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) for (const n of sampleNames(m[1]!, m[2]!)) exported.broker.add(n);
  const registry = createRegistry("operator");
  createOperatorMetrics(registry);
  for (const m of await registry.getMetricsAsJSON()) for (const n of sampleNames(m.name, String(m.type))) exported.operator.add(n);
}, 600_000);

afterAll(async () => {
  if (broker && broker.exitCode === null) {
    broker.kill("SIGTERM");
    await new Promise((r) => broker.once("exit", r));
  }
  await minio?.stop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Every PromQL expression in the dashboard: panel targets and template variable queries. */
function expressions(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of dashboard.panels) for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
  for (const v of dashboard.templating.list) if (v.type === "query") out.push({ where: `variable ${v.name}`, expr: typeof v.query === "string" ? v.query : v.query.query });
  return out;
}

const metricNames = (expr: string) => [...new Set(expr.match(/\bfloe_[a-z0-9_]+\b/g) ?? [])];

describe("Grafana dashboard", () => {
  it("queries only metrics the broker and the operator export, each under its own component label", () => {
    const exprs = expressions();
    expect(exprs.length).toBeGreaterThan(20);
    const all = new Set([...exported.broker, ...exported.operator]);
    const used = new Set<string>();
    for (const { where, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${where} queries a floe metric`).toBeGreaterThan(0);
      for (const n of names) {
        expect(all.has(n), `${where}: ${n} is not exported by the broker or the operator`).toBe(true);
        used.add(n);
      }
      const component = /component="(broker|operator)"/.exec(expr)?.[1] as "broker" | "operator" | undefined;
      if (component) for (const n of names) expect(exported[component].has(n), `${where}: ${n} is not a ${component} metric`).toBe(true);
    }
    // The families an operator of Floe most needs are on it.
    for (const n of ["floe_broker_produce_bytes_total", "floe_broker_request_seconds_bucket", "floe_wal_used_bytes", "floe_s3_retries", "floe_operator_reconciles_total", "floe_operator_leader", "floe_process_resident_memory_bytes"]) expect(used.has(n), n).toBe(true);
  });

  it("is a well-formed dashboard: unique panel ids, a Prometheus datasource variable, every panel on the grid", () => {
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.find((v: { type: string }) => v.type === "datasource")?.query).toBe("prometheus");
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type !== "row") expect(p.datasource.uid, p.title).toBe("${datasource}");
    }
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
  });

  it("the chart ships the same dashboard in a ConfigMap labelled for Grafana's sidecar", () => {
    const cm = render(["grafanaDashboard.enabled=true"]).find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-dashboard")) as unknown as { metadata: { labels: Record<string, string> }; data: Record<string, string> };
    expect(cm.metadata.labels.grafana_dashboard).toBe("1");
    expect(JSON.parse(cm.data["floe.json"]!)).toEqual(dashboard);
  });
});

describe("prometheus-adapter rules", () => {
  it("serve the HPA's Pods metric from the broker's bytes-in counter, under the name the operator's HPA asks for", () => {
    const sc = { apiVersion: "floe.dev/v1alpha1", kind: "StreamCluster", metadata: { name: "clicks", namespace: "streaming", uid: "u" }, spec: { ...parseAllDocuments(fs.readFileSync(path.join(REPO, "examples/autoscaling.yaml"), "utf8"))[0]!.toJS().spec } } as StreamCluster;
    const hpa = horizontalPodAutoscaler(sc) as unknown as { spec: { metrics: { type: string; pods?: { metric: { name: string } } }[] } };
    const wanted = hpa.spec.metrics.filter((m) => m.type === "Pods").map((m) => m.pods!.metric.name);
    expect(wanted).toEqual(["floe_broker_produce_bytes_per_second"]);
    expect(adapterRules.rules.map((r) => r.name.as)).toEqual(wanted);
    for (const r of adapterRules.rules) {
      for (const n of metricNames(r.seriesQuery)) expect(exported.broker.has(n), n).toBe(true);
      expect(new RegExp(r.name.matches).test("floe_broker_produce_bytes_total")).toBe(true);
      // A per-second rate of a counter, per pod.
      expect(r.metricsQuery).toMatch(/rate\(<<\.Series>>\{<<\.LabelMatchers>>\}\[\w+\]\)\) by \(<<\.GroupBy>>\)/);
    }
    const cm = render(["prometheusAdapter.rulesConfigMap=true"]).find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-adapter-rules")) as unknown as { data: Record<string, string> };
    expect(parse(cm.data["config.yaml"]!)).toEqual(adapterRules);
  });
});
