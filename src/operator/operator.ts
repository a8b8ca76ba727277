import os from "node:os";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { StreamCluster } from "./api/types.js";
import { KubeError, type KubeClient, type KubeObject } from "./kube/client.js";
import { R } from "./kube/resources.js";
import { Informer } from "./informer.js";
import { LeaderElector } from "./leader.js";
import { WorkQueue } from "./workqueue.js";
import { RequeueWithBackoff, StreamClusterReconciler } from "./streamcluster.controller.js";
import { awsClientFactory, type AwsClientFactory } from "./aws/clients.js";
import { CloudResources } from "./aws/cloud.js";
import { secretCredentials } from "./aws/credentials.js";
import { EventRecorder } from "./events.js";
import { createOperatorMetrics } from "./metrics.js";
import type { StreamUser } from "./api/streamuser.js";
import { StreamUserReconciler, type BootstrapResolver } from "./streamuser.controller.js";

/** Namespaced kinds the operator makes for a StreamCluster and watches for drift. */
const OWNED_KINDS = [R.statefulSet, R.service, R.configMap, R.serviceAccount, R.podDisruptionBudget, R.horizontalPodAutoscaler, R.persistentVolumeClaim];

export interface OperatorOptions {
  /** Namespace of the leader-election Lease. */
  leaseNamespace: string;
  leaseName?: string;
  identity?: string;
  /** Watch one namespace, or all when undefined. */
  watchNamespace?: string;
  leaseDurationMs?: number;
  resyncMs?: number;
  workers?: number;
  /** Makes the S3 and EC2 clients (tests and S3-compatible stores override the endpoint). Default: AWS. */
  aws?: AwsClientFactory;
  /** Where to reach a cluster's brokers for StreamUsers. Default: its bootstrap Service. */
  kafkaBootstrap?: BootstrapResolver;
}

/**
 * The operator process's moving parts: leader election first; once leading, informers on
 * StreamClusters and their StatefulSets feed a rate-limited queue that workers drain
 * through the reconciler. Losing the lease stops everything (the process then exits and
 * restarts as a standby).
 */
export class Operator {
  readonly metrics;
  private readonly queue = new WorkQueue();
  private readonly userQueue = new WorkQueue();
  private readonly reconciler: StreamClusterReconciler;
  private readonly userReconciler: StreamUserReconciler;
  private users: Informer<StreamUser & KubeObject> | null = null;
  private readonly elector: LeaderElector;
  private clusters: Informer<StreamCluster & KubeObject> | null = null;
  private children: Informer[] = [];
  private workers: Promise<void>[] = [];
  private stopping = false;

