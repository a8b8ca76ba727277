import { createHash } from "node:crypto";

/**
 * MD5 of a body (an object's ETag, S3's Content-MD5) in 1 MiB slices with a turn of the
 * event loop between them: hashing an upload of tens of MiB in one call would stall
 * produce and fetch for as long.
 */
export async function md5Yielding(body: Buffer): Promise<Buffer> {
  const hash = createHash("md5");
  const slice = 1024 * 1024;
  for (let at = 0; at < body.length; at += slice) {
    if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    hash.update(body.subarray(at, Math.min(body.length, at + slice)));
  }
  return hash.digest();
}
