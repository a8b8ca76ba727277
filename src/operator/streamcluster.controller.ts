import type { Logger } from "pino";
import type { StreamCluster } from "./api/types.js";
import { KubeError, type KubeClient, type KubeObject } from "./kube/client.js";
import { R, resourceOf } from "./kube/resources.js";
import { desiredChildren, names, operatorCanLogIn, resolveSecurity, spreadReplicas } from "./specs/index.js";
import { ensureGeneratedTls, ensureOperatorCredentials } from "./credentials.js";
import { computeStatus, setCondition, type ZoneObservation } from "./streamcluster.status.js";
import type { OperatorMetrics } from "./metrics.js";
import type { EventRecorder } from "./events.js";
import { CLOUD_FINALIZER, CloudResources, managesCloud, type CloudCondition, type CloudOutcome } from "./aws/cloud.js";

export const PAUSE_ANNOTATION = "floe.dev/paused";

/**
 * Thrown after the status already says what went wrong (a cloud call failed): the work queue
 * retries with backoff, and the operator logs it as a requeue, not an error.
 */
export class RequeueWithBackoff extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RequeueWithBackoff";
  }
}

/**
 * Reconciles one StreamCluster: brings its cloud resources in line (aws/, never throwing for
 * a cloud failure), applies every child with server-side apply (the operator owns exactly
 * the fields it sets), then reports what the zone StatefulSets and the cloud say in the
 * status. Idempotent: the children are a pure function of the spec and the replica count.
 */
export class StreamClusterReconciler {
  constructor(
    private readonly client: KubeClient,
    private readonly logger: Logger,
    private readonly metrics: OperatorMetrics,
    private readonly events: EventRecorder,
    private readonly cloud: CloudResources,
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
    // Children go with their owner (garbage collection); cloud resources need the finalizer.
    if (sc.metadata.deletionTimestamp) return this.finalize(sc);
    await this.syncFinalizer(sc);

    const cloud = await this.cloud.ensure(sc);
    await this.record(sc, cloud);

    // The brokers mount the operator's login as their users file: it must exist before them
    // (also when only the external listener has SASL and the operator cannot log in).
    if (operatorCanLogIn(sc) || resolveSecurity(sc).mechanisms.length > 0) await ensureOperatorCredentials(this.client, sc);
    if (sc.spec.security?.tls?.generated) await ensureGeneratedTls(this.client, sc);

    const replicas = sc.spec.replicas ?? sc.spec.autoscaling?.minReplicas ?? 0;
    let failure: string | null = null;
    const before = new Map<string, number | null>();
    for (const zone of sc.spec.zones) {
      const existing = await this.client.getOrNull<KubeObject & { spec?: { replicas?: number } }>(R.statefulSet, sc.metadata.namespace, names.statefulSet(sc, zone));
      before.set(zone, existing ? (existing.spec?.replicas ?? 0) : null);
    }
    const applied = new Set<string>();
    for (const child of desiredChildren(sc, replicas)) {
      try {
        await this.client.apply(resourceOf(child.kind), child as KubeObject);
        applied.add(`${child.kind}/${child.metadata.name}`);
      } catch (err) {
        failure = `applying ${child.kind} ${child.metadata.name}: ${(err as Error).message}`;
        await this.events.warn(sc, "ApplyFailed", failure);
        if (err instanceof KubeError && err.isTemporary) throw err;
        break;
      }
    }
    const perZone = spreadReplicas(replicas, sc.spec.zones);
    for (const [zone, was] of before) {
      // Only what was applied: a zone whose apply failed is reported on the pass that creates it.
      if (!applied.has(`StatefulSet/${names.statefulSet(sc, zone)}`)) continue;
      const now = perZone.get(zone)!;
      if (was === null) await this.events.normal(sc, "ZoneCreated", `Created StatefulSet ${names.statefulSet(sc, zone)} with ${now} brokers in ${zone}`);
      else if (was !== now) await this.events.normal(sc, "Scaled", `Scaled ${zone} from ${was} to ${now} brokers`);
    }
    const zones: ZoneObservation[] = [];
    for (const zone of sc.spec.zones) {
      const set = await this.client.getOrNull<KubeObject & { status?: { readyReplicas?: number } }>(R.statefulSet, sc.metadata.namespace, names.statefulSet(sc, zone));
      zones.push({ zone, desired: perZone.get(zone)!, ready: set?.status?.readyReplicas ?? 0, exists: set !== null });
    }
    const status = computeStatus(sc, replicas, zones, this.clock(), failure, cloud);
    await this.patchStatus(sc, status);
    if (failure) throw new Error(failure);
    if (cloud.retry) throw new RequeueWithBackoff([cloud.bucket, cloud.endpoint].filter((c) => c.status !== "True").map((c) => `${c.reason}: ${c.message}`).join("; "));
    log.debug({ replicas, ready: status.readyReplicas }, "reconciled");
    // Brokers still starting, or an endpoint still pending: look again soon rather than wait for the next event.
    const again = [status.readyReplicas === replicas ? null : 5000, cloud.recheckMs].filter((d): d is number => d !== null);
    return again.length ? Math.min(...again) : null;
  }

