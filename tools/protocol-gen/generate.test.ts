import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { generateAll, OUT_DIR, SCHEMA_DIR } from "./generate.js";
import { parseVersions, readAllSchemas } from "./schema.js";
import { randomMessage, seeded } from "./arbitrary.js";
import { API_SPECS } from "../../broker/protocol/messages/index.js";
import * as generated from "../../broker/protocol/messages/index.js";
import { ProtocolDecodeError, Reader, Writer } from "../../broker/protocol/primitives.js";
import { sameValue, type MessageCodec } from "../../broker/protocol/codec.js";

const schemas = readAllSchemas(SCHEMA_DIR);
const codecOf = (name: string) => (generated as unknown as Record<string, MessageCodec<Record<string, unknown>>>)[name]!;

describe("protocol generator", () => {
  it("matches the committed output (run `npm run gen` after changing the generator)", () => {
    const files = generateAll();
    expect([...files.keys()].sort()).toEqual(fs.readdirSync(OUT_DIR).sort());
    for (const [name, text] of files) expect(fs.readFileSync(path.join(OUT_DIR, name), "utf8"), name).toBe(text);
  });

  it("has a codec for every request and response schema, and an API spec for every request", () => {
    const requests = schemas.filter((s) => s.type === "request");
    expect(requests).toHaveLength(88);
    expect(API_SPECS.size).toBe(88);
    for (const s of schemas.filter((s) => s.type !== "header")) {
      const codec = codecOf(s.name);
      expect(codec, s.name).toBeDefined();
      const valid = parseVersions(s.validVersions)!;
      expect([codec.minVersion, codec.maxVersion]).toEqual([valid.min, valid.max]);
    }
  });

  it("round-trips random messages of every schema at every version", () => {
    let cases = 0;
    for (const schema of schemas.filter((s) => s.type !== "header")) {
      const codec = codecOf(schema.name);
      for (let v = codec.minVersion; v <= codec.maxVersion; v++) {
        for (let seed = 1; seed <= 8; seed++) {
          const msg = randomMessage(schema, v, seeded(seed * 7919 + v), () => codec.defaults());
          const w = new Writer();
          codec.encode(w, v, msg);
          const bytes = w.toBuffer();
          const r = new Reader(bytes);
          const back = codec.decode(r, v);
          expect(r.remaining, `${schema.name} v${v} seed ${seed}: trailing bytes`).toBe(0);
          if (!sameValue(back, msg)) expect(back, `${schema.name} v${v} seed ${seed}`).toEqual(msg);
          cases++;
        }
      }
    }
    expect(cases).toBeGreaterThan(4000);
  });

  it("decodes hostile bytes only ever into values or ProtocolDecodeError (bounded fuzz)", () => {
    const rnd = seeded(20261123);
    const deadline = Date.now() + 4000;
    let runs = 0;
    const requests = [...API_SPECS.values()];
    while (Date.now() < deadline) {
      const spec = requests[Math.floor(rnd() * requests.length)]!;
      const v = spec.minVersion + Math.floor(rnd() * (spec.maxVersion - spec.minVersion + 1));
      // Half the time mutate a valid encoding, half the time pure noise.
      let bytes: Buffer;
      if (rnd() < 0.5) {
        const schema = schemas.find((s) => s.name === spec.request.name)!;
        const w = new Writer();
        spec.request.encode(w, v, randomMessage(schema, v, rnd, () => spec.request.defaults()));
        bytes = Buffer.from(w.toBuffer());
        for (let i = Math.floor(rnd() * 4); i >= 0 && bytes.length > 0; i--) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
        if (rnd() < 0.3) bytes = bytes.subarray(0, Math.floor(rnd() * bytes.length));
      } else {
        bytes = Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
      }
      try {
        spec.request.decode(new Reader(bytes), v);
      } catch (err) {
        if (!(err instanceof ProtocolDecodeError)) throw new Error(`${spec.name} v${v} threw ${String(err)} for ${bytes.toString("hex")}`);
      }
      runs++;
    }
    expect(runs).toBeGreaterThan(1000);
  });

  it("refuses an array count larger than the bytes left before allocating", () => {
    const w = new Writer();
    w.int32(0x7fffffff); // Metadata v1 topics array
    expect(() => API_SPECS.get(3)!.request.decode(new Reader(w.toBuffer()), 1)).toThrow(ProtocolDecodeError);
  });
});
