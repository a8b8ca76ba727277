import { createHash } from "node:crypto";
import { crc32cYielding, md5Yielding } from "./body-checksums.js";
import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { Logger } from "pino";
import { checkKey, checkPutOptions, InvalidRangeError, PreconditionFailedError, type ByteRange, type ListOptions, type ObjectBody, type ObjectStore, type PutOptions } from "./object-store.js";
import { piecesLength } from "./pieces.js";

/**
 * Objects in an S3 bucket, or in any S3-compatible server (MinIO, R2, ...).
 *
 * Every call goes through one retry loop of our own (the SDK's retries are switched off so
 * each attempt is counted, logged and bounded in the same place):
 *  - retried: HTTP 500/502/503/504, SlowDown, RequestTimeout, throttling codes, socket
 *    resets/timeouts and our own per-attempt timeout; with full-jitter exponential backoff,
 *    at most `retry.maxAttempts` attempts and `retry.maxElapsedMs` in total;
 *  - never retried: any other 4xx (a 412 is an answer, not a fault).
 * When the budget is spent the call fails with S3RequestError naming the operation, bucket
 * and key.
 *
 * Conditional writes map to S3's own: `ifNoneMatch: "*"` → `If-None-Match: *`, `ifMatch` →
 * `If-Match: "<etag>"`. HTTP 412 PreconditionFailed and 409 ConditionalRequestConflict (a
 * concurrent conditional write on the same key) both become PreconditionFailedError.
 *
 * Ambiguous conditional writes: when an attempt of a conditional put fails without an
 * answer (connection reset, timeout) it may still have landed; the retry then gets 412
 * because *our own* write is in the way. The store cannot tell that from a rival writer's
 * write, so it throws AmbiguousPreconditionFailedError (a PreconditionFailedError with
 * `earlierAttemptMayHaveLanded = true`). Callers that must tell the two apart put a unique
 * writer nonce in the body and, on PreconditionFailedError, read the object back: if it
 * holds exactly their bytes the write is theirs (MetadataLog does this for every entry).
 *
 * ETags are returned without quotes. A single-part object's ETag is the hex MD5 of its
 * bytes (what the other backends return); an object written by multipart upload (bodies of
 * at least `multipartThreshold` bytes) has S3's `<md5 of part md5s>-<parts>` form. Both work
 * with `ifMatch`.
 *
 * Key layout: `<prefix><key>`, unchanged except for path segments S3-compatible servers
 * refuse or mangle: a segment that is empty, `.` or `..`, or that starts with `%`, is stored
 * as `%` + the hex of its UTF-8 bytes (`..` → `%2e2e`, `` → `%`). Floe's own keys never
 * have such segments, so the bucket reads as the keys do; for keys that do, `list` returns
 * them in the order of their stored form.
 *
 * Multipart and conditions: S3 honours If-None-Match/If-Match on CompleteMultipartUpload.
 * With `conditionalMultipart: false` conditional puts are always sent as one PutObject
 * (S3 accepts up to 5 GiB in one PUT; conditional objects here are small metadata anyway).
 */
