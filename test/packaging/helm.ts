import { execFileSync, spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import type { KubeClient, KubeObject, ResourceRef } from "../../src/operator/kube/client.js";

/** helm built from the Go module proxy by tools/helm/install.sh (cached), and small helpers around it. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CHART = path.join(REPO, "charts/floe");
const CACHE = process.env.FLOE_CACHE ?? path.join(os.homedir(), ".cache/floe");
export const HELM = path.join(CACHE, "bin/helm");
/** helm built without release ldflags assumes Kubernetes 1.20 for `template`; say which we target. */
export const KUBE_VERSION = "1.33.0";

export function installHelm(): void {
  execFileSync("bash", [path.join(REPO, "tools/helm/install.sh")], { stdio: "inherit", timeout: 1_800_000 });
}

export function helm(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(HELM, args, { encoding: "utf8", timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` with `--set`-style values; throws with helm's message when rendering fails. */
export function render(values: string[] = [], opts: { release?: string; namespace?: string; includeCrds?: boolean } = {}): KubeObject[] {
  const args = ["template", opts.release ?? "floe", CHART, "-n", opts.namespace ?? "floe-system", "--kube-version", KUBE_VERSION, ...(opts.includeCrds ? ["--include-crds"] : []), ...values.flatMap((v) => ["--set", v])];
  const r = helm(args);
  if (r.status !== 0) throw new Error(`helm ${args.join(" ")} failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((d): d is KubeObject => d !== null);
}

/** Where a kind lives, from the API server's own discovery (so any kind the chart renders can be applied). */
export async function discover(client: KubeClient, apiVersion: string, kind: string): Promise<ResourceRef> {
  const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const list = await client.request<{ resources: { name: string; kind: string; namespaced: boolean }[] }>("GET", base);
  const r = list.resources.find((x) => x.kind === kind && !x.name.includes("/"));
  if (!r) throw new Error(`the API server does not serve ${kind} in ${apiVersion}`);
  return { apiVersion, plural: r.name, namespaced: r.namespaced };
}
