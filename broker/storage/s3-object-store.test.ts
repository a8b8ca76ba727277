import { randomBytes } from "node:crypto";
import { ListMultipartUploadsCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMinio, type MinioServer } from "../../test/s3-server.js";
import { objectStoreConformance } from "./object-store.conformance.js";
import { PreconditionFailedError } from "./object-store.js";
import fc from "fast-check";
import { crc32c } from "../protocol/crc32c.js";
import { decodeKey, encodeKey, S3ObjectStore, S3RequestError, socketWrites, unquote, type S3ObjectStoreOptions } from "./s3-object-store.js";

/** S3ObjectStore against a real S3-compatible server (MinIO built from source by tools/minio/install.sh). */
let minio: MinioServer;
let runs = 0;

beforeAll(async () => {
  minio = await startMinio();
}, 20 * 60_000); // the first run on a machine builds MinIO

afterAll(async () => {
  await minio?.stop();
});

function storeFor(extra: Partial<S3ObjectStoreOptions> = {}): S3ObjectStore {
  return new S3ObjectStore({
    bucket: minio.bucket,
    // Each test gets its own prefix: the bucket is shared, the tests must not see each other.
    prefix: `run-${++runs}-${randomBytes(4).toString("hex")}/`,
    endpoint: minio.endpoint,
    region: minio.region,
    forcePathStyle: true,
    credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
    requestTimeoutMs: 10_000,
    ...extra,
  });
}

// MinIO keeps objects as files and hides `a/b` from listings when an object `a` exists; the
// conformance suite nests keys like that, so it runs with leafMarker (see S3ObjectStoreOptions).
objectStoreConformance("S3 (MinIO)", async () => {
  const store = storeFor({ leafMarker: true });
  return { store, cleanup: async () => store.destroy() };
});

