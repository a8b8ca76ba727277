import { randomBytes } from "node:crypto";

/**
 * Kafka's wire primitives: fixed-width big-endian integers, (zigzag) varints, classic and
 * compact strings/bytes/arrays, UUIDs and tagged fields. No I/O: bytes in, values out.
 * Every length is checked against the bytes actually left before anything is allocated,
 * so a hostile length prefix fails fast instead of reserving gigabytes.
 */
export class ProtocolDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolDecodeError";
  }
}

/** UUIDs travel as 16 bytes and are shown as Kafka does: URL-safe base64 without padding. */
export const ZERO_UUID = "AAAAAAAAAAAAAAAAAAAAAA";

export function randomUuid(): string {
  const b = randomBytes(16);
  // Kafka never hands out the all-zero id or ids whose base64 starts with '-'.
  b[0] = b[0]! & 0x7f;
  const id = b.toString("base64url");
  return id === ZERO_UUID ? randomUuid() : id;
}

/** Buffers at least this large are kept by reference in a Writer, not copied (record batches). */
const BORROW_MIN_BYTES = 512;
/** Scratch buffers double as a message grows, up to this size each. */
const SCRATCH_MAX_BYTES = 64 * 1024;

/**
 * A growable output buffer. It writes into a scratch buffer and, when that is full, starts a
 * new one instead of copying what was written; large raw buffers (record batches) are kept
 * by reference. `toBuffer()` joins the pieces once (or returns the only one), `toBuffers()`
 * hands them out for a vectored socket write. A buffer given to `raw()` must not change
 * until the output has been taken.
 */
