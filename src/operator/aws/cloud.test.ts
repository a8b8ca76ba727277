import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketTaggingCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutBucketLifecycleConfigurationCommand,
  PutBucketTaggingCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { CreateRouteTableCommand, CreateVpcCommand, CreateVpcEndpointCommand, DescribeRouteTablesCommand, DescribeVpcEndpointsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { silentLogger } from "../../common/logger.js";
import type { StreamCluster, StreamClusterSpec } from "../api/types.js";
import { startMoto, type MotoServer } from "../../../test/moto-server.js";
import { startMinio } from "../../../test/s3-server.js";
import { always, S3FaultProxy } from "../../../test/s3-fault-proxy.js";
import { awsClientFactory } from "./clients.js";
import { CloudResources, type CloudOutcome } from "./cloud.js";
import { deleteBucketIfCreated, desiredLifecycleRules, TAG_CLUSTER, TAG_CREATED_BY, TAG_MANAGED_BY } from "./bucket.js";
import { DELETION_PREFIX } from "../../../broker/storage/gc.js";

/**
 * The operator's S3 and EC2 work against moto (a real AWS API emulator over HTTP), with a
 * fault-injecting proxy in front of it for the answers moto does not give (AccessDenied on
 * one call, throttling).
 */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
let moto: MotoServer;
let s3: S3Client;
let ec2: EC2Client;

beforeAll(async () => {
  moto = await startMoto();
  s3 = new S3Client({ region: moto.region, endpoint: moto.endpoint, forcePathStyle: true, credentials: moto.credentials });
  ec2 = new EC2Client({ region: moto.region, endpoint: moto.endpoint, credentials: moto.credentials });
}, 300_000);

afterAll(async () => {
  s3?.destroy();
  ec2?.destroy();
  await moto?.stop();
});

let seq = 0;
function cluster(storage: Partial<StreamClusterSpec["storage"]> = {}, more: Partial<StreamClusterSpec> = {}): StreamCluster {
  const name = `c${++seq}`;
  return {
    apiVersion: "floe.dev/v1alpha1",
    kind: "StreamCluster",
    metadata: { name, namespace: "streaming", uid: `uid-${name}`, generation: 1 },
    spec: { replicas: 3, zones: ["us-east-1a"], wal: { type: "s3" }, storage: { bucket: `floe-${name}-${Date.now().toString(36)}`, ...storage }, ...more },
  };
}

function resources(endpoint = moto.endpoint, maxAttempts = 1): CloudResources {
  return new CloudResources(awsClientFactory({ endpointOverride: endpoint, credentials: moto.credentials, maxAttempts }), silentLogger());
}

const reasons = (o: CloudOutcome) => o.events.map((e) => e.reason);
const writes = (proxy: S3FaultProxy) => proxy.log.filter((r) => r.method !== "GET" && r.method !== "HEAD");

async function tagsOf(bucket: string): Promise<Record<string, string>> {
  const t = await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }));
  return Object.fromEntries((t.TagSet ?? []).map((x) => [x.Key!, x.Value!]));
}

describe("lifecycle rules (pure)", () => {
  it("expire nothing outside the deletion prefix, for any prefix and settings", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9/-]{0,12}$/), fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 400 }), fc.option(fc.integer({ min: 1, max: 400 })), (prefix, abortDays, expireDays, tierDays) => {
        const sc = cluster({ prefix, lifecycle: { abortIncompleteUploadDays: abortDays, deletedObjectsExpireDays: expireDays, ...(tierDays ? { transitionDays: tierDays, transitionStorageClass: "STANDARD_IA" } : {}) } });
        for (const r of desiredLifecycleRules(sc)) {
          if (r.Expiration) expect(r.Filter?.Prefix).toBe(prefix + DELETION_PREFIX);
          expect(r.NoncurrentVersionExpiration).toBeUndefined();
        }
      }),
    );
  });
});