export interface S3ObjectStoreOptions {
  bucket: string;
  /** Prefix of every key inside the bucket (e.g. `cluster-a/`); keys given to the store are relative to it. */
  prefix?: string;
  region?: string;
  /** Any S3-compatible endpoint, e.g. `http://127.0.0.1:9000`. Unset: AWS S3 for the region. */
  endpoint?: string;
  /** Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible servers. */
  forcePathStyle?: boolean;
  /** Static keys (tests, dev). Unset: the SDK's default provider chain (env, profile, IRSA, IMDS). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Bound of one attempt, including reading the response body. Default 30 s. */
  requestTimeoutMs?: number;
  /** Bound of establishing a connection. Default 5 s. */
  connectTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Bodies of at least this many bytes use multipart upload. Default 64 MiB (Floe's objects stay below it, so each is one PUT request); S3's minimum part is 5 MiB. */
  multipartThreshold?: number;
  /** Size of each part (the last may be smaller). Default 8 MiB, at least 5 MiB. */
  partSize?: number;
  /** Parts uploaded at once. Default 4. */
  partConcurrency?: number;
  /**
   * End every stored key with U+0001 so no key is also the folder of another. Needed on
   * servers that keep objects as files: MinIO silently leaves `a/b` out of every listing
   * when an object `a` exists. Keeps list order (U+0001 sorts before any key character);
   * keys containing U+0000 or U+0001 are refused. Floe's own keys never nest, so the
   * default (off) is safe on MinIO too; a bucket must always be used with the same setting.
   */
  leafMarker?: boolean;
  /**
   * How S3 checks a single-part upload's body. `crc32c` (default): the
   * `x-amz-checksum-crc32c` header, taken from the caller when it has the CRC (Floe's
   * encoders derive it from their blocks' checksums at no cost), else computed. `md5`:
   * Content-MD5, a hash over every byte, for S3-compatible servers without the newer
   * checksums. Multipart parts always carry Content-MD5.
   */
  uploadChecksum?: "crc32c" | "md5";
  /** Send conditional puts as multipart (conditions on CompleteMultipartUpload) when large. Default true. */
  conditionalMultipart?: boolean;
  /** Most sockets open to the endpoint at once. Default 64. */
  maxSockets?: number;
  logger?: Logger;
  /** Uniform random numbers in [0, 1) for backoff jitter; tests pass a seeded one. */
  random?: () => number;
  /** Injected S3 client (tests). When set, region/endpoint/credentials/timeouts are ignored. */
  client?: S3Client;
}

export interface RetryPolicy {
  /** Attempts per call, the first included. Default 8. */
  maxAttempts: number;
  /** First backoff ceiling; doubles per attempt. Default 50 ms. */
  baseDelayMs: number;
  /** Largest backoff ceiling. Default 5 s. */
  maxDelayMs: number;
  /** No new attempt starts once this much time has passed since the call began. Default 60 s. */
  maxElapsedMs: number;
}

export interface S3ObjectStoreStats {
  /** HTTP attempts sent (each retry is one more). */
  requests: number;
  /** The same attempts by S3 operation (`PutObject`, `GetObject`, `UploadPart`, ...): what S3 bills per request. */
  requestsByOperation: Record<string, number>;
  /** Attempts that were retries. */
  retries: number;
  /** Calls that failed after spending their retry budget on retriable errors. */
  exhausted: number;
  /** Failed attempts by error code (`SlowDown`, `ECONNRESET`, `PreconditionFailed`, `AttemptTimeout`, ...); absent keys on get/head are not failures. */
  failures: Record<string, number>;
  multipartUploads: number;
  multipartAborts: number;
}

/** A call that failed: after its retry budget for transient errors, at once for others. */
export class S3RequestError extends Error {
  constructor(
    message: string,
    readonly operation: string,
    readonly bucket: string,
    readonly key: string,
    readonly code: string,
    readonly httpStatus: number | undefined,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "S3RequestError";
  }
}

/** A 412 on a retry after an attempt whose fate is unknown: the object in the way may be this writer's own. */
export class AmbiguousPreconditionFailedError extends PreconditionFailedError {
  readonly earlierAttemptMayHaveLanded = true;
  constructor(message: string) {
    super(message);
    this.name = "AmbiguousPreconditionFailedError";
  }
}

const LEAF_MARKER = "\u0001";
const MIB = 1024 * 1024;
const MIN_PART = 5 * MIB;
const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 50, maxDelayMs: 5000, maxElapsedMs: 60_000 };
const RETRIABLE_STATUS = new Set([500, 502, 503, 504]);
const RETRIABLE_CODES = new Set([
  "SlowDown",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "InternalError",
  "ServiceUnavailable",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "BandwidthLimitExceeded",
  "XMinioServerNotInitialized",
  "AttemptTimeout",
  "TimeoutError",
  "RequestTimeoutException",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "ERR_STREAM_PREMATURE_CLOSE",
  "TruncatedBody",
]);

interface Classified {
  code: string;
  status: number | undefined;
  retriable: boolean;
  /** The request may have reached the server and been applied (no answer was read). */
  ambiguous: boolean;
}

