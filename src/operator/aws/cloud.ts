import type { Logger } from "pino";
import type { StreamCluster } from "../api/types.js";
import type { AwsClientFactory, AwsCredentials } from "./clients.js";
import { deleteBucketIfCreated, ensureBucket, type CloudAction } from "./bucket.js";
import { deleteEndpointIfCreated, ensureEndpoint } from "./endpoint.js";
import { classify, CloudStepError } from "./errors.js";

/**
 * The StreamCluster's cloud resources as conditions. Never throws for a cloud failure: each
 * becomes a False condition whose reason says what kind and whose message says what was
 * attempted, and `retry` asks the caller to requeue with backoff.
 */
export const CLOUD_FINALIZER = "floe.dev/cloud-resources";

export interface CloudCondition {
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

export interface CloudEvent extends CloudAction {
  type: "Normal" | "Warning";
}

export interface CloudOutcome {
  bucket: CloudCondition;
  endpoint: CloudCondition;
  events: CloudEvent[];
  /** Something failed: requeue with backoff. */
  retry: boolean;
  /** Nothing failed but something is still settling (an endpoint pending): look again after this. */
  recheckMs: number | null;
}

export interface CleanupOutcome extends CloudOutcome {
  /** Every resource the deletion policy covers is handled: the finalizer may go. */
  done: boolean;
}

export function managesCloud(sc: StreamCluster): boolean {
  return sc.spec.storage.manageWithAws !== false;
}

/** Reads `storage.credentialsSecret` (or returns undefined for the default chain); may throw CloudStepError. */
export type CredentialsLoader = (sc: StreamCluster) => Promise<AwsCredentials | undefined>;

export class CloudResources {
  private readonly quirks = new Set<string>();

  constructor(
    private readonly factory: AwsClientFactory,
    private readonly logger: Logger,
    private readonly credentials: CredentialsLoader = async () => undefined,
  ) {}

  /** Conditions for a cluster whose cloud resources are managed elsewhere. */
  static notManaged(sc: StreamCluster): CloudOutcome {
    const message = `storage.manageWithAws is false: the operator makes no S3 or EC2 calls; bucket ${sc.spec.storage.bucket} and its lifecycle rules, encryption and access block are managed elsewhere`;
    return {
      bucket: { status: "True", reason: "NotManaged", message },
      endpoint: { status: "True", reason: "NotManaged", message: "storage.manageWithAws is false: no VPC endpoint is managed by the operator" },
      events: [],
      retry: false,
      recheckMs: null,
    };
  }

  async ensure(sc: StreamCluster): Promise<CloudOutcome> {
    if (!managesCloud(sc)) return CloudResources.notManaged(sc);
    const events: CloudEvent[] = [];
    let retry = false;
    let recheckMs: number | null = null;
    let bucket: CloudCondition;
    const name = sc.spec.storage.bucket;
    try {
      const creds = await this.credentials(sc);
      const s3 = this.factory.s3(sc, creds);
      try {
        const res = await ensureBucket(s3, sc, this.quirks);
        events.push(...res.actions.map((a) => ({ type: "Normal" as const, ...a })));
        const managed = ["tags", "public access block", "default encryption", "lifecycle rules"].filter((f) => !res.unsupported.includes(f));
        if (res.unsupported.length) this.logger.info({ bucket: name, unsupported: res.unsupported }, "the bucket's store lacks some settings; skipped");
        const skipped = res.unsupported.length ? `; not supported by this store, skipped: ${res.unsupported.join(", ")}` : "";
        bucket = { status: "True", reason: res.created ? "BucketCreated" : "BucketConfigured", message: `Bucket ${name} has the ${managed.join(", ")} Floe manages${skipped}` };
      } finally {
        s3.destroy();
      }
    } catch (err) {
      bucket = this.failed(err, `reconciling bucket ${name}`, events);
      retry = true;
    }

    let endpoint: CloudCondition;
    if (!sc.spec.vpcEndpoint?.enabled) {
      endpoint = { status: "True", reason: "NotRequested", message: "vpcEndpoint.enabled is false: no S3 gateway endpoint is managed" };
    } else {
      const ec2 = this.factory.ec2(sc);
      try {
        const res = await ensureEndpoint(ec2, sc);
        events.push(...res.actions.map((a) => ({ type: "Normal" as const, ...a })));
        if (res.state.toLowerCase() === "available") {
          endpoint = { status: "True", reason: "EndpointAvailable", message: `S3 gateway endpoint ${res.endpointId} is available on route tables ${res.routeTableIds.join(", ")}` };
        } else {
          endpoint = { status: "False", reason: "EndpointPending", message: `S3 gateway endpoint ${res.endpointId} is ${res.state}` };
          recheckMs = 10_000;
        }
      } catch (err) {
        endpoint = this.failed(err, `reconciling the S3 gateway endpoint of ${sc.spec.vpcEndpoint.vpcId}`, events);
        retry = true;
      } finally {
        ec2.destroy();
      }
    }
    return { bucket, endpoint, events, retry, recheckMs };
  }

