import type { Condition, StreamCluster, StreamClusterStatus } from "./api/types.js";
import { bootstrapAddress, brokerId, names, selectorString, spreadReplicas } from "./specs/index.js";
import type { CloudCondition } from "./aws/cloud.js";

/**
 * What the status says, computed from the spec and the zone StatefulSets' own status.
 * Conditions keep their lastTransitionTime while their status does not change, as the
 * Kubernetes API conventions ask.
 */
export function setCondition(existing: Condition[] | undefined, next: Omit<Condition, "lastTransitionTime">, now: Date): Condition[] {
  const list = (existing ?? []).filter((c) => c.type !== next.type);
  const old = existing?.find((c) => c.type === next.type);
  const lastTransitionTime = old && old.status === next.status ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, "Z");
  return [...list, { ...next, lastTransitionTime }].sort((a, b) => a.type.localeCompare(b.type));
}

export interface ZoneObservation {
  zone: string;
  desired: number;
  ready: number;
  exists: boolean;
}

/** BucketReady and EndpointReady as the cloud reconciler found them. */
export interface CloudObservation {
  bucket: CloudCondition;
  endpoint: CloudCondition;
}

export function computeStatus(sc: StreamCluster, replicas: number, zones: ZoneObservation[], now: Date, failure: string | null, cloud: CloudObservation): StreamClusterStatus {
  const generation = sc.metadata.generation ?? 0;
  const ready = zones.reduce((n, z) => n + Math.min(z.ready, z.desired), 0);
  const perZone = spreadReplicas(replicas, sc.spec.zones);
  const brokers = sc.spec.zones.flatMap((zone, zi) => Array.from({ length: perZone.get(zone)! }, (_, ordinal) => ({ pod: `${names.statefulSet(sc, zone)}-${ordinal}`, brokerId: brokerId(zi, ordinal), zone })));
  const allReady = ready === replicas;
  let conditions = sc.status?.conditions;
  conditions = setCondition(
    conditions,
    {
      type: "BrokersReady",
      status: allReady ? "True" : "False",
      reason: allReady ? "AllBrokersReady" : "BrokersStarting",
      message: `${ready} of ${replicas} brokers ready (${zones.map((z) => `${z.zone}: ${z.ready}/${z.desired}`).join(", ")})`,
      observedGeneration: generation,
    },
    now,
  );
  conditions = setCondition(
    conditions,
    failure
      ? { type: "Degraded", status: "True", reason: "ReconcileFailed", message: failure, observedGeneration: generation }
      : { type: "Degraded", status: "False", reason: "ReconcileSucceeded", message: "All child objects are applied", observedGeneration: generation },
    now,
  );
  conditions = setCondition(conditions, { type: "BucketReady", ...cloud.bucket, observedGeneration: generation }, now);
  conditions = setCondition(conditions, { type: "EndpointReady", ...cloud.endpoint, observedGeneration: generation }, now);
  // The first thing in the way, in the order a user would fix them.
  const blocker = failure
    ? { reason: "ReconcileFailed", message: failure }
    : cloud.bucket.status !== "True"
      ? { reason: "BucketNotReady", message: cloud.bucket.message }
      : cloud.endpoint.status !== "True"
        ? { reason: "EndpointNotReady", message: cloud.endpoint.message }
        : !allReady
          ? { reason: "BrokersStarting", message: `${ready} of ${replicas} brokers ready` }
          : null;
  conditions = setCondition(
    conditions,
    {
      type: "Ready",
      status: blocker ? "False" : "True",
      reason: blocker?.reason ?? "ClusterReady",
      message: blocker?.message ?? `Bootstrap at ${bootstrapAddress(sc)}`,
      observedGeneration: generation,
    },
    now,
  );
  return {
    observedGeneration: generation,
    conditions,
    replicas,
    readyReplicas: ready,
    selector: selectorString(sc),
    bootstrap: bootstrapAddress(sc),
    zones: zones.map((z) => ({ zone: z.zone, replicas: z.desired, readyReplicas: z.ready })),
    brokers,
  };
}
