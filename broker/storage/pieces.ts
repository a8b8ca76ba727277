/**
 * Bytes given whole or in pieces, to be written, sent or checksummed as their concatenation
 * without being joined first: a WAL record (header + the produced batches), an object body
 * (the cached batches themselves).
 */
export type Pieces = Buffer | readonly Buffer[];

export function piecesOf(bytes: Pieces): readonly Buffer[] {
  return Buffer.isBuffer(bytes) ? [bytes] : bytes;
}

export function piecesLength(bytes: Pieces): number {
  if (Buffer.isBuffer(bytes)) return bytes.length;
  let n = 0;
  for (const p of bytes) n += p.length;
  return n;
}
