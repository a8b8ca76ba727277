import type { Logger } from "pino";
import type { StreamCluster } from "./api/types.js";
import { KubeError, type KubeClient, type KubeObject } from "./kube/client.js";
import { R, resourceOf } from "./kube/resources.js";
import { desiredChildren, names, spreadReplicas } from "./specs/index.js";
import { computeStatus, type ZoneObservation } from "./streamcluster.status.js";
import type { OperatorMetrics } from "./metrics.js";
import type { EventRecorder } from "./events.js";

export const PAUSE_ANNOTATION = "floe.dev/paused";

/**
 * Reconciles one StreamCluster: applies every child with server-side apply (the operator
 * owns exactly the fields it sets), then reports what the zone StatefulSets say in the
 * status. Idempotent: the children are a pure function of the spec and the replica count.
 */
export class StreamClusterReconciler {
  constructor(
    private readonly client: KubeClient,
    private readonly logger: Logger,
    private readonly metrics: OperatorMetrics,
    private readonly events: EventRecorder,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Returns a delay after which to look again (e.g. brokers still starting), or null. */
  async reconcile(sc: StreamCluster): Promise<number | null> {
    const log = this.logger.child({ streamcluster: `${sc.metadata.namespace}/${sc.metadata.name}` });
    if (sc.metadata.annotations?.[PAUSE_ANNOTATION] === "true") {
      log.info("reconciling is paused by annotation");
      await this.patchStatus(sc, {
        ...(sc.status ?? {}),
        conditions: (sc.status?.conditions ?? []).filter((c) => c.type !== "Ready").concat([{ type: "Ready", status: "Unknown", reason: "ReconcilePaused", message: `Reconciling is paused: remove the ${PAUSE_ANNOTATION} annotation to resume`, observedGeneration: sc.metadata.generation ?? 0, lastTransitionTime: this.clock().toISOString().replace(/\.\d{3}Z$/, "Z") }]),
      });
      return null;
    }
    if (sc.metadata.deletionTimestamp) return null; // children go with their owner (garbage collection)

    const replicas = sc.spec.replicas ?? sc.spec.autoscaling?.minReplicas ?? 0;
    let failure: string | null = null;
    const before = new Map<string, number | null>();
    for (const zone of sc.spec.zones) {
      const existing = await this.client.getOrNull<KubeObject & { spec?: { replicas?: number } }>(R.statefulSet, sc.metadata.namespace, names.statefulSet(sc, zone));
      before.set(zone, existing ? (existing.spec?.replicas ?? 0) : null);
    }
    for (const child of desiredChildren(sc, replicas)) {
      try {
        await this.client.apply(resourceOf(child.kind), child as KubeObject);
      } catch (err) {
        failure = `applying ${child.kind} ${child.metadata.name}: ${(err as Error).message}`;
        await this.events.warn(sc, "ApplyFailed", failure);
        if (err instanceof KubeError && err.isTemporary) throw err;
        break;
      }
    }
    const perZone = spreadReplicas(replicas, sc.spec.zones);
    for (const [zone, was] of before) {
      const now = perZone.get(zone)!;
      if (was === null) await this.events.normal(sc, "ZoneCreated", `Created StatefulSet ${names.statefulSet(sc, zone)} with ${now} brokers in ${zone}`);
      else if (was !== now) await this.events.normal(sc, "Scaled", `Scaled ${zone} from ${was} to ${now} brokers`);
    }
    const zones: ZoneObservation[] = [];
    for (const zone of sc.spec.zones) {
      const set = await this.client.getOrNull<KubeObject & { status?: { readyReplicas?: number } }>(R.statefulSet, sc.metadata.namespace, names.statefulSet(sc, zone));
      zones.push({ zone, desired: perZone.get(zone)!, ready: set?.status?.readyReplicas ?? 0, exists: set !== null });
    }
    const status = computeStatus(sc, replicas, zones, this.clock(), failure);
    await this.patchStatus(sc, status);
    if (failure) throw new Error(failure);
    log.debug({ replicas, ready: status.readyReplicas }, "reconciled");
    // Brokers still starting: look again soon rather than wait for the next event.
    return status.readyReplicas === replicas ? null : 5000;
  }

  private async patchStatus(sc: StreamCluster, status: StreamCluster["status"]): Promise<void> {
    await this.client.mergePatch(R.streamCluster, sc.metadata.namespace, sc.metadata.name, { status }, "status");
  }
}
