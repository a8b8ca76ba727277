import type { StreamCluster } from "../api/types.js";
import { configMap } from "./broker-config.js";
import { type Manifest, spreadReplicas } from "./common.js";
import { horizontalPodAutoscaler, podDisruptionBudget, serviceAccount } from "./policy.js";
import { bootstrapService, headlessService } from "./services.js";
import { statefulSet } from "./statefulset.js";
import { certificate } from "./security.js";
import { ebsStorageClass, nfsClaim } from "./storage.js";

/**
 * Every Kubernetes object a StreamCluster is reconciled into, in apply order. Pure: the
 * same spec always gives the same manifests, so reconciling is idempotent by construction.
 */
export function desiredChildren(sc: StreamCluster, replicas = sc.spec.replicas ?? sc.spec.autoscaling?.minReplicas ?? 0): Manifest[] {
  const perZone = spreadReplicas(replicas, sc.spec.zones);
  const out: (Manifest | null)[] = [
    ebsStorageClass(sc),
    serviceAccount(sc),
    configMap(sc),
    nfsClaim(sc),
    certificate(sc),
    headlessService(sc),
    bootstrapService(sc),
    ...sc.spec.zones.map((zone, i) => statefulSet(sc, zone, i, perZone.get(zone)!)),
    ...sc.spec.zones.map((zone) => podDisruptionBudget(sc, zone)),
    horizontalPodAutoscaler(sc),
  ];
  return out.filter((m): m is Manifest => m !== null);
}

export * from "./common.js";
export { brokerSettings } from "./broker-config.js";
export * from "./security.js";