describe("bucket", () => {
  it("is created with exactly Floe's lifecycle rules, encryption, public access block and tags", async () => {
    const sc = cluster({ prefix: "tenant-a/", encryption: { type: "SSE-KMS", kmsKeyId: "arn:aws:kms:us-east-1:123456789012:key/k1" }, lifecycle: { abortIncompleteUploadDays: 2, transitionDays: 30, transitionStorageClass: "STANDARD_IA" } });
    const out = await resources().ensure(sc);
    expect(out.bucket).toMatchObject({ status: "True", reason: "BucketCreated" });
    expect(out.retry).toBe(false);
    expect(reasons(out)).toEqual(["BucketCreated", "PublicAccessBlocked", "EncryptionSet", "LifecycleSet"]);
    const bucket = sc.spec.storage.bucket;
    const lc = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    const rules = (lc.Rules ?? []).map((r) => ({ id: r.ID, status: r.Status, prefix: r.Filter?.Prefix, abort: r.AbortIncompleteMultipartUpload?.DaysAfterInitiation, expire: r.Expiration?.Days, tier: r.Transitions?.map((t) => [t.Days, t.StorageClass]) }));
    expect(rules.sort((a, b) => a.id!.localeCompare(b.id!))).toEqual([
      { id: "floe-abort-incomplete-uploads", status: "Enabled", prefix: "tenant-a/", abort: 2, expire: undefined, tier: undefined },
      { id: "floe-expire-deleted", status: "Enabled", prefix: "tenant-a/deleted/", abort: undefined, expire: 1, tier: undefined },
      { id: "floe-tier-data", status: "Enabled", prefix: "tenant-a/objects/", abort: undefined, expire: undefined, tier: [[30, "STANDARD_IA"]] },
    ]);
    const enc = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    expect(enc.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault).toMatchObject({ SSEAlgorithm: "aws:kms", KMSMasterKeyID: "arn:aws:kms:us-east-1:123456789012:key/k1" });
    const pab = await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
    expect(pab.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    expect(await tagsOf(bucket)).toEqual({ [TAG_CLUSTER]: `streaming/${sc.metadata.name}`, [TAG_MANAGED_BY]: "floe-operator", [TAG_CREATED_BY]: `streaming/${sc.metadata.name}` });
  });

  it("makes no change on a second run, and sends no write at all", async () => {
    const proxy = await S3FaultProxy.start(moto.port);
    try {
      const sc = cluster();
      const first = await resources(proxy.endpoint).ensure(sc);
      expect(first.bucket.status).toBe("True");
      expect(writes(proxy).length).toBeGreaterThan(0);
      proxy.log.length = 0;
      const second = await resources(proxy.endpoint).ensure(sc);
      expect(second.bucket).toMatchObject({ status: "True", reason: "BucketConfigured" });
      expect(second.events).toEqual([]);
      expect(proxy.log.length).toBeGreaterThan(0);
      expect(writes(proxy)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it("is adopted and left untouched except what Floe manages: other rules, tags and data stay", async () => {
    const sc = cluster({ createBucket: false });
    const bucket = sc.spec.storage.bucket;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: "team", Value: "payments" }] } }));
    await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: [{ ID: "keep-logs-30d", Status: "Enabled", Filter: { Prefix: "logs/" }, Expiration: { Days: 30 } }] } }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "objects/1/0.sso", Body: "live data" }));

    const out = await resources().ensure(sc);
    expect(out.bucket).toMatchObject({ status: "True", reason: "BucketConfigured" });
    expect(reasons(out)).toEqual(["BucketAdopted", "PublicAccessBlocked", "EncryptionSet", "LifecycleSet"]);
    expect(await tagsOf(bucket)).toEqual({ team: "payments", [TAG_CLUSTER]: `streaming/${sc.metadata.name}`, [TAG_MANAGED_BY]: "floe-operator" });
    const ids = ((await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? []).map((r) => r.ID).sort();
    expect(ids).toEqual(["floe-abort-incomplete-uploads", "floe-expire-deleted", "keep-logs-30d"]);
    const objects = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(objects.Contents?.map((o) => o.Key)).toEqual(["objects/1/0.sso"]);
    // And adopting is idempotent too.
    expect((await resources().ensure(sc)).events).toEqual([]);
  });

  it("that is missing with createBucket false is a condition, not a creation", async () => {
    const sc = cluster({ createBucket: false });
    const out = await resources().ensure(sc);
    expect(out.bucket).toMatchObject({ status: "False", reason: "BucketNotFound" });
    expect(out.bucket.message).toContain("storage.createBucket is false");
    expect(out.retry).toBe(true);
    await expect(s3.send(new HeadBucketCommand({ Bucket: sc.spec.storage.bucket }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  it("owned by another AWS account becomes BucketOwnedByOthers and a retry, and their bucket is not touched", async () => {
    const other = new S3Client({ region: moto.region, endpoint: moto.endpoint, forcePathStyle: true, credentials: moto.credentials });
    other.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers["x-moto-account-id"] = "111111111111";
        return next(args);
      },
      { step: "build", name: "otherAccount" },
    );
    // moto answers HeadBucket on another account's bucket with 403 as AWS does, but CreateBucket
    // with AccessDenied where AWS says 409 BucketAlreadyExists: the proxy gives AWS's answer.
    const sc = cluster();
    const bucket = sc.spec.storage.bucket;
    const proxy = await S3FaultProxy.start(
      moto.port,
      always({ kind: "error", status: 409, code: "BucketAlreadyExists", message: "The requested bucket name is not available." }, { match: (r) => r.method === "PUT" && /^[^?]*\/?(\?x-id=CreateBucket)?$/.test(r.url) && r.url.startsWith(`/${bucket}`) }),
    );
    try {
      await other.send(new CreateBucketCommand({ Bucket: bucket }));
      const out = await resources(proxy.endpoint).ensure(sc);
      expect(out.bucket).toMatchObject({ status: "False", reason: "BucketOwnedByOthers" });
      expect(out.bucket.message).toMatch(/belongs to another AWS account \(HeadBucket: 403, CreateBucket: BucketAlreadyExists\)/);
      expect(out.retry).toBe(true);
      expect(out.events).toEqual([expect.objectContaining({ type: "Warning", reason: "BucketOwnedByOthers" })]);
      expect(proxy.log.map((r) => `${r.method} ${r.fault ?? "-"}`)).toEqual(["HEAD -", "PUT error"]);
      await expect(other.send(new GetBucketTaggingCommand({ Bucket: bucket }))).rejects.toMatchObject({ name: "NoSuchTagSet" });
      // Adopting only checks: with createBucket false moto's own 403 is the whole answer.
      const adopt = await resources().ensure({ ...sc, spec: { ...sc.spec, storage: { ...sc.spec.storage, createBucket: false } } });
      expect(adopt.bucket).toMatchObject({ status: "False", reason: "BucketOwnedByOthers" });
      expect(adopt.bucket.message).toContain("HeadBucket");
    } finally {
      other.destroy();
      await proxy.close();
    }
  });

  it("tagged for another StreamCluster is left alone", async () => {
    const sc = cluster({ createBucket: false });
    await s3.send(new CreateBucketCommand({ Bucket: sc.spec.storage.bucket }));
    await s3.send(new PutBucketTaggingCommand({ Bucket: sc.spec.storage.bucket, Tagging: { TagSet: [{ Key: TAG_CLUSTER, Value: "other/cluster" }] } }));
    const out = await resources().ensure(sc);
    expect(out.bucket).toMatchObject({ status: "False", reason: "BucketInUseByOtherCluster" });
    await expect(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: sc.spec.storage.bucket }))).rejects.toMatchObject({ name: "NoSuchLifecycleConfiguration" });
  });

  it("AccessDenied on one call becomes a condition naming the call, then recovers once allowed", async () => {
    const proxy = await S3FaultProxy.start(moto.port, always({ kind: "error", status: 403, code: "AccessDenied", message: "Access Denied" }, { match: (r) => r.method === "PUT" && /[?&]lifecycle/.test(r.url) }));
    try {
      const sc = cluster();
      const out = await resources(proxy.endpoint).ensure(sc);
      expect(out.bucket).toMatchObject({ status: "False", reason: "AccessDenied" });
      expect(out.bucket.message).toContain("PutBucketLifecycleConfiguration");
      expect(out.bucket.message).toContain(sc.spec.storage.bucket);
      expect(out.retry).toBe(true);
      expect(proxy.stats.faults.error).toBe(1);
      proxy.policy = () => null;
      const again = await resources(proxy.endpoint).ensure(sc);
      expect(again.bucket).toMatchObject({ status: "True" });
      expect(reasons(again)).toEqual(["LifecycleSet"]);
    } finally {
      await proxy.close();
    }
  });

  it("throttling (503 SlowDown past the SDK's retries) becomes Throttled and a retry", async () => {
    const proxy = await S3FaultProxy.start(moto.port, always({ kind: "slowdown" }));
    try {
      const out = await resources(proxy.endpoint, 2).ensure(cluster());
      expect(out.bucket).toMatchObject({ status: "False", reason: "Throttled" });
      expect(out.bucket.message).toMatch(/HeadBucket/);
      expect(out.retry).toBe(true);
      expect(proxy.stats.faults.slowdown).toBe(2); // the SDK's own attempts, then the condition
    } finally {
      await proxy.close();
    }
  });

  it("is not touched at all with manageWithAws false", async () => {
    const proxy = await S3FaultProxy.start(moto.port);
    try {
      const out = await resources(proxy.endpoint).ensure(cluster({ manageWithAws: false }, { vpcEndpoint: { enabled: true, vpcId: "vpc-1" } }));
      expect(out.bucket).toMatchObject({ status: "True", reason: "NotManaged" });
      expect(out.bucket.message).toContain("manageWithAws is false");
      expect(out.endpoint).toMatchObject({ status: "True", reason: "NotManaged" });
      expect(proxy.stats.requests).toBe(0);
    } finally {
      await proxy.close();
    }
  });
});

