// Random, valid message values driven by the schemas themselves, for round-trip tests:
// every field present at the version gets a random value of its type (null where the
// version allows it); absent fields keep their defaults, as the decoder leaves them.
import { parseVersions, type FieldSchema, type MessageSchema, type VersionRange } from "./schema.js";

const inRange = (r: VersionRange | null, v: number) => r !== null && v >= r.min && v <= r.max;
const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

export type Random = () => number;

/** A small seeded PRNG (mulberry32) so a failing case can be replayed from its seed. */
export function seeded(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rnd: Random, min: number, max: number) => min + Math.floor(rnd() * (max - min + 1));

function randomString(rnd: Random): string {
  const alphabet = "abcXYZ019-._ é漢🙂";
  const chars = [...alphabet];
  let s = "";
  for (let i = int(rnd, 0, 12); i > 0; i--) s += chars[int(rnd, 0, chars.length - 1)];
  return s;
}

function primitive(type: string, rnd: Random): unknown {
  switch (type) {
    case "bool":
      return rnd() < 0.5;
    case "int8":
      return int(rnd, -128, 127);
    case "int16":
      return int(rnd, -32768, 32767);
    case "uint16":
      return int(rnd, 0, 65535);
    case "int32":
      return int(rnd, -2147483648, 2147483647);
    case "int64":
      return BigInt.asIntN(64, (BigInt(int(rnd, 0, 2 ** 32 - 1)) << 32n) | BigInt(int(rnd, 0, 2 ** 32 - 1)));
    case "float64":
      return (rnd() - 0.5) * 1e6;
    case "string":
      return randomString(rnd);
    case "uuid":
      return Buffer.from(Array.from({ length: 16 }, () => int(rnd, 0, 255))).toString("base64url");
    case "bytes":
    case "records":
      return Buffer.from(Array.from({ length: int(rnd, 0, 16) }, () => int(rnd, 0, 255)));
    default:
      return undefined;
  }
}

export function randomMessage(schema: MessageSchema, version: number, rnd: Random, defaults: () => Record<string, unknown>): Record<string, unknown> {
  const structs = new Map((schema.commonStructs ?? []).map((s) => [s.name, s.fields]));
  const fill = (fields: FieldSchema[], base: Record<string, unknown>, depth: number): Record<string, unknown> => {
    for (const f of fields) {
      if (!inRange(parseVersions(f.versions), version)) continue;
      if (f.taggedVersions !== undefined && !inRange(parseVersions(f.taggedVersions), version)) continue;
      base[lowerFirst(f.name)] = value(f, depth);
    }
    return base;
  };
  const structValue = (type: string, inline: FieldSchema[] | undefined, depth: number) => {
    const fields = inline ?? structs.get(type)!;
    return fill(fields, structDefaults(fields), depth + 1);
  };
  const structDefaults = (fields: FieldSchema[]): Record<string, unknown> => {
    // Start from defaults for fields absent at this version: the decoder fills those in.
    const out: Record<string, unknown> = {};
    for (const f of fields) out[lowerFirst(f.name)] = defaultOf(f);
    return out;
  };
  const defaultOf = (f: FieldSchema): unknown => {
    const nullableEver = parseVersions(f.nullableVersions) !== null;
    const d = f.default;
    if (nullableEver && d === "null") return null;
    if (f.type.startsWith("[]")) return [];
    switch (f.type) {
      case "bool":
        return d === true || d === "true";
      case "int64":
        return d === undefined || d === "" ? 0n : BigInt(String(d).trim());
      case "int8":
      case "int16":
      case "uint16":
      case "int32":
      case "float64":
        return d === undefined || d === "" ? 0 : Number(d);
      case "string":
        return d === undefined ? "" : String(d);
      case "uuid":
        return "AAAAAAAAAAAAAAAAAAAAAA";
      case "bytes":
      case "records":
        return Buffer.alloc(0);
      default:
        return structDefaults(f.fields ?? structs.get(f.type)!);
    }
  };
  const value = (f: FieldSchema, depth: number): unknown => {
    if (inRange(parseVersions(f.nullableVersions), version) && rnd() < 0.2) return null;
    const el = f.type.startsWith("[]") ? f.type.slice(2) : null;
    if (el) {
      const n = depth > 3 ? 0 : int(rnd, 0, 3);
      return Array.from({ length: n }, () => primitive(el, rnd) ?? structValue(el, f.fields, depth));
    }
    return primitive(f.type, rnd) ?? structValue(f.type, f.fields, depth);
  };
  return fill(schema.fields, { ...defaults() }, 0);
}
