import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MetadataLog } from "../broker/storage/metadata-log.js";
import { PreconditionFailedError } from "../broker/storage/object-store.js";
import { AmbiguousPreconditionFailedError, S3ObjectStore, S3RequestError, type S3ObjectStoreOptions } from "../broker/storage/s3-object-store.js";
import { always, everyNth, S3FaultProxy, seededRandom, withProbability, type ProxiedRequest } from "./s3-fault-proxy.js";
import { startMinio, type MinioServer } from "./s3-server.js";

/**
 * S3ObjectStore through a fault-injecting proxy in front of a real MinIO: 503 SlowDown,
 * connection resets before and after the server applied a request, slow answers.
 */
let minio: MinioServer;
let proxy: S3FaultProxy;
const stores: S3ObjectStore[] = [];

beforeAll(async () => {
  minio = await startMinio();
  proxy = await S3FaultProxy.start(minio.port);
}, 20 * 60_000);

afterAll(async () => {
  await proxy?.close();
  await minio?.stop();
});

afterEach(() => {
  proxy.policy = () => null;
  for (const s of stores.splice(0)) s.destroy();
});

function store(opts: Partial<S3ObjectStoreOptions> = {}, direct = false): S3ObjectStore {
  const s = new S3ObjectStore({
    bucket: minio.bucket,
    prefix: `faults-${randomBytes(4).toString("hex")}/`,
    endpoint: direct ? minio.endpoint : proxy.endpoint,
    region: minio.region,
    forcePathStyle: true,
    credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey },
    requestTimeoutMs: 2000,
    retry: { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 100, maxElapsedMs: 20_000 },
    random: seededRandom(7),
    ...opts,
  });
  stores.push(s);
  return s;
}

/** The same keys, read straight from MinIO (no proxy). */
function directView(s: S3ObjectStore): S3ObjectStore {
  return store({ prefix: s.prefix }, true);
}

const isConditionalPut = (r: ProxiedRequest) => r.method === "PUT" && (r.headers["if-none-match"] !== undefined || r.headers["if-match"] !== undefined);

