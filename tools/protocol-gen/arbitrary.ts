// fast-check arbitraries for every generated message, driven by the descriptor the
// generator writes next to its output (broker/protocol/messages/schema.json). A value has
// a random value for every field on the wire at the chosen version (null where that version
// allows it) and the codec's defaults for every other field, which is what decoding the
// encoded bytes must give back.
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import type { FieldDescriptor, SchemaDescriptor } from "./generate.js";

export function readDescriptor(outDir: string): SchemaDescriptor {
  return JSON.parse(fs.readFileSync(path.join(outDir, "schema.json"), "utf8")) as SchemaDescriptor;
}

const within = (r: [number, number] | undefined | null, v: number) => r != null && v >= r[0] && v <= r[1];

/** Is the field written at version `v` (positionally or as a tagged field)? */
export function onWire(f: FieldDescriptor, v: number): boolean {
  return within(f.versions, v) && (f.tagged === undefined || within(f.tagged, v));
}

/** Arrays stay short and shrink with depth, so a message stays small however deep its structs nest. */
const ARRAY_MAX_BY_DEPTH = [4, 3, 2, 1];

const PRIMITIVES: Record<string, fc.Arbitrary<unknown>> = {
  bool: fc.boolean(),
  int8: fc.integer({ min: -128, max: 127 }),
  int16: fc.integer({ min: -32768, max: 32767 }),
  uint16: fc.integer({ min: 0, max: 65535 }),
  int32: fc.integer(),
  int64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  float64: fc.double(),
  // Whole code points only: a lone surrogate cannot survive UTF-8, and Kafka strings are UTF-8.
  string: fc.string({ unit: "binary", maxLength: 16 }),
  uuid: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString("base64url")),
  bytes: fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
  records: fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
};

export type Defaults = (tsName: string) => Record<string, unknown>;

/**
 * An arbitrary for message `name` at `version`. `defaultsOf(tsName)` returns the generated
 * defaults of a message or struct (the test passes the generated `defaultsX` functions).
 */
export function messageArbitrary(d: SchemaDescriptor, name: string, version: number, defaultsOf: Defaults): fc.Arbitrary<Record<string, unknown>> {
  const message = d.messages[name];
  if (!message) throw new Error(`no descriptor for ${name}`);
  const structArb = (tsName: string, fields: FieldDescriptor[], depth: number): fc.Arbitrary<Record<string, unknown>> => {
    const present: Record<string, fc.Arbitrary<unknown>> = {};
    for (const f of fields) if (onWire(f, version)) present[f.name] = fieldArb(f, depth);
    return fc.record(present).map((values) => ({ ...defaultsOf(tsName), ...values }));
  };
  const typeArb = (type: string, depth: number): fc.Arbitrary<unknown> => {
    if (type.startsWith("[]")) {
      const maxLength = ARRAY_MAX_BY_DEPTH[depth] ?? 0;
      return fc.array(typeArb(type.slice(2), depth + 1), { maxLength });
    }
    const p = PRIMITIVES[type];
    if (p) return p;
    const fields = d.structs[type];
    if (!fields) throw new Error(`${name}: unknown type ${type}`);
    return structArb(type, fields, depth);
  };
  const fieldArb = (f: FieldDescriptor, depth: number): fc.Arbitrary<unknown> => {
    const arb = typeArb(f.type, depth);
    return within(f.nullable, version) ? fc.option(arb, { nil: null, freq: 4 }) : arb;
  };
  return structArb(name, message.fields, 0);
}
