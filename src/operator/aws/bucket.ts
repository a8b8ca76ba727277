import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketTaggingCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketTaggingCommand,
  PutPublicAccessBlockCommand,
  type BucketLocationConstraint,
  type LifecycleRule,
  type PublicAccessBlockConfiguration,
  type S3Client,
  type ServerSideEncryptionRule,
  type Tag,
} from "@aws-sdk/client-s3";
import type { StreamCluster } from "../api/types.js";
import { DATA_PREFIX, DELETION_PREFIX } from "../../../broker/storage/gc.js";
import { attempt, classify, CloudStepError, errorCode, httpStatus } from "./errors.js";
import { regionOf } from "./clients.js";

/**
 * The cluster's bucket: created (storage.createBucket) or adopted, then held to what the
 * operator manages: its own lifecycle rules (IDs starting `floe-`; anyone else's rules are
 * kept), default encryption, the public access block, and its identity tags (other tags are
 * kept). Each step reads first and writes only on a difference, so a second run writes nothing.
 */
export const TAG_CLUSTER = "floe.dev/cluster";
export const TAG_MANAGED_BY = "floe.dev/managed-by";
/** Only on buckets and endpoints the operator created: the one thing that allows deleting them. */
export const TAG_CREATED_BY = "floe.dev/created-by";
export const MANAGER = "floe-operator";
export const RULE_ID_PREFIX = "floe-";

export interface CloudAction {
  reason: string;
  message: string;
}

export function clusterIdentity(sc: StreamCluster): string {
  return `${sc.metadata.namespace ?? "default"}/${sc.metadata.name}`;
}

/**
 * Lifecycle rules the cluster needs. Expiration only ever targets the deletion prefix: live
 * data (objects/, meta/) is deleted by the brokers' garbage collector, never by a rule.
 * Tiering only moves data objects; the metadata log is read at every start and stays STANDARD.
 */
export function desiredLifecycleRules(sc: StreamCluster): LifecycleRule[] {
  const prefix = sc.spec.storage.prefix ?? "";
  const lc = sc.spec.storage.lifecycle ?? {};
  const rules: LifecycleRule[] = [
    { ID: "floe-abort-incomplete-uploads", Status: "Enabled", Filter: { Prefix: prefix }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: lc.abortIncompleteUploadDays ?? 1 } },
    { ID: "floe-expire-deleted", Status: "Enabled", Filter: { Prefix: prefix + DELETION_PREFIX }, Expiration: { Days: lc.deletedObjectsExpireDays ?? 1 } },
  ];
  if (lc.transitionDays !== undefined && lc.transitionStorageClass) {
    rules.push({ ID: "floe-tier-data", Status: "Enabled", Filter: { Prefix: prefix + DATA_PREFIX }, Transitions: [{ Days: lc.transitionDays, StorageClass: lc.transitionStorageClass as "STANDARD_IA" }] });
  }
  for (const r of rules) {
    // The one rule that must never be broken, checked where the rules are made.
    if ((r.Expiration || r.NoncurrentVersionExpiration) && r.Filter?.Prefix !== prefix + DELETION_PREFIX) throw new Error(`lifecycle rule ${r.ID} would expire live data`);
  }
  return rules;
}

export function desiredEncryption(sc: StreamCluster): ServerSideEncryptionRule {
  const enc = sc.spec.storage.encryption;
  if (enc?.type === "SSE-KMS") return { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: enc.kmsKeyId }, BucketKeyEnabled: true };
  return { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } };
}

export const PUBLIC_ACCESS_BLOCK: Required<PublicAccessBlockConfiguration> = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };

/** Compare rules by what they do, not by how a server happens to spell them back. */
function canonicalRule(r: LifecycleRule): string {
  const f = r.Filter as { Prefix?: string; And?: { Prefix?: string; Tags?: Tag[] }; Tag?: Tag } | undefined;
  return JSON.stringify({
    id: r.ID,
    status: r.Status,
    prefix: f?.Prefix ?? f?.And?.Prefix ?? (r as { Prefix?: string }).Prefix ?? "",
    tags: f?.Tag ?? f?.And?.Tags ?? null,
    expirationDays: r.Expiration?.Days ?? null,
    abortDays: r.AbortIncompleteMultipartUpload?.DaysAfterInitiation ?? null,
    transitions: (r.Transitions ?? []).map((t) => [t.Days ?? null, t.StorageClass]),
  });
}

const NOT_FOUND = (codes: string[]) => (err: unknown) => codes.includes(errorCode(err)) || httpStatus(err) === 404;

async function orNull<T>(what: string, fn: () => Promise<T>, isAbsent: (err: unknown) => boolean): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    if (isAbsent(err)) return null;
    throw new CloudStepError(classify(err, what));
  }
}