  /**
   * What deleting the StreamCluster does in the cloud. Retain: nothing. Delete: the endpoint
   * and the bucket go, but only those the operator created for this cluster.
   */
  async cleanUp(sc: StreamCluster): Promise<CleanupOutcome> {
    const policy = sc.spec.deletionPolicy ?? "Retain";
    const name = sc.spec.storage.bucket;
    if (policy === "Retain" || !managesCloud(sc)) {
      const why = policy === "Retain" ? "deletionPolicy is Retain" : "storage.manageWithAws is false";
      return {
        done: true,
        bucket: { status: "True", reason: "Retained", message: `${why}: bucket ${name} and its data are kept` },
        endpoint: { status: "True", reason: "Retained", message: `${why}: the VPC endpoint is kept` },
        events: [{ type: "Normal", reason: "CloudResourcesRetained", message: `${why}: kept bucket ${name}${sc.spec.vpcEndpoint?.enabled ? ` and the S3 gateway endpoint of ${sc.spec.vpcEndpoint.vpcId}` : ""}` }],
        retry: false,
        recheckMs: null,
      };
    }
    const events: CloudEvent[] = [];
    let retry = false;
    let done = true;
    let endpoint: CloudCondition = { status: "True", reason: "Deleted", message: "No S3 gateway endpoint to delete" };
    if (sc.spec.vpcEndpoint?.enabled) {
      const ec2 = this.factory.ec2(sc);
      try {
        const actions = await deleteEndpointIfCreated(ec2, sc);
        events.push(...actions.map((a) => ({ type: "Normal" as const, ...a })));
        endpoint = { status: "True", reason: "Deleted", message: actions.map((a) => a.message).join("; ") || "No S3 gateway endpoint to delete" };
      } catch (err) {
        endpoint = this.failed(err, `deleting the S3 gateway endpoint of ${sc.spec.vpcEndpoint.vpcId}`, events);
        retry = true;
        done = false;
      } finally {
        ec2.destroy();
      }
    }
    let bucket: CloudCondition;
    try {
      const s3 = this.factory.s3(sc, await this.credentials(sc));
      try {
        const res = await deleteBucketIfCreated(s3, sc);
        events.push(...res.actions.map((a) => ({ type: "Normal" as const, ...a })));
        bucket = res.done ? { status: "True", reason: "Deleted", message: res.actions.map((a) => a.message).join("; ") || `Bucket ${name} is gone` } : { status: "False", reason: "BucketEmptying", message: res.actions.map((a) => a.message).join("; ") };
        if (!res.done) done = false;
      } finally {
        s3.destroy();
      }
    } catch (err) {
      bucket = this.failed(err, `deleting bucket ${name}`, events);
      retry = true;
      done = false;
    }
    return { done, bucket, endpoint, events, retry, recheckMs: done || retry ? null : 1000 };
  }

  private failed(err: unknown, what: string, events: CloudEvent[]): CloudCondition {
    const f = err instanceof CloudStepError ? err.failure : classify(err, what);
    this.logger.warn({ err, reason: f.reason }, f.message);
    events.push({ type: "Warning", reason: f.reason, message: f.message });
    return { status: "False", reason: f.reason, message: f.message };
  }
}
