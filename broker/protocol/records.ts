import { crc32c } from "./crc32c.js";
import { Attr, BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD, BatchError, readBatchHeader } from "./record-batch.js";

/**
 * Records inside an uncompressed v2 batch: building them (the broker writes its own
 * internal records, e.g. committed offsets) and reading them (timestamp lookups,
 * internal-topic replay). Compressed batches are stored and served as they came and
 * are never opened here.
 */
export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export interface KafkaRecord {
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface NewRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers?: RecordHeader[];
  timestamp?: bigint;
}

export interface BatchOptions {
  baseOffset?: bigint;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  attributes?: number;
  partitionLeaderEpoch?: number;
}

/** Builds an uncompressed magic-2 batch with a correct CRC. */
export function buildRecordBatch(records: NewRecord[], opts: BatchOptions = {}): Buffer {
  if (records.length === 0) throw new Error("a record batch needs at least one record");
  const now = BigInt(Date.now());
  const timestamps = records.map((r) => r.timestamp ?? now);
  const baseTimestamp = timestamps.reduce((a, b) => (b < a ? b : a));
  const maxTimestamp = timestamps.reduce((a, b) => (b > a ? b : a));
  const bodies = records.map((r, i) => encodeRecord(r, i, timestamps[i]! - baseTimestamp));
  const recordsBytes = Buffer.concat(bodies);
  const batch = Buffer.alloc(BATCH_HEADER_BYTES + recordsBytes.length);
  batch.writeBigInt64BE(opts.baseOffset ?? 0n, 0);
  batch.writeInt32BE(batch.length - BATCH_LOG_OVERHEAD, 8);
  batch.writeInt32BE(opts.partitionLeaderEpoch ?? -1, 12);
  batch.writeInt8(2, 16);
  batch.writeInt16BE((opts.attributes ?? 0) & ~Attr.compressionMask, 21);
  batch.writeInt32BE(records.length - 1, 23);
  batch.writeBigInt64BE(baseTimestamp, 27);
  batch.writeBigInt64BE(maxTimestamp, 35);
  batch.writeBigInt64BE(opts.producerId ?? -1n, 43);
  batch.writeInt16BE(opts.producerEpoch ?? -1, 51);
  batch.writeInt32BE(opts.baseSequence ?? -1, 53);
  batch.writeInt32BE(records.length, 57);
  recordsBytes.copy(batch, BATCH_HEADER_BYTES);
  batch.writeUInt32BE(crc32c(batch, 21, batch.length), 17);
  return batch;
}

function encodeRecord(r: NewRecord, offsetDelta: number, timestampDelta: bigint): Buffer {
  const parts: Buffer[] = [Buffer.from([0]), varlong(timestampDelta), varint(offsetDelta)];
  pushBytes(parts, r.key);
  pushBytes(parts, r.value);
  const headers = r.headers ?? [];
  parts.push(varint(headers.length));
  for (const h of headers) {
    pushBytes(parts, Buffer.from(h.key, "utf8"));
    pushBytes(parts, h.value);
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([varint(body.length), body]);
}

function pushBytes(parts: Buffer[], b: Buffer | null): void {
  if (b === null) parts.push(varint(-1));
  else parts.push(varint(b.length), b);
}

function varint(n: number): Buffer {
  return varlong(BigInt(n));
}

function varlong(n: bigint): Buffer {
  let z = (n << 1n) ^ (n >> 63n);
  z = BigInt.asUintN(64, z);
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

class Cursor {
  constructor(readonly buf: Buffer, public at: number) {}
  varlong(): bigint {
    let z = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.buf.length) throw new BatchError("INVALID_RECORD", "truncated varint in record");
      const b = this.buf[this.at++]!;
      z |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return (z >> 1n) ^ -(z & 1n);
      shift += 7n;
    }
    throw new BatchError("INVALID_RECORD", "varint longer than 10 bytes in record");
  }
  varint(): number {
    return Number(this.varlong());
  }
  bytes(): Buffer | null {
    const len = this.varint();
    if (len < 0) return null;
    if (this.at + len > this.buf.length) throw new BatchError("INVALID_RECORD", "record field overruns the batch");
    const out = this.buf.subarray(this.at, this.at + len);
    this.at += len;
    return out;
  }
}

/** Decodes the records of an uncompressed batch. Throws BatchError for compressed batches. */
export function decodeRecords(batch: Buffer): KafkaRecord[] {
  const h = readBatchHeader(batch);
  if ((h.attributes & Attr.compressionMask) !== 0) throw new BatchError("INVALID_RECORD", "compressed batches are not decoded by the broker");
  const c = new Cursor(batch, BATCH_HEADER_BYTES);
  const out: KafkaRecord[] = [];
  for (let i = 0; i < h.recordCount; i++) {
    const length = c.varint();
    const end = c.at + length;
    c.at += 1; // record attributes, unused
    const timestampDelta = c.varlong();
    const offsetDelta = c.varint();
    const key = c.bytes();
    const value = c.bytes();
    const headerCount = c.varint();
    const headers: RecordHeader[] = [];
    for (let j = 0; j < headerCount; j++) {
      const k = c.bytes();
      headers.push({ key: k ? k.toString("utf8") : "", value: c.bytes() });
    }
    if (c.at !== end) throw new BatchError("INVALID_RECORD", `record ${i} length does not match its fields`);
    out.push({ offset: h.baseOffset + BigInt(offsetDelta), timestamp: h.baseTimestamp + timestampDelta, key, value, headers });
  }
  return out;
}

/** Within one batch, the first record stamped at or after `timestamp` (uncompressed batches only). */
export function firstRecordAtOrAfter(batch: Buffer, timestamp: bigint): { offset: bigint; timestamp: bigint } | null {
  const h = readBatchHeader(batch);
  if ((h.attributes & Attr.compressionMask) !== 0) return null;
  for (const r of decodeRecords(batch)) if (r.timestamp >= timestamp) return { offset: r.offset, timestamp: r.timestamp };
  return null;
}