type Presence = "present" | "missing";

async function headBucket(s3: S3Client, sc: StreamCluster, mayCreate: boolean): Promise<Presence> {
  const bucket = sc.spec.storage.bucket;
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return "present";
  } catch (err) {
    const status = httpStatus(err);
    if (status === 404 || errorCode(err) === "NotFound" || errorCode(err) === "NoSuchBucket") return "missing";
    if (status === 301) {
      throw new CloudStepError({ reason: "BucketInOtherRegion", message: `HeadBucket ${bucket}: the bucket lives in another region than storage.region=${regionOf(sc)}; set storage.region to the bucket's region` });
    }
    if (status === 403) return whyForbidden(s3, sc, mayCreate);
    throw new CloudStepError(classify(err, `checking bucket ${bucket} (HeadBucket)`));
  }
}

/**
 * HeadBucket's 403 has no body: either another account owns the name, or we may not look at
 * our own bucket. CreateBucket tells the two apart (it changes nothing when the name is taken).
 */
async function whyForbidden(s3: S3Client, sc: StreamCluster, mayCreate: boolean): Promise<never> {
  const bucket = sc.spec.storage.bucket;
  if (!mayCreate || sc.spec.storage.createBucket === false) {
    throw new CloudStepError({ reason: "BucketOwnedByOthers", message: `HeadBucket ${bucket} answered 403 Forbidden: the bucket belongs to another AWS account, or the operator lacks s3:ListBucket on it` });
  }
  try {
    await s3.send(new CreateBucketCommand(createBucketInput(sc)));
  } catch (err) {
    if (errorCode(err) === "BucketAlreadyOwnedByYou") {
      throw new CloudStepError({ reason: "AccessDenied", message: `HeadBucket ${bucket} answered 403 Forbidden though this account owns the bucket: grant the operator s3:ListBucket on it` });
    }
    const f = classify(err, `HeadBucket ${bucket} answered 403 Forbidden, then creating it (CreateBucket)`);
    throw new CloudStepError(f.reason === "BucketOwnedByOthers" ? { reason: f.reason, message: `bucket ${bucket} belongs to another AWS account (HeadBucket: 403, CreateBucket: BucketAlreadyExists): choose another storage.bucket` } : f);
  }
  // Created after all (a race with its deletion): the next run adopts or tags it normally.
  throw new CloudStepError({ reason: "BucketStateChanged", message: `HeadBucket ${bucket} answered 403 but CreateBucket then succeeded; will look again` });
}

function createBucketInput(sc: StreamCluster) {
  const region = regionOf(sc);
  // us-east-1 is the one region that refuses an explicit LocationConstraint.
  return { Bucket: sc.spec.storage.bucket, ...(region === "us-east-1" ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }) };
}

export interface BucketResult {
  created: boolean;
  actions: CloudAction[];
  /** Settings the store answered NotImplemented for (S3-compatible stores; AWS has them all). */
  unsupported: string[];
}

/** S3-compatible stores (MinIO, ...) lack some bucket APIs and say 501 NotImplemented. */
function isNotImplemented(err: unknown): boolean {
  const e = err instanceof CloudStepError ? err.failure.reason : errorCode(err);
  return e === "NotImplemented" || e === "NotSupportedByStore" || httpStatus(err) === 501;
}

/**
 * Runs one optional step; a store without the feature skips it rather than failing the
 * bucket, and `quirks` remembers that so later runs skip it without asking again.
 */
async function optional(feature: string, unsupported: string[], quirks: Set<string> | undefined, key: string, step: () => Promise<void>): Promise<void> {
  if (quirks?.has(`${key}:${feature}`)) {
    unsupported.push(feature);
    return;
  }
  try {
    await step();
  } catch (err) {
    if (!isNotImplemented(err)) throw err;
    quirks?.add(`${key}:${feature}`);
    unsupported.push(feature);
  }
}

/**
 * `quirks` remembers, per store and bucket, that the store refused the abort-uploads rule, so
 * later runs compare against what it accepts and stay write-free.
 */
