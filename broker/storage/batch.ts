import { crc32c, crc32cCombine } from "../protocol/crc32c.js";
import type { BatchHeader } from "../protocol/record-batch.js";

/**
 * The few record-batch (magic 2) header fields storage needs. Offsets are big-endian:
 * baseOffset i64 @0, batchLength i32 @8 (bytes after offset 12), lastOffsetDelta i32 @23,
 * maxTimestamp i64 @35. Full validation is the protocol layer's job; these checks only keep
 * storage from misreading its own bytes.
 */
export const BATCH_HEADER_BYTES = 61;
const LOG_OVERHEAD = 12;

export function batchSize(buf: Buffer, at = 0): number {
  return LOG_OVERHEAD + buf.readInt32BE(at + 8);
}

export function baseOffsetOf(buf: Buffer, at = 0): bigint {
  return buf.readBigInt64BE(at);
}

export function lastOffsetDeltaOf(buf: Buffer, at = 0): number {
  return buf.readInt32BE(at + 23);
}

export function maxTimestampOf(buf: Buffer, at = 0): bigint {
  return buf.readBigInt64BE(at + 35);
}

/** A batch's own CRC covers its bytes from here (attributes) to the end. */
const CRC_COVERS_FROM = 21;
/** Below this size one pass over the batch costs less than combining checksums. */
const COMBINE_FROM_BYTES = 2048;

/**
 * CRC-32C of the whole batch as stored, for the WAL's and the objects' checksums. Every
 * batch storage holds carries a correct CRC of its bytes from offset 21 (the produce path
 * verified the client's, buildRecordBatch computes its own), and Floe changes only bytes
 * before it (base offset, leader epoch). So a large batch needs a pass over its first 21
 * bytes only, combined with that CRC, not another pass over every byte.
 */
export function batchChecksum(batch: Buffer): number {
  if (batch.length < COMBINE_FROM_BYTES) return crc32c(batch);
  return crc32cCombine(crc32c(batch, 0, CRC_COVERS_FROM), batch.readUInt32BE(17), batch.length - CRC_COVERS_FROM);
}

/** Throws unless `buf` is exactly one well-framed magic-2 batch. */
export function checkBatchFrame(buf: Buffer): void {
  if (buf.length < BATCH_HEADER_BYTES) throw new Error(`record batch of ${buf.length} bytes is shorter than its header`);
  if (buf.readInt8(16) !== 2) throw new Error(`record batch magic ${buf.readInt8(16)} is not 2`);
  if (batchSize(buf) !== buf.length) throw new Error(`record batch length field says ${batchSize(buf)} bytes, buffer holds ${buf.length}`);
  if (lastOffsetDeltaOf(buf) < 0) throw new Error(`record batch lastOffsetDelta ${lastOffsetDeltaOf(buf)} is negative`);
}

/** Splits concatenated batches; throws if the framing does not add up exactly. */
export function splitBatches(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    if (buf.length - at < BATCH_HEADER_BYTES) throw new Error(`truncated record batch at byte ${at}`);
    const size = batchSize(buf, at);
    if (size < BATCH_HEADER_BYTES || at + size > buf.length) throw new Error(`record batch at byte ${at} claims ${size} bytes, ${buf.length - at} left`);
    out.push(buf.subarray(at, at + size));
    at += size;
  }
  return out;
}

export function readHeader(buf: Buffer): BatchHeader {
  return {
    baseOffset: buf.readBigInt64BE(0),
    batchLength: buf.readInt32BE(8),
    partitionLeaderEpoch: buf.readInt32BE(12),
    magic: buf.readInt8(16),
    crc: buf.readUInt32BE(17),
    attributes: buf.readInt16BE(21),
    lastOffsetDelta: buf.readInt32BE(23),
    baseTimestamp: buf.readBigInt64BE(27),
    maxTimestamp: buf.readBigInt64BE(35),
    producerId: buf.readBigInt64BE(43),
    producerEpoch: buf.readInt16BE(51),
    baseSequence: buf.readInt32BE(53),
    recordCount: buf.readInt32BE(57),
  };
}