describe("S3ObjectStore specifics (MinIO)", () => {
  it("strips ETag quotes", () => {
    expect(unquote('"abc"')).toBe("abc");
    expect(unquote('W/"abc"')).toBe("abc");
    expect(unquote("abc")).toBe("abc");
  });

  it("stores ordinary keys as they are and escapes only segments servers refuse, reversibly", () => {
    expect(encodeKey("meta/log/00000000000000000001")).toBe("meta/log/00000000000000000001");
    expect(encodeKey("../escape")).toBe("%2e2e/escape");
    expect(encodeKey("x/./y//")).toBe("x/%2e/y/%/%");
    expect(encodeKey("sp ace/%2F/ü")).toBe("sp ace/%253246/ü");
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom("", ".", "..", "%", "%2e", "a"), fc.string()), { minLength: 1, maxLength: 5 }), (segs) => {
        const key = segs.join("/");
        const stored = encodeKey(key);
        expect(decodeKey(stored)).toBe(key);
        expect(stored.split("/").some((s) => s === "" || s === "." || s === "..")).toBe(false);
      }),
    );
  });

  it("lists by prefixes that end inside an escaped segment", async () => {
    const store = storeFor();
    for (const k of ["d/..", "d/.x", "d/.", "d/%p", "d/a"]) await store.put(k, Buffer.from(k));
    expect((await store.list("d/.")).map((o) => o.key).sort()).toEqual(["d/.", "d/..", "d/.x"]);
    expect((await store.list("d/..")).map((o) => o.key)).toEqual(["d/.."]);
    expect((await store.list("d/%")).map((o) => o.key)).toEqual(["d/%p"]);
    expect((await store.list("d/")).length).toBe(5);
    store.destroy();
  });

  it("without leafMarker, MinIO hides a key nested under another key (why leafMarker exists)", async () => {
    const plain = storeFor();
    await plain.put("n", Buffer.from("1"));
    await plain.put("n/m", Buffer.from("2"));
    expect((await plain.get("n/m"))?.body.toString()).toBe("2");
    expect((await plain.list("")).map((o) => o.key)).toEqual(["n"]); // MinIO's behaviour; AWS S3 lists both
    const marked = storeFor({ leafMarker: true });
    for (const k of ["n", "n/m", "n-1", "n/m/o"]) await marked.put(k, Buffer.from(k));
    expect((await marked.list("")).map((o) => o.key)).toEqual(["n", "n-1", "n/m", "n/m/o"]);
    expect((await marked.list("n/")).map((o) => o.key)).toEqual(["n/m", "n/m/o"]);
    expect((await marked.list("", { startAfter: "n" })).map((o) => o.key)).toEqual(["n-1", "n/m", "n/m/o"]);
    await expect(marked.put("bad\u0001", Buffer.from("x"))).rejects.toThrow(/U\+0001/);
    plain.destroy();
    marked.destroy();
  });

  it("keeps keys under its prefix and lists them relative to it", async () => {
    const a = storeFor({ prefix: "tenant-a/" });
    const b = storeFor({ prefix: "tenant-b/" });
    await a.put("k", Buffer.from("from a"));
    await b.put("k", Buffer.from("from b"));
    expect((await a.get("k"))?.body.toString()).toBe("from a");
    expect((await b.get("k"))?.body.toString()).toBe("from b");
    expect(await a.list("")).toEqual([{ key: "k", size: 6 }]);
    const bare = storeFor({ prefix: "" });
    expect((await bare.list("tenant-")).map((o) => o.key)).toEqual(["tenant-a/k", "tenant-b/k"]);
    for (const s of [a, b, bare]) s.destroy();
  });

  it("lists across pages (more than 1000 keys) with startAfter and limit", async () => {
    const store = storeFor();
    const keys = Array.from({ length: 1205 }, (_, i) => `p/${String(i).padStart(5, "0")}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, Buffer.from("x"))));
    const all = await store.list("p/");
    expect(all.map((o) => o.key)).toEqual(keys);
    expect((await store.list("p/", { startAfter: keys[999] })).map((o) => o.key)).toEqual(keys.slice(1000));
    expect((await store.list("p/", { startAfter: keys[10], limit: 1100 })).map((o) => o.key)).toEqual(keys.slice(11, 1111));
    expect(await store.list("p/", { limit: 0 })).toEqual([]);
    expect(store.stats.retries).toBe(0);
    store.destroy();
  }, 120_000);

  it("has S3 check each upload: a CRC-32C the caller passes or the store computes, or Content-MD5", async () => {
    const body = randomBytes(300_000);
    const crc = crc32c(body);
    const store = storeFor();
    expect((await store.put("given", body, { checksum: crc })).etag).toMatch(/^[0-9a-f]{32}$/);
    expect((await store.get("given"))?.body.equals(body)).toBe(true);
    await store.put("computed", body);
    expect((await store.get("computed"))?.body.equals(body)).toBe(true);
    // A checksum that does not match the bytes: MinIO refuses the put (not retried) and stores nothing.
    const err = await store.put("wrong", body, { checksum: (crc ^ 1) >>> 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3RequestError);
    expect((err as S3RequestError).httpStatus).toBe(400);
    expect((err as S3RequestError).attempts).toBe(1);
    expect(await store.head("wrong")).toBeNull();
    const md5Store = storeFor({ uploadChecksum: "md5" });
    await md5Store.put("md5", body, { checksum: (crc ^ 1) >>> 0 }); // md5 mode ignores the CRC
    expect((await md5Store.get("md5"))?.body.equals(body)).toBe(true);
    store.destroy();
    md5Store.destroy();
  });

  it("puts a body of many pieces, small and large, byte for byte", async () => {
    const store = storeFor();
    // A stream-set object's shape: batches of every size, a few over the 32 KiB pass-through size.
    const pieces = Array.from({ length: 400 }, (_, i) => randomBytes(i % 7 === 0 ? 40_000 + i : 1 + ((i * 997) % 20_000)));
    const whole = Buffer.concat(pieces);
    expect(whole.length).toBeGreaterThan(4 * 1024 * 1024);
    await store.put("pieces", pieces, { checksum: crc32c(whole) });
    expect((await store.get("pieces"))?.body.equals(whole)).toBe(true);
    store.destroy();
  });

  it("writes a body to the socket with a turn of the event loop after each MiB", async () => {
    const pieces = Array.from({ length: 64 }, () => randomBytes(128 * 1024)); // 8 MiB
    let turns = 0;
    let turning = true;
    const turn = () => {
      turns++;
      if (turning) setImmediate(turn);
    };
    setImmediate(turn);
    // Drained with no I/O in between: only the writer's own yields let the loop turn.
    const writes: Buffer[] = [];
    for await (const w of socketWrites(pieces)) writes.push(w);
    turning = false;
    expect(Buffer.concat(writes).equals(Buffer.concat(pieces))).toBe(true);
    expect(turns).toBeGreaterThanOrEqual(7); // one after each MiB but the last
  });

  it("uploads large bodies in parts, and honours conditions on them", async () => {
    const mib = 1024 * 1024;
    const store = storeFor({ multipartThreshold: 5 * mib, partSize: 5 * mib, partConcurrency: 2 });
    const body = randomBytes(12 * mib);
    const { etag } = await store.put("big", body, { ifNoneMatch: "*" });
    expect(etag).toMatch(/^[0-9a-f]{32}-3$/);
    expect(store.stats.multipartUploads).toBe(1);
    const got = await store.get("big");
    expect(got?.etag).toBe(etag);
    expect(got?.body.equals(body)).toBe(true);
    expect((await store.get("big", { start: 5 * mib - 2, end: 5 * mib + 1 }))?.body.equals(body.subarray(5 * mib - 2, 5 * mib + 2))).toBe(true);

    // Create-if-absent on a multipart put: refused, and no parts are left behind.
    await expect(store.put("big", randomBytes(6 * mib), { ifNoneMatch: "*" })).rejects.toBeInstanceOf(PreconditionFailedError);
    // Compare-ETag on a multipart put: the right ETag wins, a stale one is refused.
    const next = randomBytes(6 * mib);
    const replaced = await store.put("big", next, { ifMatch: etag });
    await expect(store.put("big", randomBytes(6 * mib), { ifMatch: etag })).rejects.toBeInstanceOf(PreconditionFailedError);
    expect((await store.get("big"))?.etag).toBe(replaced.etag);
    expect((await store.get("big"))?.body.equals(next)).toBe(true);
    expect(store.stats.multipartAborts).toBe(2);

    const client = new S3Client({ region: minio.region, endpoint: minio.endpoint, forcePathStyle: true, credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey } });
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: minio.bucket, Prefix: store.prefix }));
    expect(uploads.Uploads ?? []).toEqual([]);
    client.destroy();
    store.destroy();
  }, 120_000);

  it("counts request attempts by S3 operation (what S3 bills)", async () => {
    const store = storeFor();
    await store.put("a", Buffer.from("x"));
    await store.put("b", Buffer.from("y"));
    await store.get("a");
    await store.get("absent");
    await store.head("b");
    expect(store.stats.requestsByOperation).toEqual({ PutObject: 2, GetObject: 2, HeadObject: 1 });
    expect(store.stats.requests).toBe(5);
    store.destroy();
  });

  it("fails at once, without retrying, on a 4xx that is not a fault (missing bucket)", async () => {
    const store = storeFor({ bucket: "no-such-bucket" });
    const err = await store.put("k", Buffer.from("x")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3RequestError);
    expect((err as S3RequestError).code).toBe("NoSuchBucket");
    expect((err as S3RequestError).attempts).toBe(1);
    expect((err as Error).message).toContain("s3://no-such-bucket/");
    expect(store.stats.retries).toBe(0);
    store.destroy();
  });
});
