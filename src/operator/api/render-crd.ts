// Writes the CRDs to crds/ and to the Helm chart's copy (charts/floe/crds/, where Helm
// installs CRDs from), from crd.ts (StreamCluster) and streamuser.ts (StreamUser), by
// `npm run gen:crds`; the drift tests in crd.test.ts and test/packaging/chart.test.ts fail
// when a committed copy is stale.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { streamClusterCrd } from "./crd.js";
import { streamUserCrd } from "./streamuser.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export const CRD_PATH = path.join(REPO, "crds/floe.dev_streamclusters.yaml");
export const CHART_CRD_PATH = path.join(REPO, "charts/floe/crds/floe.dev_streamclusters.yaml");
export const USER_CRD_PATH = path.join(REPO, "crds/floe.dev_streamusers.yaml");
export const CHART_USER_CRD_PATH = path.join(REPO, "charts/floe/crds/floe.dev_streamusers.yaml");

function render(source: string, crd: unknown): string {
  return `# GENERATED from src/operator/api/${source} by \`npm run gen:crds\` — do not edit.\n` + stringify(crd, { lineWidth: 0 });
}

export function renderCrd(): string {
  return render("crd.ts", streamClusterCrd());
}

export function renderUserCrd(): string {
  return render("streamuser.ts", streamUserCrd());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  for (const [file, text] of [[CRD_PATH, renderCrd()], [CHART_CRD_PATH, renderCrd()], [USER_CRD_PATH, renderUserCrd()], [CHART_USER_CRD_PATH, renderUserCrd()]] as const) {
    fs.writeFileSync(file, text);
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
