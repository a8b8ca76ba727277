import { createHash } from "node:crypto";
import { crc32c } from "../protocol/crc32c.js";

/** Upload checksums go over the body in slices this large, with a turn of the event loop between them. */
const SLICE_BYTES = 1024 * 1024;

/**
 * MD5 of a body (an object's ETag, S3's Content-MD5) in slices: hashing an upload of tens
 * of MiB in one call would stall produce and fetch for as long.
 */
export async function md5Yielding(body: Buffer): Promise<Buffer> {
  const hash = createHash("md5");
  for (let at = 0; at < body.length; at += SLICE_BYTES) {
    if (at > 0) await nextTurn();
    hash.update(body.subarray(at, Math.min(body.length, at + SLICE_BYTES)));
  }
  return hash.digest();
}

/** CRC-32C of a body (S3's `x-amz-checksum-crc32c`), in the same slices. */
export async function crc32cYielding(body: Buffer): Promise<number> {
  let crc = 0;
  for (let at = 0; at < body.length; at += SLICE_BYTES) {
    if (at > 0) await nextTurn();
    crc = crc32c(body, at, Math.min(body.length, at + SLICE_BYTES), crc);
  }
  return crc;
}

function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
