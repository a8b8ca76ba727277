import { createHash } from "node:crypto";
import { crc32c } from "../protocol/crc32c.js";
import type { ObjectBody } from "./object-store.js";
import { piecesOf } from "./pieces.js";

/** Upload checksums go over the body in slices this large, with a turn of the event loop between them. */
const SLICE_BYTES = 1024 * 1024;

/**
 * MD5 of a body (an object's ETag, S3's Content-MD5) in slices: hashing an upload of tens
 * of MiB in one call would stall produce and fetch for as long.
 */
export async function md5Yielding(body: ObjectBody): Promise<Buffer> {
  const hash = createHash("md5");
  for await (const slice of slices(body)) hash.update(slice);
  return hash.digest();
}

/** CRC-32C of a body (S3's `x-amz-checksum-crc32c`), in the same slices. */
export async function crc32cYielding(body: ObjectBody): Promise<number> {
  let crc = 0;
  for await (const slice of slices(body)) crc = crc32c(slice, 0, slice.length, crc);
  return crc;
}

/** The body's bytes in order, at most SLICE_BYTES at a time, with a turn of the event loop after each SLICE_BYTES. */
async function* slices(body: ObjectBody): AsyncGenerator<Buffer> {
  let sinceTurn = 0;
  for (const piece of piecesOf(body)) {
    for (let at = 0; at < piece.length; ) {
      if (sinceTurn >= SLICE_BYTES) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sinceTurn = 0;
      }
      const end = Math.min(piece.length, at + SLICE_BYTES - sinceTurn);
      yield piece.subarray(at, end);
      sinceTurn += end - at;
      at = end;
    }
  }
}
