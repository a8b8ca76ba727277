import type { StreamCluster } from "../api/types.js";
import { API_VERSION, KIND } from "../api/types.js";
import { type Manifest, metadataFor, names, zoneLabels, commonLabels } from "./common.js";

/** One budget per zone StatefulSet: a cluster-wide budget is not zone-aware. */
export function podDisruptionBudget(sc: StreamCluster, zone: string): Manifest {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: metadataFor(sc, names.pdb(sc, zone), { ...commonLabels(sc), "floe.dev/zone": zone }),
    spec: { maxUnavailable: 1, selector: { matchLabels: zoneLabels(sc, zone) } },
  };
}

/** IRSA-ready: the role ARN annotation comes from spec.serviceAccount.annotations. */
export function serviceAccount(sc: StreamCluster): Manifest {
  const meta = metadataFor(sc, names.serviceAccount(sc));
  return { apiVersion: "v1", kind: "ServiceAccount", metadata: { ...meta, annotations: sc.spec.serviceAccount?.annotations ?? {} } };
}

/**
 * Autoscaling on the StreamCluster's scale subresource, so the operator (not the HPA)
 * decides how replicas spread over zones. Scale out fast, scale in slowly.
 */
export function horizontalPodAutoscaler(sc: StreamCluster): Manifest | null {
  const a = sc.spec.autoscaling;
  if (!a?.enabled) return null;
  const metrics: unknown[] = [];
  if (a.targetCPUUtilizationPercentage !== undefined || a.targetBytesInPerSecondPerBroker === undefined) {
    metrics.push({ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: a.targetCPUUtilizationPercentage ?? 70 } } });
  }
  if (a.targetBytesInPerSecondPerBroker !== undefined) {
    metrics.push({ type: "Pods", pods: { metric: { name: "floe_broker_produce_bytes_per_second" }, target: { type: "AverageValue", averageValue: String(a.targetBytesInPerSecondPerBroker) } } });
  }
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: metadataFor(sc, names.hpa(sc)),
    spec: {
      scaleTargetRef: { apiVersion: API_VERSION, kind: KIND, name: sc.metadata.name },
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics,
      behavior: {
        scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: "Percent", value: 100, periodSeconds: 30 }] },
        scaleDown: { stabilizationWindowSeconds: a.scaleDownStabilizationSeconds ?? 300, policies: [{ type: "Pods", value: 1, periodSeconds: 60 }] },
      },
    },
  };
}
