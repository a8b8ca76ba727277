import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CRD_PATH, renderCrd, renderUserCrd, USER_CRD_PATH } from "./render-crd.js";
import { streamUserCrd } from "./streamuser.js";
import { streamClusterCrd } from "./crd.js";

describe("StreamCluster CRD", () => {
  it("matches the committed crds/ file (run `npm run gen:crds` after changing crd.ts)", () => {
    expect(fs.readFileSync(CRD_PATH, "utf8")).toBe(renderCrd());
  });

  it("has status and scale subresources wired to the fields an HPA uses", () => {
    const crd = parse(renderCrd());
    const v = crd.spec.versions[0];
    expect(v.subresources).toEqual({ status: {}, scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.replicas", labelSelectorPath: ".status.selector" } });
    expect(v.additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual(["Ready", "Brokers", "Desired", "Zones", "WAL", "Bootstrap", "Age"]);
  });

  it("gives every CEL rule a message that says what to change", () => {
    const rules: { rule: string; message: string }[] = [];
    const walk = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === "object") {
        for (const [k, v] of Object.entries(node)) {
          if (k === "x-kubernetes-validations") rules.push(...(v as typeof rules));
          else walk(v);
        }
      }
    };
    walk(streamClusterCrd());
    expect(rules.length).toBeGreaterThanOrEqual(10);
    for (const r of rules) expect(r.message.length, r.rule).toBeGreaterThan(15);
  });
});

describe("StreamUser CRD", () => {
  it("matches the committed crds/ file (run `npm run gen:crds` after changing streamuser.ts)", () => {
    expect(fs.readFileSync(USER_CRD_PATH, "utf8")).toBe(renderUserCrd());
  });

  it("has a status subresource, the printer columns and a message on every CEL rule", () => {
    const v = parse(renderUserCrd()).spec.versions[0];
    expect(v.subresources).toEqual({ status: {} });
    expect(v.additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual(["Cluster", "Authentication", "Ready", "Secret", "Age"]);
    const rules = JSON.stringify(streamUserCrd()).match(/"rule":"[^"]*","message":"[^"]{16,}"/g) ?? [];
    expect(rules.length).toBe(4);
  });
});