export class Writer {
  private readonly chunks: Buffer[] = [];
  private chunkBytes = 0;
  private buf: Buffer;
  /** Start of the bytes in `buf` not yet moved to `chunks`. */
  private start = 0;
  private pos = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialBytes));
  }

  get length(): number {
    return this.chunkBytes + this.pos - this.start;
  }

  private flush(): void {
    if (this.pos === this.start) return;
    this.chunks.push(this.buf.subarray(this.start, this.pos));
    this.chunkBytes += this.pos - this.start;
    this.start = this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    this.buf = Buffer.allocUnsafe(Math.max(n, Math.min(this.buf.length * 2, SCRATCH_MAX_BYTES)));
    this.start = this.pos = 0;
  }

  int8(v: number): void {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
  }
  int16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
  }
  uint16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  int32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }
  uint32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }
  int64(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }
  float64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }
  bool(v: boolean): void {
    this.int8(v ? 1 : 0);
  }
  uvarint(v: number): void {
    if (v < 0 || v > 0xffffffff || !Number.isInteger(v)) throw new RangeError(`uvarint out of range: ${v}`);
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  varint(v: number): void {
    this.uvarint(((v << 1) ^ (v >> 31)) >>> 0);
  }
  varlong(v: bigint): void {
    let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    this.ensure(10);
    while (z >= 0x80n) {
      this.buf[this.pos++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.buf[this.pos++] = Number(z);
  }
  uuid(v: string): void {
    const b = Buffer.from(v, "base64url");
    if (b.length !== 16) throw new RangeError(`not a Kafka UUID: ${v}`);
    this.raw(b);
  }
  raw(b: Buffer): void {
    if (b.length >= BORROW_MIN_BYTES) {
      this.flush();
      this.chunks.push(b);
      this.chunkBytes += b.length;
      return;
    }
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
  string(v: string): void {
    const len = Buffer.byteLength(v, "utf8");
    if (len > 0x7fff) throw new RangeError(`string of ${len} bytes is too long for an int16 length`);
    this.int16(len);
    this.ensure(len);
    this.pos += this.buf.write(v, this.pos, "utf8");
  }
  nullableString(v: string | null): void {
    if (v === null) this.int16(-1);
    else this.string(v);
  }
  compactString(v: string): void {
    const len = Buffer.byteLength(v, "utf8");
    this.uvarint(len + 1);
    this.ensure(len);
    this.pos += this.buf.write(v, this.pos, "utf8");
  }
  compactNullableString(v: string | null): void {
    if (v === null) this.uvarint(0);
    else this.compactString(v);
  }
  bytes(v: Buffer): void {
    this.int32(v.length);
    this.raw(v);
  }
  nullableBytes(v: Buffer | null): void {
    if (v === null) this.int32(-1);
    else this.bytes(v);
  }
  compactBytes(v: Buffer): void {
    this.uvarint(v.length + 1);
    this.raw(v);
  }
  compactNullableBytes(v: Buffer | null): void {
    if (v === null) this.uvarint(0);
    else this.compactBytes(v);
  }
  /** Reserves an int32 to be filled in later (e.g. a size prefix), returning its position. */
  reserveInt32(): number {
    this.ensure(4);
    const at = this.length;
    this.buf.writeInt32BE(0, this.pos);
    this.pos += 4;
    return at;
  }
  /** Fills in a reserved int32; `at` is a position from reserveInt32(). */
  patchInt32(at: number, v: number): void {
    if (at >= this.chunkBytes) {
      this.buf.writeInt32BE(v, this.start + at - this.chunkBytes);
      return;
    }
    // Reserved bytes were written into a scratch buffer in one piece, so they lie in one chunk.
    let offset = 0;
    for (const c of this.chunks) {
      if (at < offset + c.length) {
        c.writeInt32BE(v, at - offset);
        return;
      }
      offset += c.length;
    }
  }
  /** Everything written, as one buffer (joined once if it was written in pieces). */
  toBuffer(): Buffer {
    this.flush();
    if (this.chunks.length === 0) return Buffer.alloc(0);
    if (this.chunks.length > 1) {
      const joined = Buffer.concat(this.chunks, this.chunkBytes);
      this.chunks.length = 0;
      this.chunks.push(joined);
    }
    return this.chunks[0]!;
  }
  /** Everything written, as the pieces it was written in (for socket.writev / cork), without copying. */
  toBuffers(): Buffer[] {
    this.flush();
    return [...this.chunks];
  }
}

export class Reader {
  private pos: number;

  constructor(private readonly buf: Buffer, offset = 0) {
    this.pos = offset;
  }

  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) {
      throw new ProtocolDecodeError(`truncated ${what}: need ${n} bytes at offset ${this.pos}, ${this.buf.length - this.pos} left`);
    }
  }

  /** The int16 `at` bytes ahead, without moving (request headers are read after a peek at their api key and version). */
  peekInt16(at = 0): number {
    this.need(at + 2, "int16");
    return this.buf.readInt16BE(this.pos + at);
  }
  int8(): number {
    this.need(1, "int8");
    return this.buf.readInt8(this.pos++);
  }
  int16(): number {
    this.need(2, "int16");
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  uint16(): number {
    this.need(2, "uint16");
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4, "int32");
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  uint32(): number {
    this.need(4, "uint32");
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  int64(): bigint {
    this.need(8, "int64");
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  float64(): number {
    this.need(8, "float64");
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  uvarint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      this.need(1, "varint");
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (v > 0xffffffff) throw new ProtocolDecodeError("unsigned varint exceeds 32 bits");
        return v;
      }
      mul *= 128;
    }
    throw new ProtocolDecodeError("varint longer than 5 bytes");
  }
  varint(): number {
    const z = this.uvarint();
    return (z >>> 1) ^ -(z & 1);
  }
  varlong(): bigint {
    let z = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      this.need(1, "varlong");
      const b = this.buf[this.pos++]!;
      z |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asIntN(64, (z >> 1n) ^ -(z & 1n));
      shift += 7n;
    }
    throw new ProtocolDecodeError("varlong longer than 10 bytes");
  }
  uuid(): string {
    return this.raw(16).toString("base64url");
  }
  raw(n: number): Buffer {
    this.need(n, "bytes");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  private utf8(n: number): string {
    this.need(n, "string");
    const s = this.buf.toString("utf8", this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  string(): string {
    const n = this.int16();
    if (n < 0) throw new ProtocolDecodeError(`null where a string is required (length ${n})`);
    return this.utf8(n);
  }
  nullableString(): string | null {
    const n = this.int16();
    if (n === -1) return null;
    if (n < 0) throw new ProtocolDecodeError(`invalid string length ${n}`);
    return this.utf8(n);
  }
  compactString(): string {
    const n = this.uvarint();
    if (n === 0) throw new ProtocolDecodeError("null where a compact string is required");
    return this.utf8(n - 1);
  }
  compactNullableString(): string | null {
    const n = this.uvarint();
    return n === 0 ? null : this.utf8(n - 1);
  }
  bytes(): Buffer {
    const n = this.int32();
    if (n < 0) throw new ProtocolDecodeError(`null where bytes are required (length ${n})`);
    return this.raw(n);
  }
  nullableBytes(): Buffer | null {
    const n = this.int32();
    if (n === -1) return null;
    if (n < 0) throw new ProtocolDecodeError(`invalid bytes length ${n}`);
    return this.raw(n);
  }
  compactBytes(): Buffer {
    const n = this.uvarint();
    if (n === 0) throw new ProtocolDecodeError("null where compact bytes are required");
    return this.raw(n - 1);
  }
  compactNullableBytes(): Buffer | null {
    const n = this.uvarint();
    return n === 0 ? null : this.raw(n - 1);
  }
  /**
   * An array length: -1 (classic) or 0 (compact) means null. Each element takes at least
   * `minElementBytes`, so a count larger than the bytes left is refused before allocation.
   */
  arrayLength(compact: boolean, minElementBytes = 1): number | null {
    let n: number;
    if (compact) {
      const raw = this.uvarint();
      if (raw === 0) return null;
      n = raw - 1;
    } else {
      n = this.int32();
      if (n === -1) return null;
      if (n < 0) throw new ProtocolDecodeError(`invalid array length ${n}`);
    }
    if (n * Math.max(1, minElementBytes) > this.remaining) {
      throw new ProtocolDecodeError(`array of ${n} elements cannot fit in the ${this.remaining} bytes left`);
    }
    return n;
  }
  /** Skips a tagged-field section, returning nothing (unknown tags are ignored). */
  skipTaggedFields(): void {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint();
      this.raw(this.uvarint());
    }
  }
}
