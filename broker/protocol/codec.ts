import { ProtocolDecodeError, Reader, Writer } from "./primitives.js";

/**
 * The small runtime the generated codecs call: classic-or-compact strings, bytes and
 * arrays chosen by the message version, and tagged-field sections. Hand-written once so
 * the generated files stay short and readable.
 */
export interface MessageCodec<T> {
  readonly name: string;
  readonly apiKey: number;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** First flexible version (compact types, tagged fields); Infinity if never. */
  readonly flexibleMin: number;
  encode(w: Writer, version: number, msg: T): void;
  decode(r: Reader, version: number): T;
  defaults(): T;
}

export interface ApiSpec {
  readonly apiKey: number;
  /** "Produce", "Fetch", ... */
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly flexibleMin: number;
  readonly latestVersionUnstable: boolean;
  readonly listeners: readonly string[];
  readonly request: MessageCodec<any>;
  readonly response: MessageCodec<any>;
}

export type TaggedField = [tag: number, data: Buffer];

export function writeString(w: Writer, flexible: boolean, nullable: boolean, s: string | null): void {
  if (flexible) {
    if (nullable) w.compactNullableString(s);
    else w.compactString(s ?? "");
  } else if (nullable) w.nullableString(s);
  else w.string(s ?? "");
}

export function readString(r: Reader, flexible: boolean, nullable: boolean): string | null {
  if (flexible) return nullable ? r.compactNullableString() : r.compactString();
  return nullable ? r.nullableString() : r.string();
}

export function writeBytes(w: Writer, flexible: boolean, nullable: boolean, b: Buffer | null): void {
  if (flexible) {
    if (nullable) w.compactNullableBytes(b);
    else w.compactBytes(b ?? Buffer.alloc(0));
  } else if (nullable) w.nullableBytes(b);
  else w.bytes(b ?? Buffer.alloc(0));
}

export function readBytes(r: Reader, flexible: boolean, nullable: boolean): Buffer | null {
  if (flexible) return nullable ? r.compactNullableBytes() : r.compactBytes();
  return nullable ? r.nullableBytes() : r.bytes();
}

export function writeArray<T>(w: Writer, flexible: boolean, nullable: boolean, items: T[] | null, each: (w: Writer, item: T) => void): void {
  if (items === null && nullable) {
    if (flexible) w.uvarint(0);
    else w.int32(-1);
    return;
  }
  const list = items ?? [];
  if (flexible) w.uvarint(list.length + 1);
  else w.int32(list.length);
  for (const item of list) each(w, item);
}

export function readArray<T>(r: Reader, flexible: boolean, nullable: boolean, minElementBytes: number, each: (r: Reader) => T): T[] | null {
  const n = r.arrayLength(flexible, minElementBytes);
  if (n === null) {
    if (!nullable) throw new ProtocolDecodeError("null where an array is required");
    return null;
  }
  const out = new Array<T>(n);
  for (let i = 0; i < n; i++) out[i] = each(r);
  return out;
}

/** Encodes one tagged field's value on its own, so its size can be written first. */
export function encodeTag(fill: (w: Writer) => void): Buffer {
  const w = new Writer(32);
  fill(w);
  return w.toBuffer();
}

export function writeTaggedFields(w: Writer, tags: TaggedField[]): void {
  w.uvarint(tags.length);
  for (const [tag, data] of tags) {
    w.uvarint(tag);
    w.uvarint(data.length);
    w.raw(data);
  }
}

/**
 * Reads a tagged-field section; `known` decodes a tag from a reader over exactly its bytes,
 * so a tag can never read past its own size. Unknown tags are skipped. Writers put tags in
 * ascending order, but like Kafka's own readers this one accepts any order.
 */
export function readTaggedFields(r: Reader, known: (tag: number, r: Reader) => void): void {
  const count = r.uvarint();
  for (let i = 0; i < count; i++) {
    const tag = r.uvarint();
    const data = r.raw(r.uvarint());
    known(tag, new Reader(data));
  }
}

/** Deep equality for decoded values (bigint, Buffer, arrays, plain objects), used to skip default tagged structs. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a && b && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}
