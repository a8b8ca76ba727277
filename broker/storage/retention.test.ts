import { describe, expect, it } from "vitest";
import { PartitionLog } from "./partition-log.js";
import { retentionFromConfigs, retentionTarget } from "./retention.js";

describe("retention", () => {
  it("reads topic configs with Kafka's defaults; compacted topics are never deleted by time or size", () => {
    expect(retentionFromConfigs({})).toEqual({ retentionMs: 604_800_000, retentionBytes: -1 });
    expect(retentionFromConfigs({ "retention.ms": "1000", "retention.bytes": "5000" })).toEqual({ retentionMs: 1000, retentionBytes: 5000 });
    expect(retentionFromConfigs({ "cleanup.policy": "compact", "retention.ms": "1" })).toEqual({ retentionMs: -1, retentionBytes: -1 });
    expect(retentionFromConfigs({ "cleanup.policy": "compact,delete", "retention.ms": "1" }).retentionMs).toBe(1);
  });

  it("stops at the first block that is neither too old nor beyond the size bound, and never passes the high watermark", () => {
    const part = new PartitionLog("t", "t", 0);
    const block = (base: bigint, ts: bigint) => ({ topicId: "t", partition: 0, baseOffset: base, lastOffset: base + 9n, maxTimestamp: ts, position: 0, length: 100, crc: 0 });
    part.addBlocks("k", [block(0n, 100n), block(10n, 5000n), block(20n, 100n)]);
    part.uploadedEnd = 30n;
    part.highWatermark = 30n;
    // The old third block is not reached: the newer second one stops the scan (front only).
    expect(retentionTarget(part, { retentionMs: 1000, retentionBytes: -1 }, 5500, 0)).toEqual({ offset: 10n, blocks: 1, bytes: 100 });
    expect(retentionTarget(part, { retentionMs: -1, retentionBytes: 100 }, 0, 0)).toEqual({ offset: 20n, blocks: 2, bytes: 200 });
    expect(retentionTarget(part, { retentionMs: -1, retentionBytes: 0 }, 0, 0)).toEqual({ offset: 30n, blocks: 3, bytes: 300 });
    part.highWatermark = 25n; // cannot happen live (objects end <= HW), but the bound holds regardless
    expect(retentionTarget(part, { retentionMs: -1, retentionBytes: 0 }, 0, 0)?.offset).toBe(25n);
    expect(retentionTarget(part, { retentionMs: -1, retentionBytes: -1 }, 1e12, 0)).toBeNull();
  });
});