export async function ensureBucket(s3: S3Client, sc: StreamCluster, quirks?: Set<string>): Promise<BucketResult> {
  const bucket = sc.spec.storage.bucket;
  const me = clusterIdentity(sc);
  const actions: CloudAction[] = [];
  const unsupported: string[] = [];
  // Quirks are per store and bucket; AWS (no storage.endpoint) has every feature.
  const store = `${sc.spec.storage.endpoint ?? "aws"}/${bucket}`;
  let created = false;
  if ((await headBucket(s3, sc, true)) === "missing") {
    if (sc.spec.storage.createBucket === false) {
      throw new CloudStepError({ reason: "BucketNotFound", message: `bucket ${bucket} does not exist and storage.createBucket is false: create it, or set storage.createBucket: true` });
    }
    try {
      await s3.send(new CreateBucketCommand(createBucketInput(sc)));
      created = true;
      actions.push({ reason: "BucketCreated", message: `Created bucket ${bucket} in ${regionOf(sc)}` });
    } catch (err) {
      // Ours already (a retried create): adopt it like any existing bucket.
      if (errorCode(err) !== "BucketAlreadyOwnedByYou") throw new CloudStepError(classify(err, `creating bucket ${bucket} (CreateBucket)`));
    }
  }

  // Tags first: they say whose bucket this is, and another cluster's bucket is left alone.
  const tagging = await orNull(`reading tags of bucket ${bucket} (GetBucketTagging)`, () => s3.send(new GetBucketTaggingCommand({ Bucket: bucket })), NOT_FOUND(["NoSuchTagSet"]));
  const tags = new Map((tagging?.TagSet ?? []).map((t) => [t.Key!, t.Value ?? ""]));
  const owner = tags.get(TAG_CLUSTER);
  if (owner !== undefined && owner !== me) {
    throw new CloudStepError({ reason: "BucketInUseByOtherCluster", message: `bucket ${bucket} is tagged ${TAG_CLUSTER}=${owner}: it belongs to another StreamCluster; each cluster needs its own bucket` });
  }
  const want = new Map(tags);
  want.set(TAG_CLUSTER, me);
  want.set(TAG_MANAGED_BY, MANAGER);
  if (created) want.set(TAG_CREATED_BY, me);
  if ([...want].some(([k, v]) => tags.get(k) !== v)) {
    await attempt(`tagging bucket ${bucket} (PutBucketTagging)`, () => s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [...want].map(([Key, Value]) => ({ Key, Value })) } })));
    if (!created) actions.push({ reason: "BucketAdopted", message: `Adopted existing bucket ${bucket}: tagged ${TAG_CLUSTER}=${me}; it will never be deleted by the operator` });
  }

  await optional("public access block", unsupported, quirks, store, async () => {
    const pab = await orNull(`reading the public access block of ${bucket} (GetPublicAccessBlock)`, () => s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket })), NOT_FOUND(["NoSuchPublicAccessBlockConfiguration"]));
    const current = pab?.PublicAccessBlockConfiguration ?? {};
    if ((Object.keys(PUBLIC_ACCESS_BLOCK) as (keyof PublicAccessBlockConfiguration)[]).some((k) => current[k] !== true)) {
      await attempt(`blocking public access to ${bucket} (PutPublicAccessBlock)`, () => s3.send(new PutPublicAccessBlockCommand({ Bucket: bucket, PublicAccessBlockConfiguration: PUBLIC_ACCESS_BLOCK })));
      actions.push({ reason: "PublicAccessBlocked", message: `Blocked all public access to bucket ${bucket}` });
    }
  });

  await optional("default encryption", unsupported, quirks, store, async () => {
    const enc = await orNull(`reading the default encryption of ${bucket} (GetBucketEncryption)`, () => s3.send(new GetBucketEncryptionCommand({ Bucket: bucket })), NOT_FOUND(["ServerSideEncryptionConfigurationNotFoundError"]));
    const wantEnc = desiredEncryption(sc);
    const have = enc?.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault;
    const wantDefault = wantEnc.ApplyServerSideEncryptionByDefault!;
    if (have?.SSEAlgorithm !== wantDefault.SSEAlgorithm || (have?.KMSMasterKeyID ?? undefined) !== wantDefault.KMSMasterKeyID) {
      await attempt(`setting default encryption of ${bucket} (PutBucketEncryption)`, () => s3.send(new PutBucketEncryptionCommand({ Bucket: bucket, ServerSideEncryptionConfiguration: { Rules: [wantEnc] } })));
      actions.push({ reason: "EncryptionSet", message: `Set default encryption of bucket ${bucket} to ${wantDefault.SSEAlgorithm === "aws:kms" ? `SSE-KMS with ${wantDefault.KMSMasterKeyID}` : "SSE-S3"}` });
    }
  });

  await optional("lifecycle rules", unsupported, quirks, store, async () => {
    const lc = await orNull(`reading lifecycle rules of ${bucket} (GetBucketLifecycleConfiguration)`, () => s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket })), NOT_FOUND(["NoSuchLifecycleConfiguration"]));
    const existing = lc?.Rules ?? [];
    const foreign = existing.filter((r) => !r.ID?.startsWith(RULE_ID_PREFIX));
    const ours = existing.filter((r) => r.ID?.startsWith(RULE_ID_PREFIX));
    const key = `${store}:abort-rule`;
    const full = desiredLifecycleRules(sc);
    // Some S3-compatible stores (MinIO) refuse AbortIncompleteMultipartUpload and clean stale
    // uploads themselves; only a store the spec names (storage.endpoint) gets this allowance.
    const withoutAbort = full.filter((r) => !r.AbortIncompleteMultipartUpload);
    const canonical = (rules: LifecycleRule[]) => rules.map(canonicalRule).sort().join("\n");
    const put = (rules: LifecycleRule[]) =>
      attempt(`setting lifecycle rules of ${bucket} (PutBucketLifecycleConfiguration)`, () => s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: [...foreign, ...rules] } })));
    let wantRules = quirks?.has(key) ? withoutAbort : full;
    if (canonical(ours) !== canonical(wantRules)) {
      try {
        await put(wantRules);
      } catch (err) {
        const refused = err instanceof CloudStepError && ["InvalidArgument", "MalformedXML", "InvalidRequest"].includes(err.failure.reason);
        if (!(refused && sc.spec.storage.endpoint && wantRules === full)) throw err;
        quirks?.add(key);
        wantRules = withoutAbort;
        if (canonical(ours) !== canonical(wantRules)) await put(wantRules);
      }
      actions.push({ reason: "LifecycleSet", message: `Set lifecycle rules of bucket ${bucket}: ${wantRules.map((r) => r.ID).join(", ")}${foreign.length ? ` (kept ${foreign.length} rule(s) not managed by Floe)` : ""}` });
    }
    if (wantRules !== full) unsupported.push("the abort-incomplete-uploads lifecycle rule");
  });
  return { created, actions, unsupported };
}

