import { describe, expect, it } from "vitest";
import { SPEC_SCHEMA, STATUS_SCHEMA } from "../../src/operator/api/crd.js";
import { schemaFields, schemaRules } from "./crd-reference.js";

describe("CRD reference rows", () => {
  it("list every field with its type, default and bounds", () => {
    const rows = new Map(schemaFields(SPEC_SCHEMA, "spec").map((r) => [r.path, r]));
    expect(rows.get("spec.zones")).toMatchObject({ type: "array of string", validation: "required; 1 … 16 items; each of length 1 … 63" });
    expect(rows.get("spec.wal.type")?.validation).toBe("required; one of `ebs`, `nfs`, `s3`");
    expect(rows.get("spec.autoscaling.minReplicas")).toMatchObject({ default: "`3`", validation: "≥ 1" });
    expect(rows.get("spec.storage.prefix")?.default).toBe('`""`');
    expect(rows.get("spec.brokerConfig")?.type).toBe("map of string");
    // A pipe inside a pattern would split the markdown cell.
    expect(rows.get("spec.wal.ebs.size")?.validation).toContain("Ki\\|Mi");
  });

  it("descend into arrays of objects", () => {
    const paths = schemaFields(STATUS_SCHEMA, "status").map((r) => r.path);
    expect(paths).toContain("status.conditions[].reason");
    expect(paths).toContain("status.brokers[].brokerId");
  });

  it("list every CEL rule with the object it guards", () => {
    const rules = schemaRules(SPEC_SCHEMA, "spec");
    expect(rules.find((r) => r.message.includes("wal.type cannot change"))?.path).toBe("spec.wal");
    expect(rules.filter((r) => r.path === "spec")).toHaveLength(7);
    expect(rules.find((r) => r.message.includes("advertisedHost must start with"))?.path).toBe("spec.listeners.external");
    expect(rules.every((r) => !/(?<!\\)\|/.test(r.rule))).toBe(true);
  });
});
