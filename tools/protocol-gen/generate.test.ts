import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { generateAll, OUT_DIR, SCHEMA_DIR, writeAll } from "./generate.js";
import { parseVersions, readAllSchemas } from "./schema.js";
import { messageArbitrary, readDescriptor } from "./arbitrary.js";
import * as generated from "../../broker/protocol/messages/index.js";
import * as headers from "../../broker/protocol/messages/headers.js";
import { API_SPECS } from "../../broker/protocol/messages/index.js";
import { ProtocolDecodeError, Reader, Writer, ZERO_UUID, randomUuid } from "../../broker/protocol/primitives.js";
import type { MessageCodec } from "../../broker/protocol/codec.js";

type Codec = MessageCodec<Record<string, unknown>>;
const schemas = readAllSchemas(SCHEMA_DIR);
const descriptor = readDescriptor(OUT_DIR);
const exported = { ...generated, ...headers } as unknown as Record<string, unknown>;
const codecOf = (name: string) => exported[name] as Codec;
const defaultsOf = (tsName: string) => (exported[`defaults${tsName}`] as () => Record<string, unknown>)();

function roundTrip(codec: Codec, v: number, msg: Record<string, unknown>): { back: Record<string, unknown>; bytes: Buffer; trailing: number } {
  const w = new Writer(16);
  codec.encode(w, v, msg);
  const bytes = w.toBuffer();
  const r = new Reader(bytes);
  return { back: codec.decode(r, v), bytes, trailing: r.remaining };
}