  /** The finalizer is there exactly while the operator manages cloud resources for the cluster. */
  private async syncFinalizer(sc: StreamCluster): Promise<void> {
    const finalizers = sc.metadata.finalizers ?? [];
    const has = finalizers.includes(CLOUD_FINALIZER);
    if (has === managesCloud(sc)) return;
    const next = has ? finalizers.filter((f) => f !== CLOUD_FINALIZER) : [...finalizers, CLOUD_FINALIZER];
    // resourceVersion makes this a compare-and-swap: a concurrent change is a 409, retried.
    await this.client.mergePatch(R.streamCluster, sc.metadata.namespace, sc.metadata.name, { metadata: { finalizers: next, resourceVersion: sc.metadata.resourceVersion } });
  }

  private async finalize(sc: StreamCluster): Promise<number | null> {
    const finalizers = sc.metadata.finalizers ?? [];
    if (!finalizers.includes(CLOUD_FINALIZER)) return null;
    const out = await this.cloud.cleanUp(sc);
    await this.record(sc, out);
    if (out.done) {
      await this.client.mergePatch(R.streamCluster, sc.metadata.namespace, sc.metadata.name, { metadata: { finalizers: finalizers.filter((f) => f !== CLOUD_FINALIZER), resourceVersion: sc.metadata.resourceVersion } });
      return null;
    }
    const now = this.clock();
    const generation = sc.metadata.generation ?? 0;
    let conditions = sc.status?.conditions;
    const cond = (type: "BucketReady" | "EndpointReady", c: CloudCondition) => ({ type, ...c, observedGeneration: generation });
    conditions = setCondition(conditions, cond("BucketReady", out.bucket), now);
    conditions = setCondition(conditions, cond("EndpointReady", out.endpoint), now);
    await this.patchStatus(sc, { ...(sc.status ?? {}), conditions });
    if (out.retry) throw new RequeueWithBackoff(`deleting cloud resources: ${[out.bucket, out.endpoint].filter((c) => c.status !== "True").map((c) => c.message).join("; ")}`);
    return out.recheckMs ?? 1000;
  }

  private async record(sc: StreamCluster, out: CloudOutcome): Promise<void> {
    for (const e of out.events) await (e.type === "Normal" ? this.events.normal(sc, e.reason, e.message) : this.events.warn(sc, e.reason, e.message));
  }

  private async patchStatus(sc: StreamCluster, status: StreamCluster["status"]): Promise<void> {
    await this.client.mergePatch(R.streamCluster, sc.metadata.namespace, sc.metadata.name, { status }, "status");
  }
}
