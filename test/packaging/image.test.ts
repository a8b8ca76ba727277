import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BROKER_NODE_FLAGS } from "../../broker/node-flags.js";
import { freePort } from "../ports.js";
import { parseDockerfile, replayDockerfile, snapshotTree, type Dockerfile, type ReplayedStage } from "./dockerfile.js";

/**
 * The Dockerfile without Docker: its stages are checked, then replayed (npm ci, tsc, the
 * same COPYs) into a temporary folder, and both entrypoints run from the final stage's
 * tree with the image's ENV, WORKDIR, ENTRYPOINT and CMD. The tree's size is the image's
 * app layer on top of node:slim (docs/operations.md records it).
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SIZE_BOUND_MB = 120;

let df: Dockerfile;
let stages: ReplayedStage[];
let image: ReplayedStage;
let tmp: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  df = parseDockerfile(fs.readFileSync(path.join(REPO, "Dockerfile"), "utf8"));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "floe-image-"));
  stages = replayDockerfile(df, REPO, tmp);
  image = stages.at(-1)!;
}, 900_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const appDir = () => path.join(image.root, image.workdir);
const dataDir = () => path.join(image.root, image.env.FLOE_DATA_DIR!);

/** The image's command line, run from its WORKDIR; `cmd` replaces CMD as `docker run image <cmd>` does. */
function run(cmd: string[] | null, env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const [exe, ...args] = [...image.entrypoint, ...(cmd ?? image.cmd)];
  expect(exe).toBe("node");
  // FLOE_DATA_DIR is an absolute path inside the image: point it into the replayed root.
  const child = spawn(process.execPath, args, {
    cwd: appDir(),
    env: { PATH: process.env.PATH!, ...image.env, FLOE_DATA_DIR: dataDir(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return { child, output: () => out };
}

async function until<T>(what: string, fn: () => Promise<T | false>, timeoutMs: number, logs: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => false as const);
    if (v !== false) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} within ${timeoutMs} ms; output:\n${logs().slice(-3000)}`);
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once("exit", (code) => r(code))));

describe("Dockerfile stages", () => {
  it("builds on a Node LTS slim base in every stage, with a separate build stage", () => {
    expect(df.stages.length).toBeGreaterThanOrEqual(2);
    for (const s of df.stages) {
      // Node's LTS lines are the even major versions.
      const m = /^node:(\d+)-[a-z]+-slim$/.exec(s.base);
      expect(m, `stage ${s.name ?? s.index} base ${s.base}`).not.toBeNull();
      expect(Number(m![1]) % 2).toBe(0);
    }
    expect(new Set(df.stages.map((s) => s.base)).size).toBe(1);
  });

  it("installs production dependencies with npm ci --omit=dev for the image, and compiles with tsc in a stage the image does not inherit", () => {
    const fromStage = (dest: string) => image.copies.find((c) => c.dest.replace(/\/$/, "").endsWith(dest))?.from;
    const modules = stages.find((s) => s.stage.name === fromStage("node_modules"))!;
    expect(modules.runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    const dist = stages.find((s) => s.stage.name === fromStage("dist"))!;
    expect(dist.runs.some((r) => /\btsc\b/.test(r))).toBe(true);
    expect(image.stage.base).toBe(df.stages[0]!.base);
    // Nothing in the final stage needs a shell or writes a layer beyond the COPYs.
    expect(image.runs).toEqual([]);
  });

  it("runs as a numeric non-root user that owns the data volume, the only writable path", () => {
    expect(image.user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(image.volumes).toEqual([image.env.FLOE_DATA_DIR]);
    const dataCopy = image.copies.find((c) => c.dest === image.env.FLOE_DATA_DIR);
    expect(dataCopy?.chown).toBe(image.user);
    if (process.getuid?.() === 0) expect(fs.statSync(dataDir()).uid).toBe(Number(image.user!.split(":")[0]));
  });

  it("carries OCI labels, one entrypoint and the broker as the default command", () => {
    for (const k of ["title", "description", "version", "licenses"]) expect(image.labels[`org.opencontainers.image.${k}`], k).toBeTruthy();
    expect(image.entrypoint[0]).toBe("node");
    expect(image.cmd).toEqual([...BROKER_NODE_FLAGS, "dist/broker/main.js"]);
    // One version everywhere: the image label, package.json and the chart's appVersion.
    const version = (JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string }).version;
    expect(image.labels["org.opencontainers.image.version"]).toBe(version);
    expect(fs.readFileSync(path.join(REPO, "charts/floe/Chart.yaml"), "utf8")).toMatch(new RegExp(`^appVersion: "${version.replace(/\./g, "\\.")}"$`, "m"));
    expect(image.expose).toEqual(expect.arrayContaining([9092, 9080, 8080]));
  });

  it("ships compiled entrypoints and production dependencies only, in a small tree", () => {
    for (const f of ["dist/broker/main.js", "dist/src/operator/main.js", "package.json"]) expect(fs.existsSync(path.join(appDir(), f)), f).toBe(true);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) expect(fs.existsSync(path.join(appDir(), "node_modules", dep)), dep).toBe(true);
    for (const dep of Object.keys(pkg.devDependencies)) expect(fs.existsSync(path.join(appDir(), "node_modules", dep)), `dev dependency ${dep} in the image`).toBe(false);
    const shipped = execFileSync("find", ["dist", "-name", "*.test.js", "-o", "-name", "*.conformance.js"], { cwd: appDir(), encoding: "utf8" }).trim();
    expect(shipped).toBe("");
    expect(fs.existsSync(path.join(appDir(), "dist/test"))).toBe(false);
    const kb = Number(execFileSync("du", ["-sk", image.root], { encoding: "utf8" }).split(/\s/)[0]);
    // The app layer's size, as the docs quote it (printed so a change is visible in the log).
    console.log(`image app layer (replayed final stage): ${(kb / 1024).toFixed(1)} MiB`);
    expect(kb / 1024).toBeLessThan(SIZE_BOUND_MB);
  });
});

describe("entrypoints run from the image's tree", () => {
  it("the default command is a broker: Kafka clients produce and consume, /healthz and /readyz answer, nothing outside the data folder is written", async () => {
    const before = snapshotTree(appDir());
    const [kafkaPort, httpPort] = [await freePort(), await freePort()];
    const { child, output } = run(null, { FLOE_HOST: "127.0.0.1", FLOE_PORT: String(kafkaPort), FLOE_HTTP_PORT: String(httpPort), FLOE_UPLOAD_INTERVAL_MS: "200" });
    await until("broker /healthz", async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status === 200 || false, 30_000, output);
    await until("broker /readyz", async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200 || false, 30_000, output);
    const kafka = new Kafka({ clientId: "image-test", brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 5 } });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: "image-smoke", messages: [{ key: "k", value: "from the image tree" }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: "image-test" });
    await consumer.connect();
    await consumer.subscribe({ topic: "image-smoke", fromBeginning: true });
    const got = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no message consumed; broker output:\n${output().slice(-2000)}`)), 30_000);
      void consumer.run({ eachMessage: async ({ message }) => (clearTimeout(t), resolve(message.value!.toString())) });
    });
    await consumer.disconnect();
    expect(got).toBe("from the image tree");
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    expect(metrics).toMatch(/floe_broker_produce_records_total\{[^}]*\} [1-9]/);
    child.kill("SIGTERM");
    expect(await exited(child)).toBe(0);
    // readOnlyRootFilesystem: the app tree is exactly as built; the broker wrote only to its data folder.
    expect(snapshotTree(appDir())).toEqual(before);
    expect(fs.readdirSync(dataDir()).length).toBeGreaterThan(0);
  }, 120_000);

  it("the operator command starts and exits with a clear configuration error when it has no Kubernetes credentials", async () => {
    const { child, output } = run(["dist/src/operator/main.js"], { KUBECONFIG: path.join(tmp, "no-such-kubeconfig"), FLOE_OPERATOR_HTTP_PORT: String(await freePort()) });
    const code = await exited(child);
    expect(output()).toMatch(/^floe operator: no Kubernetes credentials: .*no-such-kubeconfig.*set KUBECONFIG\n$/);
    expect(code).toBe(2);
  }, 30_000);

  it("the operator command rejects a malformed setting by name", async () => {
    const { child, output } = run(["dist/src/operator/main.js"], { FLOE_OPERATOR_HTTP_PORT: "eighty" });
    expect(await exited(child)).toBe(2);
    expect(output()).toMatch(/FLOE_OPERATOR_HTTP_PORT must be an integer, got eighty/);
  }, 30_000);
});
