import { describe, expect, it } from "vitest";
import { crc32c } from "../protocol/crc32c.js";
import { decodeStreamSetObject, encodeStreamSetObject, encodeStreamSetObjectYielding, ObjectCorruptError, SSO_FOOTER_BYTES, verifyBlock } from "./stream-set-object.js";

function batchAt(offset: bigint, count: number, maxTs: bigint, payloadBytes = 30): Buffer {
  const b = Buffer.alloc(61 + payloadBytes, 1);
  b.writeBigInt64BE(offset, 0);
  b.writeInt32BE(b.length - 12, 8);
  b.writeInt8(2, 16);
  b.writeInt32BE(count - 1, 23);
  b.writeBigInt64BE(maxTs, 35);
  b.writeUInt32BE(crc32c(b, 21, b.length), 17);
  return b;
}

describe("stream-set object", () => {
  const streams = [
    { topicId: "a", partition: 0, batches: [batchAt(0n, 2, 10n), batchAt(2n, 3, 30n), batchAt(5n, 1, 20n)] },
    { topicId: "b-ü", partition: 7, batches: [batchAt(100n, 10, 5n, 500)] },
  ];

  it("round-trips its index; blocks respect blockBytesMax and hold whole batches", () => {
    const { blocks, ...encoded } = encodeStreamSetObject(streams, 200);
    const body = Buffer.concat(encoded.pieces);
    expect(decodeStreamSetObject(body)).toEqual(blocks);
    expect(blocks.map((b) => [b.topicId, b.partition, b.baseOffset, b.lastOffset, b.maxTimestamp])).toEqual([
      ["a", 0, 0n, 4n, 30n],
      ["a", 0, 5n, 5n, 20n],
      ["b-ü", 7, 100n, 109n, 5n], // larger than blockBytesMax: a block of its own
    ]);
    for (const b of blocks) verifyBlock(body.subarray(b.position, b.position + b.length), b, "k");
  });

  it("derives block checksums from the batches' own, equal to a pass over the stored bytes", () => {
    // Large batches take the combined path; storage rewrites offset and leader epoch after the client's CRC.
    const batches = [batchAt(0n, 1, 1n, 5000), batchAt(1n, 1, 2n, 40), batchAt(2n, 4, 3n, 70_000)];
    batches.forEach((b, i) => {
      b.writeBigInt64BE(BigInt(1000 + i), 0);
      b.writeInt32BE(7, 12);
    });
    const { blocks, ...encoded } = encodeStreamSetObject([{ topicId: "big", partition: 1, batches }], 10_000);
    const body = Buffer.concat(encoded.pieces);
    expect(encoded.size).toBe(body.length);
    expect(encoded.checksum).toBe(crc32c(body));
    expect(encoded.pieces[0]).toBe(batches[0]); // the batches themselves, not copies
    expect(blocks.length).toBe(2);
    for (const b of blocks) expect(b.crc).toBe(crc32c(body, b.position, b.position + b.length));
  });

  it("detects damage in a block, the index and the footer", () => {
    const { blocks, ...encoded } = encodeStreamSetObject(streams, 1 << 20);
    const body = Buffer.concat(encoded.pieces);
    const block = Buffer.from(body.subarray(blocks[0]!.position, blocks[0]!.position + blocks[0]!.length));
    block[40]! ^= 1;
    expect(() => verifyBlock(block, blocks[0]!, "k")).toThrow(ObjectCorruptError);
    const index = Buffer.from(body);
    index[body.length - SSO_FOOTER_BYTES - 3]! ^= 1;
    expect(() => decodeStreamSetObject(index)).toThrow(ObjectCorruptError);
    const footer = Buffer.from(body);
    footer[body.length - 5]! ^= 1;
    expect(() => decodeStreamSetObject(footer)).toThrow(ObjectCorruptError);
    expect(() => decodeStreamSetObject(body.subarray(0, body.length - 1))).toThrow(ObjectCorruptError);
  });

  it("the yielding encoder (used by uploads) produces the same bytes and blocks as the plain one", async () => {
    const many = [
      ...streams,
      { topicId: "c", partition: 3, batches: Array.from({ length: 40 }, (_, i) => batchAt(BigInt(i * 4), 4, BigInt(i), 100 + i)) },
    ];
    const plain = encodeStreamSetObject(many, 700);
    const sliced = await encodeStreamSetObjectYielding(many, 700, 1000);
    const body = Buffer.concat(sliced.pieces);
    expect(body.equals(Buffer.concat(plain.pieces))).toBe(true);
    expect(sliced.blocks).toEqual(plain.blocks);
    expect(sliced.checksum).toBe(crc32c(body));
    expect(decodeStreamSetObject(body)).toEqual(sliced.blocks);
    for (const b of sliced.blocks) verifyBlock(body.subarray(b.position, b.position + b.length), b, "k");
    // The stored blocks are the batches, concatenated, in order.
    expect(body.subarray(0, sliced.blocks.at(-1)!.position + sliced.blocks.at(-1)!.length).equals(Buffer.concat(many.flatMap((s) => s.batches)))).toBe(true);
  });
});
