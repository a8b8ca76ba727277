import { crc32c } from "./crc32c.js";

/**
 * Record batch v2 (magic 2), the only on-disk/on-wire format Floe stores. Layout, big-endian:
 *
 *   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 | 17 crc u32
 *  21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64 | 35 maxTimestamp i64
 *  43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 | 57 recordCount i32 | 61 records
 *
 * The CRC-32C covers bytes 21..end, so the broker may rewrite baseOffset and
 * partitionLeaderEpoch without touching the CRC, and stores batches (compressed or not)
 * exactly as they came.
 */
export const BATCH_HEADER_BYTES = 61;
/** baseOffset + batchLength: batchLength counts the bytes after these 12. */
export const BATCH_LOG_OVERHEAD = 12;
const CRC_START = 21;

export const Attr = {
  compressionMask: 0x07,
  timestampTypeLogAppend: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
} as const;

export const CompressionCodec = ["none", "gzip", "snappy", "lz4", "zstd"] as const;

export interface BatchHeader {
  baseOffset: bigint;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/** Why a batch was refused; maps to a Kafka error code in the produce handler. */
export type BatchProblem =
  | "CORRUPT_MESSAGE" // bad CRC, truncated, or lengths that do not add up
  | "UNSUPPORTED_MAGIC" // magic 0/1: Floe stores only v2 batches
  | "INVALID_RECORD"; // structurally valid frame, invalid content (e.g. record count mismatch)

export class BatchError extends Error {
  constructor(readonly problem: BatchProblem, message: string) {
    super(message);
    this.name = "BatchError";
  }
}

export function readBatchHeader(buf: Buffer, at = 0): BatchHeader {
  return {
    baseOffset: buf.readBigInt64BE(at),
    batchLength: buf.readInt32BE(at + 8),
    partitionLeaderEpoch: buf.readInt32BE(at + 12),
    magic: buf.readInt8(at + 16),
    crc: buf.readUInt32BE(at + 17),
    attributes: buf.readInt16BE(at + 21),
    lastOffsetDelta: buf.readInt32BE(at + 23),
    baseTimestamp: buf.readBigInt64BE(at + 27),
    maxTimestamp: buf.readBigInt64BE(at + 35),
    producerId: buf.readBigInt64BE(at + 43),
    producerEpoch: buf.readInt16BE(at + 51),
    baseSequence: buf.readInt32BE(at + 53),
    recordCount: buf.readInt32BE(at + 57),
  };
}

export function setBaseOffset(batch: Buffer, offset: bigint): void {
  batch.writeBigInt64BE(offset, 0);
}

const PARTITION_LEADER_EPOCH_AT = 12;

export function setPartitionLeaderEpoch(batch: Buffer, epoch: number): void {
  batch.writeInt32BE(epoch, PARTITION_LEADER_EPOCH_AT);
}

export function partitionLeaderEpochOf(batch: Buffer): number {
  return batch.readInt32BE(PARTITION_LEADER_EPOCH_AT);
}

export function compressionOf(attributes: number): (typeof CompressionCodec)[number] | "unknown" {
  return CompressionCodec[attributes & Attr.compressionMask] ?? "unknown";
}

/**
 * Splits a Produce `records` field into batches and checks each one: framing, magic,
 * CRC-32C, and for uncompressed batches that the records really add up to recordCount.
 * Returns views into the input (no copy); throws BatchError on the first bad batch.
 */
export function splitAndValidateBatches(records: Buffer): { header: BatchHeader; bytes: Buffer }[] {
  const out: { header: BatchHeader; bytes: Buffer }[] = [];
  let at = 0;
  while (at < records.length) {
    if (records.length - at < BATCH_LOG_OVERHEAD + 5) {
      throw new BatchError("CORRUPT_MESSAGE", `truncated record batch: ${records.length - at} trailing bytes`);
    }
    const magic = records.readInt8(at + 16);
    if (magic !== 2) throw new BatchError("UNSUPPORTED_MAGIC", `record batch magic ${magic} is not supported (only magic 2)`);
    const batchLength = records.readInt32BE(at + 8);
    const total = BATCH_LOG_OVERHEAD + batchLength;
    if (batchLength < BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD || at + total > records.length) {
      throw new BatchError("CORRUPT_MESSAGE", `record batch length ${batchLength} does not fit the ${records.length - at} bytes left`);
    }
    const bytes = records.subarray(at, at + total);
    const header = readBatchHeader(bytes);
    const actual = crc32c(bytes, CRC_START, bytes.length);
    if (actual !== header.crc) {
      throw new BatchError("CORRUPT_MESSAGE", `record batch CRC mismatch: header ${header.crc.toString(16)}, computed ${actual.toString(16)}`);
    }
    if (header.recordCount < 0 || header.lastOffsetDelta < 0) {
      throw new BatchError("INVALID_RECORD", `negative recordCount ${header.recordCount} or lastOffsetDelta ${header.lastOffsetDelta}`);
    }
    if ((header.attributes & Attr.compressionMask) > 4) {
      throw new BatchError("INVALID_RECORD", `unknown compression codec ${header.attributes & Attr.compressionMask}`);
    }
    if ((header.attributes & Attr.compressionMask) === 0) checkUncompressedRecords(bytes, header);
    out.push({ header, bytes });
    at += total;
  }
  return out;
}

/** Walks each record's length prefix: the sum must end exactly at the batch's end. */
function checkUncompressedRecords(batch: Buffer, header: BatchHeader): void {
  let at = BATCH_HEADER_BYTES;
  for (let i = 0; i < header.recordCount; i++) {
    const { value: length, next } = readVarint(batch, at);
    if (length < 0 || next + length > batch.length) {
      throw new BatchError("INVALID_RECORD", `record ${i} of ${header.recordCount} overruns the batch`);
    }
    at = next + length;
  }
  if (at !== batch.length) {
    throw new BatchError("INVALID_RECORD", `batch declares ${header.recordCount} records but holds ${batch.length - at} extra bytes`);
  }
}

/** Zigzag varint as used inside records (at most 5 bytes). */
export function readVarint(buf: Buffer, at: number): { value: number; next: number } {
  let raw = 0;
  let shift = 0;
  for (let i = 0; i < 5; i++) {
    if (at >= buf.length) throw new BatchError("INVALID_RECORD", "truncated varint in record");
    const b = buf[at++]!;
    raw |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value: (raw >>> 1) ^ -(raw & 1), next: at };
    shift += 7;
  }
  throw new BatchError("INVALID_RECORD", "varint longer than 5 bytes in record");
}

/** Iterates the batches of a concatenation of whole batches (as stored), without validation. */
export function* batchesOf(buf: Buffer): Generator<{ header: BatchHeader; bytes: Buffer }> {
  let at = 0;
  while (at + BATCH_HEADER_BYTES <= buf.length) {
    const total = BATCH_LOG_OVERHEAD + buf.readInt32BE(at + 8);
    if (at + total > buf.length) return;
    const bytes = buf.subarray(at, at + total);
    yield { header: readBatchHeader(bytes), bytes };
    at += total;
  }
}

export function lastOffsetOf(header: BatchHeader): bigint {
  return header.baseOffset + BigInt(header.lastOffsetDelta);
}