export interface BucketDeletion {
  /** True when nothing is left to do (deleted, already gone, or kept on purpose). */
  done: boolean;
  actions: CloudAction[];
}

/**
 * Deletes the bucket only if the operator created it for this cluster (TAG_CREATED_BY), after
 * emptying it: every object version and delete marker, then incomplete uploads. Bounded per
 * call (`maxPages` listings of 1000); the caller calls again until done.
 */
export async function deleteBucketIfCreated(s3: S3Client, sc: StreamCluster, maxPages = 50): Promise<BucketDeletion> {
  const bucket = sc.spec.storage.bucket;
  const me = clusterIdentity(sc);
  // Never probe with CreateBucket here: a deletion must not create anything.
  if ((await headBucket(s3, sc, false)) === "missing") return { done: true, actions: [] };
  const tagging = await orNull(`reading tags of bucket ${bucket} (GetBucketTagging)`, () => s3.send(new GetBucketTaggingCommand({ Bucket: bucket })), NOT_FOUND(["NoSuchTagSet"]));
  const createdBy = tagging?.TagSet?.find((t) => t.Key === TAG_CREATED_BY)?.Value;
  if (createdBy !== me) {
    return { done: true, actions: [{ reason: "BucketRetained", message: `Kept bucket ${bucket} and its data: the operator did not create it (deletionPolicy Delete only deletes buckets tagged ${TAG_CREATED_BY}=${me})` }] };
  }
  let removed = 0;
  for (let page = 0; page < maxPages; page++) {
    const list = await attempt(`listing objects to empty ${bucket} (ListObjectVersions)`, () => s3.send(new ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 1000 })));
    const keys = [...(list.Versions ?? []), ...(list.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key!, VersionId: v.VersionId }));
    if (keys.length === 0) break;
    const res = await attempt(`emptying ${bucket} (DeleteObjects)`, () => s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } })));
    if (res.Errors?.length) {
      const e = res.Errors[0]!;
      throw new CloudStepError(classify({ name: e.Code, message: `${e.Message} (${e.Key}; ${res.Errors.length} object(s) not deleted)` }, `emptying ${bucket} (DeleteObjects)`));
    }
    removed += keys.length;
    if (page === maxPages - 1) {
      return { done: false, actions: [{ reason: "BucketEmptying", message: `Deleted ${removed} objects from bucket ${bucket} (deletionPolicy Delete); more remain, continuing` }] };
    }
  }
  for (;;) {
    const uploads = await attempt(`listing incomplete uploads in ${bucket} (ListMultipartUploads)`, () => s3.send(new ListMultipartUploadsCommand({ Bucket: bucket })));
    if (!uploads.Uploads?.length) break;
    for (const u of uploads.Uploads) {
      await attempt(`aborting upload ${u.Key} in ${bucket} (AbortMultipartUpload)`, () => s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! })));
    }
  }
  await attempt(`deleting bucket ${bucket} (DeleteBucket)`, () => s3.send(new DeleteBucketCommand({ Bucket: bucket })));
  return { done: true, actions: [{ reason: "BucketDeleted", message: `Emptied (${removed} objects) and deleted bucket ${bucket}, as deletionPolicy Delete asks` }] };
}