class AttemptTimeoutError extends Error {
  readonly code = "AttemptTimeout";
  constructor(ms: number) {
    super(`attempt timed out after ${ms} ms`);
    this.name = "AttemptTimeoutError";
  }
}

class TruncatedBodyError extends Error {
  readonly code = "TruncatedBody";
  constructor(got: number, expected: number) {
    super(`response body has ${got} bytes, Content-Length said ${expected}`);
    this.name = "TruncatedBodyError";
  }
}

export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly stats: S3ObjectStoreStats = { requests: 0, requestsByOperation: {}, retries: 0, exhausted: 0, failures: {}, multipartUploads: 0, multipartAborts: 0 };
  private readonly client: S3Client;
  private readonly retry: RetryPolicy;
  private readonly requestTimeoutMs: number;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly conditionalMultipart: boolean;
  private readonly uploadChecksum: "crc32c" | "md5";
  private readonly leafMarker: boolean;
  private readonly logger: Logger | undefined;
  private readonly random: () => number;

  constructor(opts: S3ObjectStoreOptions) {
    if (!opts.bucket) throw new Error("S3ObjectStore: bucket is required");
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ?? "";
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    if (!(this.retry.maxAttempts >= 1)) throw new Error("S3ObjectStore: retry.maxAttempts must be at least 1");
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.partSize = Math.max(MIN_PART, opts.partSize ?? 8 * MIB);
    this.multipartThreshold = Math.max(this.partSize, opts.multipartThreshold ?? 64 * MIB);
    this.partConcurrency = Math.max(1, opts.partConcurrency ?? 4);
    this.conditionalMultipart = opts.conditionalMultipart ?? true;
    this.uploadChecksum = opts.uploadChecksum ?? "crc32c";
    this.leafMarker = opts.leafMarker ?? false;
    this.logger = opts.logger;
    this.random = opts.random ?? Math.random;
    this.client =
      opts.client ??
      new S3Client({
        region: opts.region ?? "us-east-1",
        endpoint: opts.endpoint || undefined,
        forcePathStyle: opts.forcePathStyle ?? false,
        credentials: opts.credentials,
        // Our loop retries; the SDK's would hide attempts from stats and double the budget.
        maxAttempts: 1,
        // Checksums only where S3 requires them: S3-compatible servers vary in support of the newer ones.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        requestHandler: { connectionTimeout: opts.connectTimeoutMs ?? 5000, httpAgent: { keepAlive: true, maxSockets: opts.maxSockets ?? 64 }, httpsAgent: { keepAlive: true, maxSockets: opts.maxSockets ?? 64 } },
      });
    if (!opts.client) {
      // Bodies are not SHA-256-hashed for the signature (UNSIGNED-PAYLOAD, which S3 accepts):
      // that hash ran synchronously over every uploaded byte, tens of milliseconds of stalled
      // event loop per upload. The CRC-32C header (or Content-MD5) still makes S3 check the
      // body, and every object carries Floe's own CRC-32Cs, checked on read.
      this.client.middlewareStack.add(
        (next, context) => async (args) => {
          const request = args.request as { headers?: Record<string, string> };
          if ((context.commandName === "PutObjectCommand" || context.commandName === "UploadPartCommand") && request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
          return next(args);
        },
        { step: "build", name: "floeUnsignedPayload" },
      );
    }
  }

  /** Closes the client's sockets. */
  destroy(): void {
    this.client.destroy();
  }

  async put(key: string, body: ObjectBody, opts?: PutOptions): Promise<{ etag: string }> {
    checkKey(key);
    checkPutOptions(opts);
    this.checkFullKey(key);
    const conditional = opts?.ifNoneMatch !== undefined || opts?.ifMatch !== undefined;
    const length = piecesLength(body);
    // Parts are slices of one buffer; Floe's own objects stay under the threshold and are never joined.
    if (length >= this.multipartThreshold && (!conditional || this.conditionalMultipart)) return this.putMultipart(key, Buffer.isBuffer(body) ? body : Buffer.concat(body), opts);
    // Not copied (a 24 MiB copy stalls produce for tens of ms): the body is the caller's until put settles.
    const integrity = this.uploadChecksum === "md5" ? { ContentMD5: (await md5Yielding(body)).toString("base64") } : { ChecksumCRC32C: crc32cHeader(opts?.checksum ?? (await crc32cYielding(body))) };
    const res = await this.call("PutObject", key, { conditional }, (signal) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.fullKey(key),
          // Pieces go out as a stream made anew for each attempt.
          Body: Buffer.isBuffer(body) ? body : Readable.from(socketWrites(body), { objectMode: false }),
          ContentLength: length,
          ...integrity,
          IfNoneMatch: opts?.ifNoneMatch,
          IfMatch: opts?.ifMatch !== undefined ? quote(opts.ifMatch) : undefined,
        }),
        { abortSignal: signal },
      ),
    );
    // S3 always answers with the ETag; the hash is only a fallback for a server that does not.
    return { etag: res.ETag ? unquote(res.ETag) : (await md5Yielding(body)).toString("hex") };
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Buffer; etag: string } | null> {
    checkKey(key);
    if (range && (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start)) {
      throw new InvalidRangeError(`invalid range ${range.start}-${range.end} for ${key}`);
    }
    return this.call<{ body: Buffer; etag: string } | null>("GetObject", key, { notFoundIsNull: true }, async (signal) => {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key), Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
        { abortSignal: signal },
      );
      const body = await readBody(res.Body as Readable | undefined, signal);
      if (res.ContentLength !== undefined && body.length !== res.ContentLength) throw new TruncatedBodyError(body.length, res.ContentLength);
      return { body, etag: unquote(res.ETag ?? "") };
    });
  }

  async head(key: string): Promise<{ size: number; etag: string } | null> {
    checkKey(key);
    return this.call<{ size: number; etag: string } | null>("HeadObject", key, { notFoundIsNull: true }, async (signal) => {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }), { abortSignal: signal });
      return { size: res.ContentLength ?? 0, etag: unquote(res.ETag ?? "") };
    });
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.call("DeleteObject", key, {}, (signal) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.fullKey(key) }), { abortSignal: signal }));
  }

  async list(prefix: string, opts?: ListOptions): Promise<{ key: string; size: number }[]> {
    const out: { key: string; size: number }[] = [];
    const limit = opts?.limit ?? Infinity;
    if (limit <= 0) return out;
    let token: string | undefined;
    const startAfter = opts?.startAfter !== undefined ? this.fullKey(opts.startAfter) : undefined;
    const { stored: storedPrefix, exact } = encodePrefix(prefix);
    do {
      const page = await this.call("ListObjectsV2", prefix, {}, (signal) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + storedPrefix,
            StartAfter: token === undefined ? startAfter : undefined,
            ContinuationToken: token,
            MaxKeys: Math.min(1000, limit - out.length),
          }),
          { abortSignal: signal },
        ),
      );
      for (const o of page.Contents ?? []) {
        const key = o.Key === undefined ? null : this.keyOf(o.Key);
        if (key === null || (!exact && !key.startsWith(prefix))) continue;
        out.push({ key, size: o.Size ?? 0 });
        if (out.length >= limit) return out;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  private async putMultipart(key: string, body: Buffer, opts?: PutOptions): Promise<{ etag: string }> {
    const fullKey = this.fullKey(key);
    const bytes = body;
    const parts: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += this.partSize) parts.push(bytes.subarray(at, Math.min(bytes.length, at + this.partSize)));
    const partMd5s: Buffer[] = [];
    for (const p of parts) partMd5s.push(await md5Yielding(p));
    const expectedEtag = `${createHash("md5").update(Buffer.concat(partMd5s)).digest("hex")}-${parts.length}`;
    const created = await this.call("CreateMultipartUpload", key, {}, (signal) => this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: fullKey }), { abortSignal: signal }));
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error(`S3 CreateMultipartUpload s3://${this.bucket}/${fullKey} returned no upload id`);
    this.stats.multipartUploads++;
    let completeSent = false;
    try {
      const etags: string[] = new Array(parts.length);
      let next = 0;
      let failure: { err: unknown } | undefined;
      const worker = async () => {
        while (!failure && next < parts.length) {
          const i = next++;
          try {
            const res = await this.call("UploadPart", key, {}, (signal) =>
              this.client.send(
                new UploadPartCommand({ Bucket: this.bucket, Key: fullKey, UploadId: uploadId, PartNumber: i + 1, Body: parts[i], ContentLength: parts[i]!.length, ContentMD5: partMd5s[i]!.toString("base64") }),
                { abortSignal: signal },
              ),
            );
            etags[i] = res.ETag ?? quote(partMd5s[i]!.toString("hex"));
          } catch (err) {
            failure ??= { err };
          }
        }
      };
      // Every worker settles before an abort, so no part upload can land after it.
      await Promise.all(Array.from({ length: Math.min(this.partConcurrency, parts.length) }, worker));
      if (failure) throw failure.err;
      completeSent = true;
      const res = await this.call("CompleteMultipartUpload", key, { conditional: opts?.ifNoneMatch !== undefined || opts?.ifMatch !== undefined, completing: { expectedEtag } }, (signal) =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: fullKey,
            UploadId: uploadId,
            MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
            IfNoneMatch: opts?.ifNoneMatch,
            IfMatch: opts?.ifMatch !== undefined ? quote(opts.ifMatch) : undefined,
          }),
          { abortSignal: signal },
        ),
      );
      return { etag: res.ETag ? unquote(res.ETag) : expectedEtag };
    } catch (err) {
      // After a refused or failed Complete the upload may still exist; abort is harmless if it does not.
      await this.abortUpload(key, uploadId, completeSent);
      throw err;
    }
  }

  private async abortUpload(key: string, uploadId: string, afterComplete: boolean): Promise<void> {
    try {
      await this.call("AbortMultipartUpload", key, { notFoundIsNull: true }, (signal) =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.fullKey(key), UploadId: uploadId }), { abortSignal: signal }),
      );
      this.stats.multipartAborts++;
    } catch (err) {
      // Left to the bucket's lifecycle rule (abort incomplete multipart uploads).
      this.logger?.warn({ err, key, uploadId, afterComplete }, "S3 multipart upload could not be aborted; the bucket lifecycle rule will remove its parts");
    }
  }

  /**
   * One S3 operation with the retry policy. `fn` gets an AbortSignal that fires when the
   * attempt's time is up; it must read the whole response before resolving.
   */
  private async call<T>(
    operation: string,
    key: string,
    opts: { notFoundIsNull?: boolean; conditional?: boolean; completing?: { expectedEtag: string } },
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const started = Date.now();
    let ambiguousEarlier = false;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) this.stats.retries++;
      this.stats.requests++;
      this.stats.requestsByOperation[operation] = (this.stats.requestsByOperation[operation] ?? 0) + 1;
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new AttemptTimeoutError(this.requestTimeoutMs)), this.requestTimeoutMs);
      try {
        return await fn(ac.signal);
      } catch (raw) {
        const err = ac.signal.aborted && !isS3Answer(raw) ? ac.signal.reason : raw;
        const c = classify(err);
        if (c.status === 404 && opts.notFoundIsNull && (c.code === "NoSuchKey" || c.code === "NotFound" || c.code === "NoSuchUpload")) return null as T;
        this.stats.failures[c.code] = (this.stats.failures[c.code] ?? 0) + 1;
        if (c.status === 416 || c.code === "InvalidRange") throw new InvalidRangeError(`S3 ${operation} s3://${this.bucket}/${this.fullKey(key)}: range not satisfiable`);
        // If-Match on an absent key: S3 and MinIO answer 404 NoSuchKey; for the interface that is a failed precondition.
        if (c.status === 412 || c.code === "PreconditionFailed" || c.code === "ConditionalRequestConflict" || (opts.conditional && (c.status === 409 || c.code === "NoSuchKey"))) {
          const what = `S3 ${operation} s3://${this.bucket}/${this.fullKey(key)}: precondition failed (${c.code})`;
          if (ambiguousEarlier) throw new AmbiguousPreconditionFailedError(`${what}; an earlier attempt of this put got no answer and may have landed`);
          throw new PreconditionFailedError(what);
        }
        if (opts.completing && ambiguousEarlier && c.code === "NoSuchUpload") {
          // Our earlier Complete landed but its answer was lost: the upload is gone because it is done.
          const now = await this.head(key);
          if (now?.etag === opts.completing.expectedEtag) return { ETag: now.etag } as T;
        }
        if (c.ambiguous) ambiguousEarlier = true;
        const elapsed = Date.now() - started;
        if (!c.retriable || attempt >= this.retry.maxAttempts || elapsed >= this.retry.maxElapsedMs) {
          if (c.retriable) this.stats.exhausted++;
          const why = c.retriable ? `after ${attempt} attempt${attempt === 1 ? "" : "s"} over ${elapsed} ms` : "(not retriable)";
          throw new S3RequestError(
            `S3 ${operation} s3://${this.bucket}/${this.fullKey(key)} failed ${why}: ${c.code}${c.status ? ` (HTTP ${c.status})` : ""}: ${errMessage(err)}`,
            operation,
            this.bucket,
            this.fullKey(key),
            c.code,
            c.status,
            attempt,
            { cause: err },
          );
        }
        const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
        const delay = Math.min(Math.floor(this.random() * ceiling), Math.max(0, this.retry.maxElapsedMs - elapsed));
        this.logger?.debug({ operation, bucket: this.bucket, key: this.fullKey(key), attempt, code: c.code, status: c.status, delayMs: delay }, "S3 request failed; retrying");
        await sleep(delay);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  private fullKey(key: string): string {
    if (!this.leafMarker) return this.prefix + encodeKey(key);
    if (/[\u0000\u0001]/.test(key)) throw new Error(`object key ${JSON.stringify(key.slice(0, 64))} contains U+0000 or U+0001, which leafMarker reserves`);
    return this.prefix + encodeKey(key) + LEAF_MARKER;
  }

  /** The store's key for a stored key under the prefix, or null if it is not one of ours. */
  private keyOf(stored: string): string | null {
    if (!stored.startsWith(this.prefix)) return null;
    let rel = stored.slice(this.prefix.length);
    if (this.leafMarker) {
      if (!rel.endsWith(LEAF_MARKER)) return null;
      rel = rel.slice(0, -LEAF_MARKER.length);
    }
    return decodeKey(rel);
  }

  private checkFullKey(key: string): void {
    if (Buffer.byteLength(this.fullKey(key), "utf8") > 1024) throw new Error(`object key with prefix longer than 1024 bytes: ${key.slice(0, 64)}...`);
  }
}

