import type { PartitionLog } from "./partition-log.js";

/** Per-topic retention, Kafka's `retention.ms` / `retention.bytes`; -1 means unlimited. */
export interface RetentionPolicy {
  retentionMs: number;
  retentionBytes: number;
}

export const UNLIMITED_RETENTION: RetentionPolicy = { retentionMs: -1, retentionBytes: -1 };

/**
 * Where the log start may move under `policy`: past whole object blocks from the front only,
 * oldest first, stopping at the first block that is neither too old nor beyond the size
 * bound (Kafka's rule for segments). A block is too old when `now - maxTimestamp >
 * retentionMs`. The size counts object blocks plus `tailBytes` (acknowledged data still only
 * in the WAL and memory), but only uploaded blocks are ever dropped, so the result never
 * passes the end of the objects (`uploadedEnd`) and so never the high watermark.
 * Returns null when nothing is to be deleted.
 */
export function retentionTarget(part: PartitionLog, policy: RetentionPolicy, nowMs: number, tailBytes: number): { offset: bigint; blocks: number; bytes: number } | null {
  const byTime = policy.retentionMs >= 0;
  const bySize = policy.retentionBytes >= 0;
  if (!byTime && !bySize) return null;
  let total = tailBytes;
  for (const b of part.blocks) total += b.length;
  const now = BigInt(nowMs);
  let n = 0;
  let bytes = 0;
  while (n < part.blocks.length) {
    const b = part.blocks[n]!;
    const tooOld = byTime && now - b.maxTimestamp > BigInt(policy.retentionMs);
    const tooBig = bySize && total - b.length >= policy.retentionBytes;
    if (!tooOld && !tooBig) break;
    total -= b.length;
    bytes += b.length;
    n++;
  }
  if (n === 0) return null;
  let offset = n < part.blocks.length ? part.blocks[n]!.baseOffset : part.uploadedEnd;
  if (offset > part.highWatermark) offset = part.highWatermark;
  if (offset <= part.logStartOffset) return null;
  return { offset, blocks: n, bytes };
}

/** Reads `retention.ms` / `retention.bytes` from a topic's configs (Kafka defaults when absent); compacted topics are never deleted by time or size. */
export function retentionFromConfigs(configs: Record<string, string> | undefined): RetentionPolicy {
  if (!configs) return UNLIMITED_RETENTION;
  const policy = configs["cleanup.policy"] ?? "delete";
  if (!policy.split(",").some((p) => p.trim() === "delete")) return UNLIMITED_RETENTION;
  const num = (v: string | undefined, dflt: number) => {
    const n = v === undefined ? dflt : Number(v);
    return Number.isFinite(n) ? n : dflt;
  };
  return { retentionMs: num(configs["retention.ms"], 604_800_000), retentionBytes: num(configs["retention.bytes"], -1) };
}
