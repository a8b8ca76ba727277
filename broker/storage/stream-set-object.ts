import { crc32c, crc32cCombine } from "../protocol/crc32c.js";
import { baseOffsetOf, batchChecksum, lastOffsetDeltaOf, maxTimestampOf } from "./batch.js";

/**
 * Stream-set object (`objects/<epoch>/<seq>.sso`): the data of many partitions uploaded
 * together. Layout:
 *
 *   data   blocks of raw record batches; each block holds whole batches of one partition,
 *          in offset order, at most `blockBytesMax` (a larger batch gets a block of its own)
 *   index  u32 count, then per block: u16 topicId length, topicId (UTF-8), i32 partition,
 *          i64 baseOffset, i64 lastOffset, i64 maxTimestamp, u64 position, u32 length,
 *          u32 crc32c of the block's bytes
 *   footer (28 bytes) u64 index position, u32 index length, u32 crc32c of the index,
 *          u16 format version, u16 flags (0), u32 magic "FSSO", u32 crc32c of the
 *          preceding 24 footer bytes
 *
 * The block is the unit of reading and caching: a ranged GET fetches whole blocks and
 * their CRC is checked before any byte is served, so damage is reported, never returned.
 * The same block list goes into the metadata entry, so readers need not fetch the index;
 * the in-object index makes the object self-describing for compaction and GC.
 */
export const SSO_FORMAT_VERSION = 1;
export const SSO_FOOTER_BYTES = 28;
const FOOTER_MAGIC = 0x4653534f; // "FSSO"

export interface SsoBlock {
  topicId: string;
  partition: number;
  baseOffset: bigint;
  lastOffset: bigint;
  maxTimestamp: bigint;
  position: number;
  length: number;
  crc: number;
}

export interface SsoStream {
  topicId: string;
  partition: number;
  /** Whole batches in offset order. */
  batches: Buffer[];
}

export class ObjectCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ObjectCorruptError";
  }
}

