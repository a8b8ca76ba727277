// Writes crds/floe.dev_streamclusters.yaml from crd.ts (`npm run gen:crds`); the drift
// test in crd.test.ts fails when the committed file is stale.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { streamClusterCrd } from "./crd.js";

export const CRD_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../crds/floe.dev_streamclusters.yaml");

export function renderCrd(): string {
  return "# GENERATED from src/operator/api/crd.ts by `npm run gen:crds` — do not edit.\n" + stringify(streamClusterCrd(), { lineWidth: 0 });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  fs.writeFileSync(CRD_PATH, renderCrd());
  console.log(`wrote ${path.relative(process.cwd(), CRD_PATH)}`);
}