async function vpcWithRouteTables(n: number): Promise<{ vpcId: string; routeTables: string[] }> {
  const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.0.0.0/16" }));
  const vpcId = vpc.Vpc!.VpcId!;
  for (let i = 0; i < n; i++) await ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }));
  const all = await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }));
  return { vpcId, routeTables: all.RouteTables!.map((t) => t.RouteTableId!).sort() };
}

async function endpointsOf(vpcId: string) {
  const res = await ec2.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }));
  return (res.VpcEndpoints ?? []).filter((e) => e.State?.toLowerCase() !== "deleted");
}

describe("VPC endpoint", () => {
  it("is created on every route table of the VPC, tagged, and left alone on a second run", async () => {
    const { vpcId, routeTables } = await vpcWithRouteTables(2);
    expect(routeTables).toHaveLength(3); // the main table and two more
    const sc = cluster({}, { vpcEndpoint: { enabled: true, vpcId } });
    const out = await resources().ensure(sc);
    expect(out.endpoint).toMatchObject({ status: "True", reason: "EndpointAvailable" });
    expect(reasons(out)).toContain("EndpointCreated");
    const [ep, ...rest] = await endpointsOf(vpcId);
    expect(rest).toEqual([]);
    expect(ep).toMatchObject({ VpcEndpointType: "Gateway", ServiceName: "com.amazonaws.us-east-1.s3", VpcId: vpcId });
    expect([...ep!.RouteTableIds!].sort()).toEqual(routeTables);
    const tags = Object.fromEntries(ep!.Tags!.map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ [TAG_CLUSTER]: `streaming/${sc.metadata.name}`, [TAG_MANAGED_BY]: "floe-operator", [TAG_CREATED_BY]: `streaming/${sc.metadata.name}` });

    // Second run through a recording proxy: EC2 sees only reads (S3 too: no PUT/POST/DELETE).
    const ec2Actions: string[] = [];
    const proxy = await S3FaultProxy.start(moto.port, (req) => {
      const action = /(?:^|&)Action=(\w+)/.exec(req.body.toString())?.[1];
      if (action) ec2Actions.push(action);
      return null;
    });
    try {
      const again = await resources(proxy.endpoint).ensure(sc);
      expect(again.events).toEqual([]);
      expect(again.endpoint.status).toBe("True");
      expect([...new Set(ec2Actions)].sort()).toEqual(["DescribeRouteTables", "DescribeVpcEndpoints"]);
      expect(writes(proxy).filter((r) => r.method !== "POST")).toEqual([]);
    } finally {
      await proxy.close();
    }
    expect(await endpointsOf(vpcId)).toHaveLength(1);
  });

  it("that exists is adopted and gets the missing route tables, nothing removed", async () => {
    const { vpcId, routeTables } = await vpcWithRouteTables(2);
    const [rtMain, rtA, rtB] = routeTables;
    const made = await ec2.send(new CreateVpcEndpointCommand({ VpcEndpointType: "Gateway", VpcId: vpcId, ServiceName: "com.amazonaws.us-east-1.s3", RouteTableIds: [rtMain!] }));
    const sc = cluster({}, { vpcEndpoint: { enabled: true, vpcId, routeTableIds: [rtA!, rtB!] } });
    const out = await resources().ensure(sc);
    expect(out.endpoint).toMatchObject({ status: "True", reason: "EndpointAvailable" });
    expect(out.events.filter((e) => e.reason.startsWith("Endpoint"))).toEqual([expect.objectContaining({ reason: "EndpointRouteTablesAdded", message: expect.stringContaining(`${rtA}, ${rtB}`) })]);
    const eps = await endpointsOf(vpcId);
    expect(eps.map((e) => e.VpcEndpointId)).toEqual([made.VpcEndpoint!.VpcEndpointId]);
    expect([...eps[0]!.RouteTableIds!].sort()).toEqual(routeTables);
    expect(eps[0]!.Tags?.some((t) => t.Key === TAG_CREATED_BY) ?? false).toBe(false);
    expect((await resources().ensure(sc)).events).toEqual([]);
  });

  it("throttled by EC2 (RequestLimitExceeded) becomes EndpointReady False Throttled and a retry", async () => {
    const proxy = await S3FaultProxy.start(moto.port, always({ kind: "error", status: 503, code: "RequestLimitExceeded", message: "Request limit exceeded.", format: "ec2" }, { match: (r) => r.body.toString().includes("Action=Describe") }));
    try {
      const out = await resources(proxy.endpoint).ensure(cluster({}, { vpcEndpoint: { enabled: true, vpcId: "vpc-12345678" } }));
      expect(out.bucket.status).toBe("True");
      expect(out.endpoint).toMatchObject({ status: "False", reason: "Throttled" });
      expect(out.endpoint.message).toContain("DescribeRouteTables");
      expect(out.retry).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});

describe("deletion", () => {
  it("Retain keeps the bucket, its data and the endpoint", async () => {
    const { vpcId } = await vpcWithRouteTables(1);
    const sc = cluster({}, { vpcEndpoint: { enabled: true, vpcId } });
    await resources().ensure(sc);
    await s3.send(new PutObjectCommand({ Bucket: sc.spec.storage.bucket, Key: "objects/1/0.sso", Body: "x" }));
    const out = await resources().cleanUp(sc);
    expect(out.done).toBe(true);
    expect(reasons(out)).toEqual(["CloudResourcesRetained"]);
    await s3.send(new HeadBucketCommand({ Bucket: sc.spec.storage.bucket }));
    expect((await s3.send(new ListObjectsV2Command({ Bucket: sc.spec.storage.bucket }))).KeyCount).toBe(1);
    expect(await endpointsOf(vpcId)).toHaveLength(1);
  });

  it("Delete empties (paginated) and deletes a bucket the operator created, and its endpoint", async () => {
    const { vpcId } = await vpcWithRouteTables(1);
    const sc = cluster({}, { deletionPolicy: "Delete", vpcEndpoint: { enabled: true, vpcId } });
    await resources().ensure(sc);
    const bucket = sc.spec.storage.bucket;
    const keys = Array.from({ length: 1105 }, (_, i) => `objects/${i % 7}/${i}.sso`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((Key) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: "x" }))));
    // One page per call: the first call cannot finish, and says so.
    const s3op = new S3Client({ region: moto.region, endpoint: moto.endpoint, forcePathStyle: true, credentials: moto.credentials });
    try {
      const partial = await deleteBucketIfCreated(s3op, sc, 1);
      expect(partial.done).toBe(false);
      expect(partial.actions[0]!.message).toContain("Deleted 1000 objects");
    } finally {
      s3op.destroy();
    }
    const out = await resources().cleanUp(sc);
    expect(out.done).toBe(true);
    expect(reasons(out)).toEqual(["EndpointDeleted", "BucketDeleted"]);
    expect(out.events.find((e) => e.reason === "BucketDeleted")!.message).toMatch(/Emptied \(105 objects\) and deleted bucket/);
    await expect(s3.send(new HeadBucketCommand({ Bucket: bucket }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    expect(await endpointsOf(vpcId)).toEqual([]);
    // Deleting again (a retried finalizer) finds nothing to do.
    const twice = await resources().cleanUp(sc);
    expect(twice.done).toBe(true);
  });

  it("Delete never deletes an adopted bucket or an adopted endpoint", async () => {
    const { vpcId, routeTables } = await vpcWithRouteTables(1);
    const made = await ec2.send(new CreateVpcEndpointCommand({ VpcEndpointType: "Gateway", VpcId: vpcId, ServiceName: "com.amazonaws.us-east-1.s3", RouteTableIds: [routeTables[0]!] }));
    const sc = cluster({ createBucket: false }, { deletionPolicy: "Delete", vpcEndpoint: { enabled: true, vpcId } });
    await s3.send(new CreateBucketCommand({ Bucket: sc.spec.storage.bucket }));
    await s3.send(new PutObjectCommand({ Bucket: sc.spec.storage.bucket, Key: "theirs.txt", Body: "keep me" }));
    expect((await resources().ensure(sc)).bucket.status).toBe("True");
    const out = await resources().cleanUp(sc);
    expect(out.done).toBe(true);
    expect(reasons(out)).toEqual(["EndpointRetained", "BucketRetained"]);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: sc.spec.storage.bucket }))).Contents?.map((o) => o.Key)).toEqual(["theirs.txt"]);
    expect((await endpointsOf(vpcId)).map((e) => e.VpcEndpointId)).toEqual([made.VpcEndpoint!.VpcEndpointId]);
  });

  it("a failure while deleting keeps the finalizer's work pending with a condition, never a throw", async () => {
    const proxy = await S3FaultProxy.start(moto.port);
    try {
      const sc = cluster({}, { deletionPolicy: "Delete" });
      await resources(proxy.endpoint).ensure(sc);
      proxy.policy = always({ kind: "error", status: 403, code: "AccessDenied", message: "Access Denied" }, { match: (r) => r.method === "DELETE" });
      const out = await resources(proxy.endpoint).cleanUp(sc);
      expect(out.done).toBe(false);
      expect(out.retry).toBe(true);
      expect(out.bucket).toMatchObject({ status: "False", reason: "AccessDenied" });
      expect(out.bucket.message).toContain("DeleteBucket");
      await s3.send(new HeadBucketCommand({ Bucket: sc.spec.storage.bucket }));
    } finally {
      await proxy.close();
    }
  });
});

