import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { KubeClient, type KubeConfig } from "../../src/operator/kube/client.js";
import { freePort } from "../ports.js";

/**
 * A real kube-apiserver backed by a real etcd, both built from the Go module proxy by
 * tools/k8s/install.sh and cached. No kubelet, no controller-manager: objects are stored
 * and validated (OpenAPI, CEL, SSA, subresources, watches) exactly as in a cluster, but
 * nothing runs pods. Tests play the missing controllers where they need to (e.g. setting
 * a StatefulSet's ready replicas).
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CACHE = process.env.FLOE_CACHE ?? path.join(os.homedir(), ".cache/floe");

export interface ApiServer {
  config: KubeConfig;
  kubeconfigPath: string;
  client(fieldManager?: string): KubeClient;
  stop(): Promise<void>;
}

/** Polls until `fn` gives a truthy value; on timeout, says what was awaited, the last error and the logs. */
export async function eventually<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, logs: () => string = () => ""): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}\n${logs().slice(-3000)}`);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not become ready in ${timeoutMs} ms:\n${logs().slice(-4000)}`);
}

export function installKubeBinaries(): void {
  execFileSync("bash", [path.join(REPO, "tools/k8s/install.sh")], { stdio: "inherit", timeout: 3_000_000 });
}

export async function startApiServer(): Promise<ApiServer> {
  installKubeBinaries();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-k8s-"));
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const procs: ChildProcess[] = [];
  let logs = "";
  const collect = (p: ChildProcess, name: string) => {
    p.stdout?.on("data", (d) => (logs += `[${name}] ${d}`));
    p.stderr?.on("data", (d) => (logs = (logs + `[${name}] ${d}`).slice(-200_000)));
  };

  const etcd = spawn(path.join(CACHE, "bin/floe-etcd"), [
    "--data-dir", path.join(dir, "etcd"),
    "--listen-client-urls", `http://127.0.0.1:${etcdClient}`,
    "--advertise-client-urls", `http://127.0.0.1:${etcdClient}`,
    "--listen-peer-urls", `http://127.0.0.1:${etcdPeer}`,
    "--initial-advertise-peer-urls", `http://127.0.0.1:${etcdPeer}`,
    "--initial-cluster", `default=http://127.0.0.1:${etcdPeer}`,
    "--log-level", "warn",
    "--unsafe-no-fsync",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(etcd);
  collect(etcd, "etcd");
  await until("etcd", async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`)).ok, 30_000, () => logs);

  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  fs.writeFileSync(path.join(dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
  fs.writeFileSync(path.join(dir, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }));
  const token = randomBytes(24).toString("hex");
  fs.writeFileSync(path.join(dir, "tokens.csv"), `${token},floe-test-admin,1,"system:masters"\n`);
  const certDir = path.join(dir, "certs");
  const apiserver = spawn(path.join(CACHE, "bin/floe-apiserver"), [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    `--secure-port=${apiPort}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--cert-dir=${certDir}`,
    `--token-auth-file=${path.join(dir, "tokens.csv")}`,
    "--authorization-mode=RBAC",
    `--service-account-issuer=https://kubernetes.default.svc`,
    `--service-account-key-file=${path.join(dir, "sa.pub")}`,
    `--service-account-signing-key-file=${path.join(dir, "sa.key")}`,
    "--service-cluster-ip-range=10.96.0.0/16",
    "--allow-privileged=true",
    "--disable-admission-plugins=ServiceAccount",
    // No node network here: the built-in "kubernetes" Service endpoints would need a non-loopback address.
    "--endpoint-reconciler-type=none",
    "--v=0",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(apiserver);
  collect(apiserver, "apiserver");
  const config: KubeConfig = { server: `https://127.0.0.1:${apiPort}`, token, insecureSkipTlsVerify: true };
  const probe = new KubeClient(config);
  await until("kube-apiserver", async () => {
    await probe.request("GET", "/readyz");
    // The default namespace and RBAC bootstrap finish a little after /readyz.
    await probe.request("GET", "/api/v1/namespaces/default");
    return true;
  }, 120_000, () => logs);
  probe.close();
  const kubeconfigPath = path.join(dir, "kubeconfig");
  fs.writeFileSync(
    kubeconfigPath,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{name: test, cluster: {server: " + JSON.stringify(config.server) + ", insecure-skip-tls-verify: true}}]",
      "users: [{name: admin, user: {token: " + JSON.stringify(token) + "}}]",
      "contexts: [{name: test, context: {cluster: test, user: admin}}]",
      "current-context: test",
      "",
    ].join("\n"),
  );
  return {
    config,
    kubeconfigPath,
    client: (fieldManager?: string) => new KubeClient(config, fieldManager),
    async stop() {
      for (const p of procs.reverse()) {
        const exited = new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once("exit", r)));
        p.kill("SIGTERM");
        // kube-apiserver's graceful shutdown can wait out open watches for a minute: a test
        // server has nothing to keep, so it gets 5 s and then SIGKILL.
        const late = setTimeout(() => p.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(late);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