describe("S3ObjectStore under injected faults (MinIO behind a fault proxy)", () => {
  it("a workload of puts, gets, conditional puts and lists completes correctly at a healthy fault rate", async () => {
    proxy.policy = withProbability(
      0.15,
      42,
      [{ kind: "slowdown" }, { kind: "reset-request" }, { kind: "reset-response" }, { kind: "delay", delayMs: 30 }],
      { max: 60 },
    );
    const s = store();
    const faultsBefore = proxy.faultsInjected;

    // Plain puts and gets.
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 40; i++) bodies.set(`data/${String(i).padStart(3, "0")}`, randomBytes(100 + i * 37));
    for (let i = 0; i < 40; i += 8) await Promise.all([...bodies].slice(i, i + 8).map(([k, b]) => s.put(k, b)));
    for (const [k, b] of bodies) {
      const got = await s.get(k);
      expect(got?.body.equals(b), k).toBe(true);
      const part = await s.get(k, { start: 10, end: 49 });
      expect(part?.body.equals(b.subarray(10, 50)), k).toBe(true);
    }

    // Conditional puts: a compare-ETag counter and a create-if-absent log with writer nonces.
    let { etag } = await s.put("counter", Buffer.from("0"));
    for (let i = 1; i <= 15; i++) {
      try {
        etag = (await s.put("counter", Buffer.from(String(i)), { ifMatch: etag })).etag;
      } catch (err) {
        // An ambiguous retry: our own write landed; confirm by reading back (the value is unique here).
        expect(err).toBeInstanceOf(AmbiguousPreconditionFailedError);
        const cur = await s.get("counter");
        expect(cur?.body.toString()).toBe(String(i));
        etag = cur!.etag;
      }
    }
    const log = await MetadataLog.open({ store: s, prefix: "meta/" });
    for (let i = 0; i < 20; i++) await log.append({ type: "test", i });

    // Nothing lost, nothing duplicated: check straight against MinIO.
    const direct = directView(s);
    expect((await direct.list("data/")).map((o) => o.key)).toEqual([...bodies.keys()]);
    expect((await direct.get("counter"))?.body.toString()).toBe("15");
    const replayed = await MetadataLog.open({ store: direct, prefix: "meta/" });
    expect(replayed.records().map((r) => r.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(replayed.lastIndex()).toBe(20n);

    expect(proxy.faultsInjected - faultsBefore).toBeGreaterThan(10);
    expect(s.stats.retries).toBeGreaterThan(0);
    expect(s.stats.exhausted).toBe(0);
    expect(Object.keys(s.stats.failures).length).toBeGreaterThan(0);
  }, 120_000);

  it("a conditional put whose first attempt landed but whose answer was lost: the retry gets 412, flagged ambiguous", async () => {
    const s = store();
    proxy.policy = everyNth(1, { kind: "reset-response" }, { match: isConditionalPut, max: 1 });
    const body = Buffer.from(JSON.stringify({ writer: "nonce-1234", value: 1 }));
    const err = await s.put("entry", body, { ifNoneMatch: "*" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionFailedError);
    expect(err).toBeInstanceOf(AmbiguousPreconditionFailedError);
    expect((err as AmbiguousPreconditionFailedError).earlierAttemptMayHaveLanded).toBe(true);
    // What callers do: read back; their own unique bytes there mean the write is theirs.
    expect((await s.get("entry"))?.body.equals(body)).toBe(true);

    // A rival's object in the way is a plain (unambiguous) PreconditionFailedError.
    const rival = await s.put("entry", Buffer.from("other"), { ifNoneMatch: "*" }).catch((e: unknown) => e);
    expect(rival).toBeInstanceOf(PreconditionFailedError);
    expect(rival).not.toBeInstanceOf(AmbiguousPreconditionFailedError);

    // Compare-ETag the same way.
    const v1 = await s.put("lease", Buffer.from("holder-a-1"));
    proxy.policy = everyNth(1, { kind: "reset-response" }, { match: isConditionalPut, max: 1 });
    await expect(s.put("lease", Buffer.from("holder-a-2"), { ifMatch: v1.etag })).rejects.toBeInstanceOf(AmbiguousPreconditionFailedError);
    expect((await s.get("lease"))?.body.toString()).toBe("holder-a-2");
  });

  it("the metadata log recognises its own entry after an ambiguous create-if-absent and is not fenced", async () => {
    const s = store();
    const log = await MetadataLog.open({ store: s, prefix: "meta/" });
    await log.append({ type: "a" });
    proxy.policy = everyNth(1, { kind: "reset-response" }, { match: isConditionalPut, max: 1 });
    await expect(log.append({ type: "b" })).resolves.toBe(2n);
    await expect(log.append({ type: "c" })).resolves.toBe(3n);
    expect(proxy.log.some((r) => r.fault === "reset-response")).toBe(true);
    const replayed = await MetadataLog.open({ store: directView(s), prefix: "meta/" });
    expect(replayed.records().map((r) => r.type)).toEqual(["a", "b", "c"]);
  });

  it("an unconditional put whose answer was lost is retried and lands once; each retry is logged at debug", async () => {
    const lines: { msg: string; attempt: number; operation: string; code: string }[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const s = store({ logger });
    proxy.policy = everyNth(1, { kind: "reset-response" }, { match: (r) => r.method === "PUT", max: 2 });
    const { etag } = await s.put("k", Buffer.from("value"));
    expect(s.stats.retries).toBe(2);
    expect(await directView(s).head("k")).toEqual({ size: 5, etag });
    const retries = lines.filter((l) => l.msg === "S3 request failed; retrying");
    expect(retries.map((l) => [l.operation, l.attempt])).toEqual([
      ["PutObject", 1],
      ["PutObject", 2],
    ]);
    expect(JSON.stringify(lines)).not.toContain(minio.secretKey);
  });

  it("a get whose body is cut mid-response is retried and returns whole bytes", async () => {
    const s = store();
    const body = randomBytes(256 * 1024);
    await s.put("big", body);
    proxy.policy = everyNth(1, { kind: "reset-response" }, { match: (r) => r.method === "GET", max: 3 });
    expect((await s.get("big"))?.body.equals(body)).toBe(true);
    expect(s.stats.retries).toBe(3);
  });

  it("a slow answer beyond the attempt timeout is abandoned and retried", async () => {
    const s = store({ requestTimeoutMs: 300 });
    await s.put("k", Buffer.from("v"));
    proxy.policy = everyNth(1, { kind: "delay", delayMs: 1500 }, { match: (r) => r.method === "GET", max: 1 });
    const started = Date.now();
    expect((await s.get("k"))?.body.toString()).toBe("v");
    expect(Date.now() - started).toBeLessThan(1400);
    expect(s.stats.failures.AttemptTimeout).toBe(1);
  });

  it("503 forever: fails after the bounded retry budget with an error naming operation, bucket and key", async () => {
    const s = store({ retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 10_000 } });
    proxy.policy = always({ kind: "slowdown" });
    const before = proxy.stats.requests;
    const err = await s.put("doomed/key", Buffer.from("x")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3RequestError);
    const e = err as S3RequestError;
    expect(e.operation).toBe("PutObject");
    expect(e.code).toBe("SlowDown");
    expect(e.httpStatus).toBe(503);
    expect(e.attempts).toBe(4);
    expect(e.message).toContain(`PutObject s3://${minio.bucket}/${s.prefix}doomed/key`);
    expect(e.message).toContain("after 4 attempts");
    expect(proxy.stats.requests - before).toBe(4);
    expect(s.stats).toMatchObject({ requests: 4, retries: 3, exhausted: 1, failures: { SlowDown: 4 } });

    // The time budget bounds it too, whatever the attempt count.
    const t = store({ retry: { maxAttempts: 1000, baseDelayMs: 20, maxDelayMs: 100, maxElapsedMs: 500 } });
    const started = Date.now();
    await expect(t.get("any")).rejects.toThrow(/GetObject .* failed after \d+ attempts over \d+ ms: SlowDown/);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