describe("an S3-compatible store named by storage.endpoint (MinIO)", () => {
  it("gets the bucket with what the store supports, names what it skipped, and a second run writes nothing", async () => {
    const minio = await startMinio();
    const proxy = await S3FaultProxy.start(minio.port);
    // No endpoint override: the spec's storage.endpoint and the credentials (as from storage.credentialsSecret) must be what is used.
    const cloud = new CloudResources(awsClientFactory({ maxAttempts: 1 }), silentLogger(), async () => ({ accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey }));
    const direct = new S3Client({ region: "us-east-1", endpoint: minio.endpoint, forcePathStyle: true, credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey } });
    try {
      const sc = cluster({ endpoint: proxy.endpoint, forcePathStyle: true, credentialsSecret: "minio-credentials" });
      const first = await cloud.ensure(sc);
      expect(first.bucket).toMatchObject({ status: "True", reason: "BucketCreated" });
      expect(first.bucket.message).toMatch(/not supported by this store, skipped: .*public access block/);
      expect(first.bucket.message).toContain("the abort-incomplete-uploads lifecycle rule");
      expect(first.retry).toBe(false);
      const rules = (await direct.send(new GetBucketLifecycleConfigurationCommand({ Bucket: sc.spec.storage.bucket }))).Rules!;
      expect(rules.map((r) => [r.ID, r.Filter?.Prefix, r.Expiration?.Days])).toEqual([["floe-expire-deleted", "deleted/", 1]]);
      expect((await direct.send(new GetBucketTaggingCommand({ Bucket: sc.spec.storage.bucket }))).TagSet).toContainEqual({ Key: TAG_CREATED_BY, Value: `streaming/${sc.metadata.name}` });
      proxy.log.length = 0;
      const second = await cloud.ensure(sc);
      expect(second.bucket.status).toBe("True");
      expect(second.events).toEqual([]);
      expect(writes(proxy)).toEqual([]);
    } finally {
      direct.destroy();
      await proxy.close();
      await minio.stop();
    }
  }, 120_000);
});

