import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { crc32c, crc32cCombine } from "./crc32c.js";

/** Bit-at-a-time reference: slow, obviously right. */
function reference(buf: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of buf) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe("crc32c", () => {
  it("matches the standard check value and known vectors", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
  });

  it("agrees with the bit-at-a-time definition on any input and sub-range", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length ? a % bytes.length : 0;
        const end = start + (bytes.length - start ? b % (bytes.length - start + 1) : 0);
        expect(crc32c(bytes, start, end)).toBe(reference(bytes.subarray(start, end)));
      }),
      { numRuns: 300 },
    );
  });

  it("gives the same checksum whatever the alignment of the bytes in memory", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.integer({ min: 0, max: 7 }), (bytes, shift) => {
        const backing = new Uint8Array(bytes.length + 8);
        backing.set(bytes, shift);
        expect(crc32c(backing.subarray(shift, shift + bytes.length))).toBe(reference(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it("continues a checksum across pieces (prev argument)", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 70 }), { maxLength: 5 }), (pieces) => {
        let crc = 0;
        for (const p of pieces) crc = crc32c(p, 0, p.length, crc);
        expect(crc).toBe(reference(Buffer.concat(pieces)));
      }),
      { numRuns: 300 },
    );
  });

  it("combines the checksums of two pieces into the checksum of their concatenation", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        expect(crc32cCombine(crc32c(a), crc32c(b), b.length)).toBe(reference(Buffer.concat([a, b])));
      }),
      { numRuns: 300 },
    );
  });

  it("combines across long pieces (a shift of many bytes)", () => {
    const a = Buffer.from("floe");
    for (const n of [1, 7, 8, 4095, 65536, 1_000_003, 24 * 1024 * 1024 + 5]) {
      const b = Buffer.alloc(n, 0x5a);
      expect(crc32cCombine(crc32c(a), crc32c(b), n)).toBe(crc32c(Buffer.concat([a, b])));
    }
  });
});
