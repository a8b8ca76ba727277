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