function classify(err: unknown): Classified {
  const e = err as { name?: string; code?: string; Code?: string; $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number }; $fault?: string; cause?: unknown };
  const status = e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
  const answered = isS3Answer(err);
  // Socket errors carry a Node code; SDK service errors carry the S3 code as name.
  let code = (answered ? (e.Code ?? e.name) : (e?.code ?? (e?.cause as { code?: string } | undefined)?.code ?? e?.name)) ?? "Unknown";
  if (!answered && code === "AbortError") code = "AttemptTimeout";
  if (code === "Unknown" && status !== undefined) code = `HTTP${status}`;
  const retriable = (status !== undefined && RETRIABLE_STATUS.has(status)) || status === 429 || RETRIABLE_CODES.has(code) || (!answered && /socket hang up|ECONNRESET|aborted|premature close/i.test(errMessage(err)));
  // Without an answer a write may or may not have been applied; 5xx answers from S3 mean it was not... except for InternalError and timeouts on the server side, where S3 does not promise either.
  const ambiguous = !answered || status === 500 || status === 504 || code === "RequestTimeout";
  return { code, status, retriable, ambiguous };
}

/** True when the error is an HTTP answer from the server (any status), not a transport failure. */
function isS3Answer(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return typeof status === "number" && status > 0;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readBody(body: Readable | undefined, signal: AbortSignal): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  const onAbort = () => body.destroy(signal.reason as Error);
  if (signal.aborted) onAbort();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const chunk of body) chunks.push(chunk as Buffer);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  return Buffer.concat(chunks);
}