export function encodeStreamSetObject(streams: SsoStream[], blockBytesMax: number): EncodedObject {
  const steps = encodeSteps(streams, blockBytesMax);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The same object, encoded in slices of about `sliceBytes` with a turn of the event loop
 * between them: an upload of tens of MiB of small batches (each checksummed once more, see
 * batchChecksum) must not stall the produce path for its whole length.
 */
export async function encodeStreamSetObjectYielding(streams: SsoStream[], blockBytesMax: number, sliceBytes = 2 * 1024 * 1024): Promise<EncodedObject> {
  const steps = encodeSteps(streams, blockBytesMax);
  let sinceYield = 0;
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    sinceYield += r.value;
    if (sinceYield >= sliceBytes) {
      sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/**
 * An encoded object as the pieces it is stored as the concatenation of: the batches
 * themselves (not copied: an upload hands the cached batches to the store), then one buffer
 * holding index and footer. `checksum` is the CRC-32C of all of it.
 */
export interface EncodedObject {
  pieces: Buffer[];
  size: number;
  blocks: SsoBlock[];
  checksum: number;
}

/** Plans the blocks and derives their checksums from the batches' own; yields the bytes of each block done. */
function* encodeSteps(streams: SsoStream[], blockBytesMax: number): Generator<number, EncodedObject> {
  const pieces: Buffer[] = [];
  const blocks: SsoBlock[] = [];
  let position = 0;
  let checksum = 0;
  for (const s of streams) {
    let i = 0;
    while (i < s.batches.length) {
      const first = s.batches[i]!;
      let length = 0;
      let crc = 0;
      let maxTimestamp = maxTimestampOf(first);
      let j = i;
      do {
        const b = s.batches[j++]!;
        if (maxTimestampOf(b) > maxTimestamp) maxTimestamp = maxTimestampOf(b);
        crc = crc32cCombine(crc, batchChecksum(b), b.length);
        length += b.length;
        pieces.push(b);
      } while (j < s.batches.length && length + s.batches[j]!.length <= blockBytesMax);
      const last = s.batches[j - 1]!;
      blocks.push({
        topicId: s.topicId,
        partition: s.partition,
        baseOffset: baseOffsetOf(first),
        lastOffset: baseOffsetOf(last) + BigInt(lastOffsetDeltaOf(last)),
        maxTimestamp,
        position,
        length,
        crc,
      });
      checksum = crc32cCombine(checksum, crc, length);
      position += length;
      i = j;
      yield length;
    }
  }
  const index = encodeIndex(blocks);
  const tail = Buffer.allocUnsafe(index.length + SSO_FOOTER_BYTES);
  index.copy(tail, 0);
  const footer = tail.subarray(index.length);
  footer.writeBigUInt64BE(BigInt(position), 0);
  footer.writeUInt32BE(index.length, 8);
  const indexCrc = crc32c(index);
  footer.writeUInt32BE(indexCrc, 12);
  footer.writeUInt16BE(SSO_FORMAT_VERSION, 16);
  footer.writeUInt16BE(0, 18);
  footer.writeUInt32BE(FOOTER_MAGIC, 20);
  footer.writeUInt32BE(crc32c(footer, 0, 24), 24);
  pieces.push(tail);
  checksum = crc32cCombine(crc32cCombine(checksum, indexCrc, index.length), crc32c(footer), footer.length);
  return { pieces, size: position + tail.length, blocks, checksum };
}

/** Where the index lives, from the object's last SSO_FOOTER_BYTES bytes. */
export function decodeFooter(footer: Buffer): { indexPosition: number; indexLength: number; indexCrc: number; version: number } {
  if (footer.length !== SSO_FOOTER_BYTES) throw new ObjectCorruptError(`stream-set footer must be ${SSO_FOOTER_BYTES} bytes, got ${footer.length}`);
  if (footer.readUInt32BE(20) !== FOOTER_MAGIC || crc32c(footer, 0, 24) !== footer.readUInt32BE(24)) throw new ObjectCorruptError("stream-set footer is damaged");
  const version = footer.readUInt16BE(16);
  if (version !== SSO_FORMAT_VERSION) throw new ObjectCorruptError(`stream-set format version ${version} is not supported`);
  return { indexPosition: Number(footer.readBigUInt64BE(0)), indexLength: footer.readUInt32BE(8), indexCrc: footer.readUInt32BE(12), version };
}

/** Reads the block list of a whole object (for compaction, GC and checks). */
export function decodeStreamSetObject(body: Buffer): SsoBlock[] {
  if (body.length < SSO_FOOTER_BYTES) throw new ObjectCorruptError("stream-set object shorter than its footer");
  const f = decodeFooter(body.subarray(body.length - SSO_FOOTER_BYTES));
  if (f.indexPosition + f.indexLength + SSO_FOOTER_BYTES !== body.length) throw new ObjectCorruptError("stream-set footer does not match the object size");
  const index = body.subarray(f.indexPosition, f.indexPosition + f.indexLength);
  if (crc32c(index) !== f.indexCrc) throw new ObjectCorruptError("stream-set index checksum mismatch");
  return decodeIndex(index);
}

/** Throws ObjectCorruptError unless `bytes` are exactly the block described. */
export function verifyBlock(bytes: Buffer, block: SsoBlock, key: string): void {
  if (bytes.length !== block.length) throw new ObjectCorruptError(`${key}@${block.position}: read ${bytes.length} bytes, block is ${block.length}`);
  const crc = crc32c(bytes);
  if (crc !== block.crc) throw new ObjectCorruptError(`${key}@${block.position}: block checksum mismatch (stored ${block.crc.toString(16)}, computed ${crc.toString(16)})`);
}

/** Index entry bytes besides the topic id: u16 id length, i32 partition, 4 x 64-bit fields, u32 length, u32 crc. */
const INDEX_ENTRY_FIXED_BYTES = 2 + 4 + 8 * 4 + 4 + 4;

function encodeIndex(blocks: SsoBlock[]): Buffer {
  const ids = blocks.map((b) => Buffer.from(b.topicId, "utf8"));
  const size = 4 + blocks.reduce((n, _, i) => n + INDEX_ENTRY_FIXED_BYTES + ids[i]!.length, 0);
  const out = Buffer.alloc(size);
  let at = out.writeUInt32BE(blocks.length, 0);
  blocks.forEach((b, i) => {
    at = out.writeUInt16BE(ids[i]!.length, at);
    at += ids[i]!.copy(out, at);
    at = out.writeInt32BE(b.partition, at);
    at = out.writeBigInt64BE(b.baseOffset, at);
    at = out.writeBigInt64BE(b.lastOffset, at);
    at = out.writeBigInt64BE(b.maxTimestamp, at);
    at = out.writeBigUInt64BE(BigInt(b.position), at);
    at = out.writeUInt32BE(b.length, at);
    at = out.writeUInt32BE(b.crc, at);
  });
  return out;
}

function decodeIndex(buf: Buffer): SsoBlock[] {
  try {
    const count = buf.readUInt32BE(0);
    let at = 4;
    const out: SsoBlock[] = [];
    for (let i = 0; i < count; i++) {
      const idLength = buf.readUInt16BE(at);
      const topicId = buf.toString("utf8", at + 2, at + 2 + idLength);
      at += 2 + idLength;
      out.push({
        topicId,
        partition: buf.readInt32BE(at),
        baseOffset: buf.readBigInt64BE(at + 4),
        lastOffset: buf.readBigInt64BE(at + 12),
        maxTimestamp: buf.readBigInt64BE(at + 20),
        position: Number(buf.readBigUInt64BE(at + 28)),
        length: buf.readUInt32BE(at + 36),
        crc: buf.readUInt32BE(at + 40),
      });
      at += 44;
    }
    if (at !== buf.length) throw new ObjectCorruptError(`stream-set index has ${buf.length - at} trailing bytes`);
    return out;
  } catch (err) {
    if (err instanceof ObjectCorruptError) throw err;
    throw new ObjectCorruptError(`stream-set index is malformed: ${(err as Error).message}`);
  }
}
