import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ProtocolDecodeError, Reader, Writer, ZERO_UUID, randomUuid } from "./primitives.js";

const hex = (f: (w: Writer) => void) => {
  const w = new Writer(1);
  f(w);
  return w.toBuffer().toString("hex");
};
const reader = (h: string) => new Reader(Buffer.from(h, "hex"));

describe("varints", () => {
  it("zigzag-encodes int32 edges as Kafka's record format does", () => {
    expect(hex((w) => w.varint(0))).toBe("00");
    expect(hex((w) => w.varint(-1))).toBe("01");
    expect(hex((w) => w.varint(1))).toBe("02");
    expect(hex((w) => w.varint(-64))).toBe("7f");
    expect(hex((w) => w.varint(64))).toBe("8001");
    expect(hex((w) => w.varint(2147483647))).toBe("feffffff0f");
    expect(hex((w) => w.varint(-2147483648))).toBe("ffffffff0f");
    for (const v of [0, -1, 1, 63, -64, 64, 300, -300, 2147483647, -2147483648]) {
      expect(reader(hex((w) => w.varint(v))).varint()).toBe(v);
    }
  });

  it("zigzag-encodes int64 edges in at most 10 bytes", () => {
    const max = 2n ** 63n - 1n;
    const min = -(2n ** 63n);
    expect(hex((w) => w.varlong(0n))).toBe("00");
    expect(hex((w) => w.varlong(-1n))).toBe("01");
    expect(hex((w) => w.varlong(max))).toBe("feffffffffffffffff01");
    expect(hex((w) => w.varlong(min))).toBe("ffffffffffffffffff01");
    for (const v of [0n, 1n, -1n, max, min, 2n ** 31n, -(2n ** 31n) - 1n]) expect(reader(hex((w) => w.varlong(v))).varlong()).toBe(v);
  });

  it("round-trips any int32 / int64 / uint32", () => {
    fc.assert(
      fc.property(fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.integer({ min: 0, max: 0xffffffff }), (i, l, u) => {
        const w = new Writer(1);
        w.varint(i);
        w.varlong(l);
        w.uvarint(u);
        const r = new Reader(w.toBuffer());
        expect([r.varint(), r.varlong(), r.uvarint(), r.remaining]).toEqual([i, l, u, 0]);
      }),
      { numRuns: 500 },
    );
  });

  it("rejects varints that are too long or truncated", () => {
    expect(() => reader("ffffffffff01").varint()).toThrow(ProtocolDecodeError); // 6 bytes
    expect(() => reader("ffffffff1f").uvarint()).toThrow(ProtocolDecodeError); // 35 bits
    expect(() => reader("ffffffffffffffffffff01").varlong()).toThrow(ProtocolDecodeError); // 11 bytes
    expect(() => reader("80").uvarint()).toThrow(ProtocolDecodeError);
    expect(() => reader("").varlong()).toThrow(ProtocolDecodeError);
    expect(() => new Writer().uvarint(-1)).toThrow(RangeError);
  });
});

describe("strings and bytes", () => {
  it("tells null from empty in both classic and compact forms", () => {
    expect(hex((w) => w.nullableString(null))).toBe("ffff");
    expect(hex((w) => w.string(""))).toBe("0000");
    expect(hex((w) => w.compactNullableString(null))).toBe("00");
    expect(hex((w) => w.compactString(""))).toBe("01");
    expect(hex((w) => w.compactString("ab"))).toBe("036162");
    expect(hex((w) => w.nullableBytes(null))).toBe("ffffffff");
    expect(hex((w) => w.compactNullableBytes(null))).toBe("00");
    expect(hex((w) => w.compactBytes(Buffer.alloc(0)))).toBe("01");
    expect(reader("ffff").nullableString()).toBeNull();
    expect(reader("0000").nullableString()).toBe("");
    expect(reader("00").compactNullableString()).toBeNull();
    expect(reader("01").compactNullableString()).toBe("");
    expect(reader("00").compactNullableBytes()).toBeNull();
    expect(reader("01").compactBytes()).toEqual(Buffer.alloc(0));
  });

  it("counts string lengths in UTF-8 bytes", () => {
    expect(hex((w) => w.string("é"))).toBe("0002c3a9");
    expect(reader("0002c3a9").string()).toBe("é");
  });

  it("refuses null where a value is required, and impossible lengths", () => {
    expect(() => reader("ffff").string()).toThrow(ProtocolDecodeError);
    expect(() => reader("fffe").nullableString()).toThrow(ProtocolDecodeError);
    expect(() => reader("00").compactString()).toThrow(ProtocolDecodeError);
    expect(() => reader("ffffffff").bytes()).toThrow(ProtocolDecodeError);
    expect(() => reader("fffffffe").nullableBytes()).toThrow(ProtocolDecodeError);
    expect(() => reader("00056162").string()).toThrow(ProtocolDecodeError);
    expect(() => reader("7fffffff").bytes()).toThrow(ProtocolDecodeError);
    expect(() => reader("ffffffff0f").compactBytes()).toThrow(ProtocolDecodeError);
    expect(() => new Writer().string("x".repeat(0x8000))).toThrow(RangeError);
  });

  it("checks array counts against the bytes left", () => {
    expect(reader("ffffffff").arrayLength(false)).toBeNull();
    expect(reader("00").arrayLength(true)).toBeNull();
    expect(reader("0000000200000000").arrayLength(false, 2)).toBe(2);
    expect(() => reader("0000000200").arrayLength(false, 2)).toThrow(ProtocolDecodeError);
    expect(() => reader("7fffffff").arrayLength(false)).toThrow(ProtocolDecodeError);
    expect(() => reader("80000000").arrayLength(false)).toThrow(ProtocolDecodeError);
    expect(() => reader("ffffffff0f").arrayLength(true)).toThrow(ProtocolDecodeError);
  });
});