function needsEscape(segment: string): boolean {
  return segment === "" || segment === "." || segment === ".." || segment.startsWith("%");
}

/** A key as stored in the bucket (see the class comment): bijective, identity for ordinary keys. */
export function encodeKey(key: string): string {
  return key
    .split("/")
    .map((seg) => (needsEscape(seg) ? "%" + Buffer.from(seg, "utf8").toString("hex") : seg))
    .join("/");
}

export function decodeKey(stored: string): string {
  return stored
    .split("/")
    .map((seg) => (seg.startsWith("%") ? Buffer.from(seg.slice(1), "hex").toString("utf8") : seg))
    .join("/");
}

/**
 * The stored prefix under which every key starting with `prefix` lies. Whole segments
 * encode like keys; a partial last segment `.` or `..` may become an escaped segment or
 * stay as it is, so the listing then widens to the enclosing folder (`exact: false`) and
 * the caller filters.
 */
function encodePrefix(prefix: string): { stored: string; exact: boolean } {
  const cut = prefix.lastIndexOf("/") + 1;
  const head = cut > 0 ? encodeKey(prefix.slice(0, cut - 1)) + "/" : "";
  const partial = prefix.slice(cut);
  if (partial === "." || partial === "..") return { stored: head, exact: false };
  if (partial.startsWith("%")) return { stored: head + "%" + Buffer.from(partial, "utf8").toString("hex"), exact: true };
  return { stored: head + partial, exact: true };
}