describe("protocol generator", () => {
  it("matches the committed output byte for byte (run `npm run gen` after changing the generator)", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "protocol-gen-"));
    try {
      writeAll(tmp);
      const names = fs.readdirSync(tmp).sort();
      expect(names).toEqual(fs.readdirSync(OUT_DIR).sort());
      for (const name of names) expect(fs.readFileSync(path.join(OUT_DIR, name)).equals(fs.readFileSync(path.join(tmp, name))), name).toBe(true);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("is deterministic", () => {
    expect(generateAll()).toEqual(generateAll());
  });

  it("has a codec for every schema and an API spec for every request/response pair", () => {
    expect(schemas).toHaveLength(186);
    const requests = schemas.filter((s) => s.type === "request");
    expect(requests).toHaveLength(88);
    expect(schemas.filter((s) => s.type === "response")).toHaveLength(88);
    expect(API_SPECS.size).toBe(88);
    for (const req of requests) {
      const spec = API_SPECS.get(req.apiKey!)!;
      expect(spec.request.name).toBe(req.name);
      expect(spec.response.name).toBe(req.name.replace(/Request$/, "Response"));
      expect(generated.ApiKey[spec.name as keyof typeof generated.ApiKey]).toBe(req.apiKey);
    }
    for (const s of schemas) {
      const codec = codecOf(s.name);
      expect(codec, s.name).toBeDefined();
      const valid = parseVersions(s.validVersions)!;
      expect([codec.minVersion, codec.maxVersion]).toEqual([valid.min, valid.max]);
      expect(codec.flexibleMin).toBe(parseVersions(s.flexibleVersions)?.min ?? Infinity);
      expect(descriptor.messages[s.name], s.name).toBeDefined();
    }
    expect(API_SPECS.get(0)).toMatchObject({ name: "Produce", minVersion: 0, maxVersion: 11, flexibleMin: 9 });
    expect(API_SPECS.get(17)!.flexibleMin).toBe(Infinity);
  });

  it("fills every field, in every version, with its schema default", () => {
    const fetch = generated.FetchRequest.defaults();
    expect(fetch).toMatchObject({ clusterId: null, replicaId: -1, replicaState: { replicaId: -1, replicaEpoch: -1n }, maxBytes: 0x7fffffff, isolationLevel: 0, sessionEpoch: -1, rackId: "" });
    expect(generated.MetadataRequest.defaults()).toEqual({ topics: [], allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
    expect(generated.ProduceRequest.defaults().transactionalId).toBeNull();
    // Decoding an old version leaves newer fields at their defaults.
    const w = new Writer();
    generated.MetadataRequest.encode(w, 0, { ...generated.MetadataRequest.defaults(), topics: [{ topicId: randomUuid(), name: "t" }], allowAutoTopicCreation: false });
    expect(generated.MetadataRequest.decode(new Reader(w.toBuffer()), 0)).toEqual({ ...generated.MetadataRequest.defaults(), topics: [{ topicId: ZERO_UUID, name: "t" }] });
  });

  it("round-trips random messages of every schema at every version", () => {
    let cases = 0;
    for (const name of Object.keys(descriptor.messages).sort()) {
      const codec = codecOf(name);
      for (let v = codec.minVersion; v <= codec.maxVersion; v++) {
        fc.assert(
          fc.property(messageArbitrary(descriptor, name, v, defaultsOf), (msg) => {
            const { back, trailing } = roundTrip(codec, v, msg);
            expect(trailing, `${name} v${v}: trailing bytes`).toBe(0);
            expect(back, `${name} v${v}`).toEqual(msg);
          }),
          { numRuns: 6, seed: 20261123 + v },
        );
        cases++;
      }
    }
    const expected = Object.values(descriptor.messages).reduce((n, m) => n + m.maxVersion - m.minVersion + 1, 0);
    expect(cases).toBe(expected);
    expect(cases).toBeGreaterThan(600);
  });

  it("drops fields a version does not carry, and reads them back as defaults", () => {
    // Produce v3 added transactionalId; a v2 encoding has no room for it.
    const msg = { ...generated.ProduceRequest.defaults(), transactionalId: "tx", acks: -1, timeoutMs: 30000 };
    expect(roundTrip(codecOf("ProduceRequest"), 2, msg).back).toEqual({ ...msg, transactionalId: null });
    expect(roundTrip(codecOf("ProduceRequest"), 3, msg).back).toEqual(msg);
  });

  it("writes tagged fields only when they differ from their defaults, in ascending tag order", () => {
    const base = generated.ApiVersionsResponse.defaults();
    const plain = roundTrip(codecOf("ApiVersionsResponse"), 3, base as never).bytes;
    expect(plain.at(-1)).toBe(0); // empty tagged-field section
    const tagged = { ...base, finalizedFeaturesEpoch: 7n, zkMigrationReady: true, supportedFeatures: [{ name: "f", minVersion: 1, maxVersion: 2 }] };
    const { bytes, back } = roundTrip(codecOf("ApiVersionsResponse"), 3, tagged as never);
    expect(back).toEqual(tagged);
    // error code, api keys (empty), throttle time, then 3 tags: 0 (features), 1 (epoch), 3 (zk migration).
    const r = new Reader(bytes, 2 + 1 + 4);
    expect(r.uvarint()).toBe(3);
    const tags: number[] = [];
    for (let i = 0; i < 3; i++) {
      tags.push(r.uvarint());
      r.raw(r.uvarint());
    }
    expect(tags).toEqual([0, 1, 3]);
    expect(r.remaining).toBe(0);
  });

  it("skips unknown tagged fields", () => {
    // ApiVersionsRequest v3: two empty compact strings, then two tags it does not define.
    const w = new Writer();
    w.compactString("");
    w.compactString("");
    w.uvarint(2);
    w.uvarint(2);
    w.uvarint(3);
    w.raw(Buffer.from("abc"));
    w.uvarint(9);
    w.uvarint(0);
    const r = new Reader(w.toBuffer());
    expect(generated.ApiVersionsRequest.decode(r, 3)).toEqual({ clientSoftwareName: "", clientSoftwareVersion: "" });
    expect(r.remaining).toBe(0);
  });

  it("reads tags in whatever order they come, each within its own size", () => {
    // ApiVersionsResponse v3: error 0, no api keys, throttle 0, then tag 3 (true) before tag 1 (epoch 5).
    const w = new Writer();
    w.int16(0);
    w.uvarint(1);
    w.int32(0);
    w.uvarint(2);
    w.uvarint(3);
    w.uvarint(1);
    w.bool(true);
    w.uvarint(1);
    w.uvarint(8);
    w.int64(5n);
    const back = generated.ApiVersionsResponse.decode(new Reader(w.toBuffer()), 3);
    expect(back).toMatchObject({ zkMigrationReady: true, finalizedFeaturesEpoch: 5n });
    // A tag whose value claims more bytes than its size is refused.
    const bad = Buffer.from(w.toBuffer());
    bad[bad.length - 9] = 4; // epoch's size: 8 -> 4
    expect(() => generated.ApiVersionsResponse.decode(new Reader(bad.subarray(0, bad.length - 4)), 3)).toThrow(ProtocolDecodeError);
  });

  it("decodes hostile bytes only into values or ProtocolDecodeError (bounded fuzz)", () => {
    const targets: [string, number][] = [];
    for (const spec of API_SPECS.values()) for (let v = spec.minVersion; v <= spec.maxVersion; v++) targets.push([spec.request.name, v]);
    const valid = fc.constantFrom(...targets).chain(([name, v]) =>
      messageArbitrary(descriptor, name, v, defaultsOf).map((msg) => {
        const w = new Writer();
        codecOf(name).encode(w, v, msg);
        return { name, v, bytes: Buffer.from(w.toBuffer()) };
      }),
    );
    const mutated = fc
      .tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.option(fc.nat()))
      .map(([{ name, v, bytes }, edits, cut]) => {
        for (const [at, b] of edits) if (bytes.length > 0) bytes[at % bytes.length] = b;
        return { name, v, bytes: cut === null || bytes.length === 0 ? bytes : bytes.subarray(0, cut % bytes.length) };
      });
    const noise = fc.tuple(fc.constantFrom(...targets), fc.uint8Array({ maxLength: 96 })).map(([[name, v], b]) => ({ name, v, bytes: Buffer.from(b) }));
    let runs = 0;
    fc.assert(
      fc.property(fc.oneof(mutated, noise), ({ name, v, bytes }) => {
        runs++;
        try {
          codecOf(name).decode(new Reader(bytes), v);
        } catch (err) {
          if (!(err instanceof ProtocolDecodeError)) throw new Error(`${name} v${v} threw ${String(err)} for ${bytes.toString("hex")}`);
        }
      }),
      { numRuns: 1_000_000, interruptAfterTimeLimit: 4000, markInterruptAsFailure: false, seed: 42 },
    );
    expect(runs).toBeGreaterThan(1000);
  });

  it("refuses a huge array count before allocating", () => {
    const w = new Writer();
    w.int32(0x7fffffff); // Metadata v1 topics array
    expect(() => generated.MetadataRequest.decode(new Reader(w.toBuffer()), 1)).toThrow(ProtocolDecodeError);
    const c = new Writer();
    c.uvarint(0xffffffff); // Metadata v9 compact topics array
    expect(() => generated.MetadataRequest.decode(new Reader(c.toBuffer()), 9)).toThrow(ProtocolDecodeError);
  });
});