describe("docs/iam-policy.json", () => {
  // The IAM action each SDK command needs, where the names differ (S3's REST names are older than its SDK's).
  const S3_ACTION: Record<string, string[]> = {
    HeadBucket: ["s3:ListBucket"],
    ListObjectsV2: ["s3:ListBucket"],
    ListObjectVersions: ["s3:ListBucketVersions"],
    ListMultipartUploads: ["s3:ListBucketMultipartUploads"],
    GetBucketLifecycleConfiguration: ["s3:GetLifecycleConfiguration"],
    PutBucketLifecycleConfiguration: ["s3:PutLifecycleConfiguration"],
    GetBucketEncryption: ["s3:GetEncryptionConfiguration"],
    PutBucketEncryption: ["s3:PutEncryptionConfiguration"],
    GetPublicAccessBlock: ["s3:GetBucketPublicAccessBlock"],
    PutPublicAccessBlock: ["s3:PutBucketPublicAccessBlock"],
    DeleteObjects: ["s3:DeleteObject", "s3:DeleteObjectVersion"],
  };
  const actionsFor = (service: "s3" | "ec2", command: string) => (service === "s3" ? (S3_ACTION[command] ?? [`s3:${command}`]) : [`ec2:${command}`]);

  it("allows every S3 and EC2 call the operator makes, from creation to deletion", async () => {
    const calls = new Set<string>();
    const base = awsClientFactory({ endpointOverride: moto.endpoint, credentials: moto.credentials });
    const record = <C extends S3Client | EC2Client>(service: "s3" | "ec2", client: C): C => {
      // An initialize-step middleware sees each command's name before it is sent.
      (client.middlewareStack as { add(mw: unknown, opts: unknown): void }).add(
        (next: (a: unknown) => unknown, context: { commandName?: string }) => (args: unknown) => {
          calls.add(`${service}:${(context.commandName ?? "").replace(/Command$/, "")}`);
          return next(args);
        },
        { step: "initialize", name: "floeRecordCalls" },
      );
      return client;
    };
    const recording = new CloudResources({ s3: (sc, creds) => record("s3", base.s3(sc, creds)), ec2: (sc) => record("ec2", base.ec2(sc)) }, silentLogger());
    const { vpcId } = await vpcWithRouteTables(1);
    const sc = cluster({ encryption: { type: "SSE-KMS", kmsKeyId: "arn:aws:kms:us-east-1:123456789012:key/k2" }, lifecycle: { transitionDays: 30, transitionStorageClass: "STANDARD_IA" } }, { deletionPolicy: "Delete", vpcEndpoint: { enabled: true, vpcId } });
    expect((await recording.ensure(sc)).retry).toBe(false);
    await s3.send(new PutObjectCommand({ Bucket: sc.spec.storage.bucket, Key: "objects/1/0.sso", Body: "x" }));
    await recording.ensure(sc);
    expect((await recording.cleanUp(sc)).done).toBe(true);

    const policy = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "docs/iam-policy.json"), "utf8")) as { Statement: { Action: string | string[] }[] };
    const allowed = new Set(policy.Statement.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])));
    const needed = [...calls].flatMap((c) => {
      const [service, command] = c.split(":") as ["s3" | "ec2", string];
      return actionsFor(service, command).map((action) => ({ call: c, action }));
    });
    expect(calls.size).toBeGreaterThan(10);
    expect(needed.filter((n) => !allowed.has(n.action))).toEqual([]);
  });
});