function quote(etag: string): string {
  return etag.startsWith('"') || etag === "*" ? etag : `"${etag}"`;
}

/** S3 returns ETags in quotes (and some servers weak `W/"..."`); the store hands out the bare value. */
export function unquote(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The `x-amz-checksum-crc32c` value: the CRC's four bytes, big-endian, in base64. */
function crc32cHeader(crc: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0, 0);
  return b.toString("base64");
}

/** Pieces at least this large are written as they are. */
const PASS_THROUGH_BYTES = 32 * 1024;
/** Runs of smaller pieces are joined into writes of about this size: a socket write per small batch would cost a system call each. */
const SOCKET_WRITE_BYTES = 256 * 1024;

/** A turn of the event loop after about this many bytes written to the socket. */
const SOCKET_TURN_BYTES = 1024 * 1024;

/**
 * A body's socket writes, with a turn of the event loop after each SOCKET_TURN_BYTES: the
 * socket takes a whole upload (24 MiB) in one go on loopback or a fast network, and each
 * write is a copy into the kernel (and, with TLS, encryption first) on the main thread,
 * which held produce requests up for 10-17 ms per upload in a CPU profile of the broker.
 */
export async function* socketWrites(pieces: readonly Buffer[]): AsyncGenerator<Buffer> {
  let sinceTurn = 0;
  for (const write of joinedWrites(pieces)) {
    if (sinceTurn >= SOCKET_TURN_BYTES) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sinceTurn = 0;
    }
    yield write;
    sinceTurn += write.length;
  }
}

/** A body's pieces as socket writes: large pieces as they are (not copied), runs of small ones joined. */
function* joinedWrites(pieces: readonly Buffer[]): Generator<Buffer> {
  let run: Buffer[] = [];
  let runBytes = 0;
  for (const p of pieces) {
    if (p.length >= PASS_THROUGH_BYTES) {
      if (runBytes > 0) yield Buffer.concat(run, runBytes);
      run = [];
      runBytes = 0;
      yield p;
      continue;
    }
    run.push(p);
    runBytes += p.length;
    if (runBytes >= SOCKET_WRITE_BYTES) {
      yield Buffer.concat(run, runBytes);
      run = [];
      runBytes = 0;
    }
  }
  if (runBytes > 0) yield Buffer.concat(run, runBytes);
}
