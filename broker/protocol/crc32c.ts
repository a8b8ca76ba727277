/**
 * CRC-32C (Castagnoli), the checksum of Kafka record batches and of Floe's WAL records and
 * object blocks. Slicing-by-16 over aligned 32-bit loads: sixteen 256-entry tables let the
 * loop consume 16 bytes (four little-endian words read through an Int32Array view) per
 * step. This runs over every produced byte at least twice (batch validation, WAL frame),
 * so it is the broker's hottest loop; reading words instead of bytes made it about 1.6x
 * faster than the byte-indexed slicing-by-8 it replaced. Big-endian hosts take the
 * byte-at-a-time path.
 */
const POLY = 0x82f63b78;
const T = new Int32Array(16 * 256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T[i] = c;
}
for (let i = 0; i < 256; i++) {
  for (let s = 1; s < 16; s++) T[s * 256 + i] = (T[(s - 1) * 256 + i]! >>> 8) ^ T[T[(s - 1) * 256 + i]! & 0xff]!;
}
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * CRC-32C of `buf[start..end)`. `prev` continues a checksum: crc32c(b, 0, b.length,
 * crc32c(a)) equals the CRC-32C of a followed by b, so a record held in pieces needs no
 * concatenation to be checksummed.
 */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, prev = 0): number {
  let crc = ~prev;
  let i = start;
  // Bytes up to the next 4-byte boundary of the underlying memory, so the word view is aligned.
  const lead = Math.min(end - i, (4 - ((buf.byteOffset + i) & 3)) & 3);
  for (const stop = i + lead; i < stop; i++) crc = T[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  if (LITTLE_ENDIAN && end - i >= 16) {
    const words = ((end - i) >>> 4) << 2;
    const w = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    for (let k = 0; k < words; k += 4) {
      const a = crc ^ w[k]!;
      const b = w[k + 1]!;
      const c = w[k + 2]!;
      const d = w[k + 3]!;
      crc =
        T[3840 + (a & 0xff)]! ^
        T[3584 + ((a >>> 8) & 0xff)]! ^
        T[3328 + ((a >>> 16) & 0xff)]! ^
        T[3072 + (a >>> 24)]! ^
        T[2816 + (b & 0xff)]! ^
        T[2560 + ((b >>> 8) & 0xff)]! ^
        T[2304 + ((b >>> 16) & 0xff)]! ^
        T[2048 + (b >>> 24)]! ^
        T[1792 + (c & 0xff)]! ^
        T[1536 + ((c >>> 8) & 0xff)]! ^
        T[1280 + ((c >>> 16) & 0xff)]! ^
        T[1024 + (c >>> 24)]! ^
        T[768 + (d & 0xff)]! ^
        T[512 + ((d >>> 8) & 0xff)]! ^
        T[256 + ((d >>> 16) & 0xff)]! ^
        T[d >>> 24]!;
    }
    i += words * 4;
  }
  for (; i < end; i++) crc = T[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

// ---- combining checksums ----
//
// The CRC of a concatenation A‖B follows from crc(A), crc(B) and |B| alone: appending |B|
// bytes multiplies A's remainder by x^(8·|B|) modulo the polynomial, and the conditioning
// (initial and final inversion) cancels between the two halves. So a checksum already
// known for a piece (a record batch's own CRC, a WAL frame's) need not be computed again
// over the same bytes when they become part of something larger.

/** a·b modulo the CRC polynomial, both in the reflected bit order the table uses (bit 31 is x^0). */
function mulModPoly(a: number, b: number): number {
  let product = 0;
  for (let bit = 0x80000000; a !== 0; bit >>>= 1) {
    if (a & bit) {
      product ^= b;
      a &= ~bit;
    }
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return product >>> 0;
}

/** X_POW_2K[k] = x^(2^k) modulo the polynomial; 64 entries cover any safe-integer length. */
const X_POW_2K = new Uint32Array(64);
X_POW_2K[0] = 0x40000000; // x^1
for (let k = 1; k < 64; k++) X_POW_2K[k] = mulModPoly(X_POW_2K[k - 1]!, X_POW_2K[k - 1]!);

/** x^(8·bytes) modulo the polynomial: the factor that shifts a remainder past `bytes` bytes. */
function shiftFactor(bytes: number): number {
  let factor = 0x80000000; // x^0
  // 8·bytes = bytes·2^3: walk the bits of `bytes` starting at power 2^3.
  for (let k = 3, n = bytes; n > 0; k++, n = Math.floor(n / 2)) {
    if (n % 2 === 1) factor = mulModPoly(X_POW_2K[k]!, factor);
  }
  return factor;
}

/** CRC-32C of A‖B from `crcA` = crc32c(A), `crcB` = crc32c(B) and B's length. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB === 0) return crcA >>> 0;
  return (mulModPoly(shiftFactor(lengthB), crcA) ^ crcB) >>> 0;
}