describe("fixed-width values", () => {
  it("round-trips integer edges big-endian", () => {
    const w = new Writer(1);
    w.int8(-128);
    w.int16(-32768);
    w.uint16(65535);
    w.int32(-2147483648);
    w.uint32(0xffffffff);
    w.int64(-(2n ** 63n));
    w.float64(-0.5);
    w.bool(true);
    expect(w.toBuffer().toString("hex")).toBe("80" + "8000" + "ffff" + "80000000" + "ffffffff" + "8000000000000000" + "bfe0000000000000" + "01");
    const r = new Reader(w.toBuffer());
    expect([r.int8(), r.int16(), r.uint16(), r.int32(), r.uint32(), r.int64(), r.float64(), r.bool()]).toEqual([-128, -32768, 65535, -2147483648, 0xffffffff, -(2n ** 63n), -0.5, true]);
    expect(() => r.int8()).toThrow(ProtocolDecodeError);
  });

  it("patches a reserved int32 and grows past its initial size", () => {
    const w = new Writer(2);
    const at = w.reserveInt32();
    w.raw(Buffer.alloc(100, 7));
    w.patchInt32(at, w.length - 4);
    const b = w.toBuffer();
    expect(b.length).toBe(104);
    expect(b.readInt32BE(0)).toBe(100);
  });

  it("keeps large buffers by reference and patches reserved ints across pieces", () => {
    const big = Buffer.alloc(4000, 0xab);
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 700 }), fc.constant(-1)), { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), (ops, initial) => {
        const w = new Writer(initial);
        const expected: Buffer[] = [];
        const reserved: [number, number][] = [];
        for (const [i, op] of ops.entries()) {
          if (op === -1) {
            reserved.push([w.reserveInt32(), i]);
            expected.push(Buffer.alloc(4));
          } else {
            const piece = op > 600 ? big : Buffer.alloc(op, i & 0xff);
            w.raw(piece);
            expected.push(piece);
          }
        }
        const want = Buffer.concat(expected);
        for (const [at, i] of reserved) {
          w.patchInt32(at, i * 1000 + 1);
          want.writeInt32BE(i * 1000 + 1, at);
        }
        expect(w.length).toBe(want.length);
        expect(Buffer.concat(w.toBuffers())).toEqual(want);
        expect(w.toBuffer()).toEqual(want);
      }),
      { numRuns: 300 },
    );
    const w = new Writer();
    w.int8(1);
    w.raw(big);
    const pieces = w.toBuffers();
    expect(pieces[1]).toBe(big); // not copied
  });

  it("reads from an offset and peeks without moving", () => {
    const r = new Reader(Buffer.from("ff0012abcd", "hex"), 1);
    expect(r.peekInt16(0)).toBe(0x12);
    expect(r.peekInt16(2)).toBe(-0x5433);
    expect(r.offset).toBe(1);
    expect(() => r.peekInt16(3)).toThrow(ProtocolDecodeError);
    expect(r.int16()).toBe(0x12);
    expect(r.remaining).toBe(2);
  });
});

describe("UUIDs", () => {
  it("show 16 bytes as 22 characters of URL-safe base64, as Kafka does", () => {
    expect(ZERO_UUID).toHaveLength(22);
    expect(hex((w) => w.uuid(ZERO_UUID))).toBe("00".repeat(16));
    const bytes = Buffer.from("fbffbfff00112233445566778899aabb", "hex");
    const r = new Reader(bytes);
    const id = r.uuid();
    // Same as classic base64 with '+/' swapped for '-_' and the padding dropped.
    expect(id).toBe(bytes.toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""));
    expect(id).toMatch(/^[-_]/);
    expect(hex((w) => w.uuid(id))).toBe(bytes.toString("hex"));
    expect(() => new Writer().uuid("short")).toThrow(RangeError);
  });

  it("randomUuid gives fresh, non-zero, well-formed ids", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const id = randomUuid();
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(id).not.toBe(ZERO_UUID);
      seen.add(id);
    }
    expect(seen.size).toBe(200);
  });
});
