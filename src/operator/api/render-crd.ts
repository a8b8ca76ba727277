// Writes crds/floe.dev_streamclusters.yaml and the Helm chart's copy of it
// (charts/floe/crds/, where Helm installs CRDs from) from crd.ts (`npm run gen:crds`); the
// drift tests in crd.test.ts and test/packaging/chart.test.ts fail when either is stale.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { streamClusterCrd } from "./crd.js";

export const CRD_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../crds/floe.dev_streamclusters.yaml");

export const CHART_CRD_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../charts/floe/crds/floe.dev_streamclusters.yaml");

export function renderCrd(): string {
  return "# GENERATED from src/operator/api/crd.ts by `npm run gen:crds` — do not edit.\n" + stringify(streamClusterCrd(), { lineWidth: 0 });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  for (const file of [CRD_PATH, CHART_CRD_PATH]) {
    fs.writeFileSync(file, renderCrd());
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