  constructor(private readonly client: KubeClient, private readonly logger: Logger, registry: Registry, private readonly opts: OperatorOptions, private readonly onLostLeadership: () => void = () => {}) {
    this.metrics = createOperatorMetrics(registry);
    const cloud = new CloudResources(opts.aws ?? awsClientFactory(), logger, secretCredentials(client));
    this.reconciler = new StreamClusterReconciler(client, logger, this.metrics, new EventRecorder(client, logger), cloud);
    this.userReconciler = new StreamUserReconciler(client, logger, new EventRecorder(client, logger), opts.kafkaBootstrap);
    this.elector = new LeaderElector(
      client,
      { namespace: opts.leaseNamespace, name: opts.leaseName ?? "floe-operator", identity: opts.identity ?? `${os.hostname()}-${process.pid}`, leaseDurationMs: opts.leaseDurationMs },
      {
        onStartedLeading: () => {
          this.metrics.leader.set(1);
          void this.startControllers();
        },
        onStoppedLeading: () => {
          this.metrics.leader.set(0);
          void this.stop().then(this.onLostLeadership);
        },
      },
      logger,
    );
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  /** Ready to serve: a standby is ready too (it is waiting for the lease, as intended). */
  get ready(): boolean {
    return !this.stopping && (!this.elector.isLeader || (this.clusters?.hasSynced ?? false));
  }

  start(): void {
    this.elector.start();
  }

  private async startControllers(): Promise<void> {
    this.clusters = new Informer(this.client, R.streamCluster, this.opts.watchNamespace, (_ev, obj) => {
      this.queue.add(Informer.keyOf(obj));
      // A cluster's security settings decide whether its users can be applied: look again.
      for (const u of this.users?.list() ?? []) if (u.metadata.namespace === obj.metadata.namespace && u.spec.cluster === obj.metadata.name) this.userQueue.add(Informer.keyOf(u));
    }, this.logger, { resyncMs: this.opts.resyncMs ?? 300_000 });
    this.users = new Informer(this.client, R.streamUser, this.opts.watchNamespace, (_ev, obj) => this.userQueue.add(Informer.keyOf(obj)), this.logger, { resyncMs: this.opts.resyncMs ?? 300_000 });
    // A change to a child (a StatefulSet's ready replicas, someone editing or deleting a
    // Service) requeues its owner at once, instead of waiting for the periodic resync.
    this.children = OWNED_KINDS.map(
      (resource) =>
        new Informer(this.client, resource, this.opts.watchNamespace, (_ev, obj) => {
          const owner = (obj.metadata.ownerReferences as { kind: string; name: string }[] | undefined)?.find((o) => o.kind === "StreamCluster");
          if (owner) this.queue.add(`${obj.metadata.namespace}/${owner.name}`);
        }, this.logger, { labelSelector: "app.kubernetes.io/managed-by=floe-operator" }),
    );
    await this.startInformer(this.clusters);
    try {
      await this.startInformer(this.users);
    } catch (err) {
      // `helm upgrade` never installs new CRDs: an upgraded operator may find no StreamUser
      // kind. StreamClusters still work; say what to do instead of crash-looping.
      if (!(err instanceof KubeError && err.isNotFound)) throw err;
      this.logger.warn({ err }, "the StreamUser CRD is not installed, so StreamUsers are not reconciled: kubectl apply -f crds/floe.dev_streamusers.yaml, then restart the operator");
      this.users = null;
    }
    for (const informer of this.children) await this.startInformer(informer);
    const n = this.opts.workers ?? 2;
    for (let i = 0; i < n; i++) this.workers.push(this.work());
    this.workers.push(this.workUsers());
  }

  /** StreamUsers have their own queue: a cluster that is slow to answer never holds up cluster reconciles. */
  private async workUsers(): Promise<void> {
    for (;;) {
      const key = await this.userQueue.get();
      if (key === null) return;
      try {
        const user = this.users?.get(key);
        if (user) {
          const again = await this.userReconciler.reconcile(user);
          this.userQueue.forget(key);
          if (again !== null) this.userQueue.addAfter(key, again);
        }
        this.metrics.reconciles.inc({ result: "success" });
      } catch (err) {
        const delay = this.userQueue.addRateLimited(key);
        const temporary = (err instanceof KubeError && err.isTemporary) || err instanceof RequeueWithBackoff;
        this.metrics.reconciles.inc({ result: temporary ? "requeue" : "error" });
        this.logger[temporary ? "info" : "warn"]({ err, streamuser: key, retryInMs: delay }, temporary ? "user not applied yet (see its Ready condition); will retry" : "user reconcile failed; will retry");
      } finally {
        this.userQueue.done(key);
      }
    }
  }

  /**
   * The first list can meet a temporary refusal (429 while the API server initialises a
   * just-created CRD's storage, 5xx): retry those with backoff. Anything else (403 from
   * missing RBAC) still fails the process with the API server's own message.
   */
  private async startInformer(informer: Informer<KubeObject> | Informer<StreamCluster & KubeObject> | Informer<StreamUser & KubeObject>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await informer.start();
        return;
      } catch (err) {
        if (this.stopping || !(err instanceof KubeError && err.isTemporary)) throw err;
        const delay = Math.min(250 * 2 ** attempt, 10_000);
        this.logger.info({ err, retryInMs: delay }, "informer could not list yet; retrying");
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === null) return;
      this.metrics.queueDepth.set(this.queue.depth);
      const end = this.metrics.reconcileSeconds.startTimer();
      try {
        const sc = this.clusters?.get(key);
        if (sc) {
          const again = await this.reconciler.reconcile(sc);
          this.queue.forget(key);
          if (again !== null) this.queue.addAfter(key, again);
        }
        this.metrics.reconciles.inc({ result: "success" });
      } catch (err) {
        const delay = this.queue.addRateLimited(key);
        // Conflicts and cloud failures (already in the status as conditions) are expected: retry quietly.
        const temporary = (err instanceof KubeError && err.isTemporary) || err instanceof RequeueWithBackoff;
        this.metrics.reconciles.inc({ result: temporary ? "requeue" : "error" });
        const what = err instanceof RequeueWithBackoff ? "cloud resources not ready (see BucketReady/EndpointReady); will retry" : temporary ? "reconcile conflicted; will retry" : "reconcile failed; will retry";
        this.logger[temporary ? "info" : "warn"]({ err, streamcluster: key, retryInMs: delay }, what);
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.queue.shutDown();
    this.userQueue.shutDown();
    await Promise.all([this.clusters?.stop(), this.users?.stop(), ...this.children.map((i) => i.stop())]);
    await Promise.all(this.workers);
    await this.elector.stop();
  }
}
