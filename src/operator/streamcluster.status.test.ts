import { describe, expect, it } from "vitest";
import type { StreamCluster } from "./api/types.js";
import { computeStatus, type CloudObservation, type ZoneObservation } from "./streamcluster.status.js";

const sc: StreamCluster = {
  apiVersion: "floe.dev/v1alpha1",
  kind: "StreamCluster",
  metadata: { name: "events", namespace: "streaming", generation: 4 },
  spec: { replicas: 2, zones: ["a", "b"], wal: { type: "s3" }, storage: { bucket: "b" } },
};
const allReady: ZoneObservation[] = [
  { zone: "a", desired: 1, ready: 1, exists: true },
  { zone: "b", desired: 1, ready: 1, exists: true },
];
const ok: CloudObservation = {
  bucket: { status: "True", reason: "BucketConfigured", message: "fine" },
  endpoint: { status: "True", reason: "NotRequested", message: "off" },
};
const now = new Date("2026-12-02T06:00:00Z");
const cond = (s: ReturnType<typeof computeStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;

describe("status conditions", () => {
  it("list BucketReady and EndpointReady with the generation, and Ready when all are True", () => {
    const s = computeStatus(sc, 2, allReady, now, null, ok);
    expect(s.conditions!.map((c) => c.type)).toEqual(["BrokersReady", "BucketReady", "Degraded", "EndpointReady", "Ready"]);
    expect(cond(s, "BucketReady")).toMatchObject({ status: "True", reason: "BucketConfigured", observedGeneration: 4 });
    expect(cond(s, "Ready")).toMatchObject({ status: "True", reason: "ClusterReady" });
  });

  it("hold Ready False while the bucket or the endpoint is not ready, naming the first blocker", () => {
    const denied = computeStatus(sc, 2, allReady, now, null, { ...ok, bucket: { status: "False", reason: "AccessDenied", message: "setting lifecycle rules of b: AccessDenied" } });
    expect(cond(denied, "BucketReady")).toMatchObject({ status: "False", reason: "AccessDenied" });
    expect(cond(denied, "Ready")).toMatchObject({ status: "False", reason: "BucketNotReady", message: "setting lifecycle rules of b: AccessDenied" });
    // A cloud failure is not a failed reconcile of the Kubernetes objects.
    expect(cond(denied, "Degraded")).toMatchObject({ status: "False" });
    const pending = computeStatus(sc, 2, allReady, now, null, { ...ok, endpoint: { status: "False", reason: "EndpointPending", message: "vpce-1 is pending" } });
    expect(cond(pending, "Ready")).toMatchObject({ status: "False", reason: "EndpointNotReady", message: "vpce-1 is pending" });
  });

  it("keep a condition's transition time while its status holds", () => {
    const first = computeStatus(sc, 2, allReady, now, null, { ...ok, bucket: { status: "False", reason: "Throttled", message: "x" } });
    const later = computeStatus({ ...sc, status: first }, 2, allReady, new Date("2026-12-02T06:05:00Z"), null, { ...ok, bucket: { status: "False", reason: "AccessDenied", message: "y" } });
    expect(cond(later, "BucketReady").lastTransitionTime).toBe("2026-12-02T06:00:00Z");
    const fixed = computeStatus({ ...sc, status: later }, 2, allReady, new Date("2026-12-02T06:10:00Z"), null, ok);
    expect(cond(fixed, "BucketReady").lastTransitionTime).toBe("2026-12-02T06:10:00Z");
  });
});
