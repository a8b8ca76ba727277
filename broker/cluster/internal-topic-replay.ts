import type { LogStore } from "../storage/log-store.js";
import { decodeRecords } from "../protocol/records.js";
import { batchesOf } from "../protocol/record-batch.js";
import type { TopicInfo } from "./topics.js";

export type InternalTopicLog = Pick<LogStore, "append" | "read" | "logStartOffset" | "highWatermark">;

/**
 * Reads every partition of an internal topic (`__consumer_offsets`, `__transaction_state`)
 * from its start to its high watermark and hands each keyed record over in log order
 * (`only`: just that partition, for a broker that took it over).
 */
export async function replayInternalTopic(log: InternalTopicLog, topic: TopicInfo, onRecord: (key: Buffer, value: Buffer | null) => void, only?: number): Promise<void> {
  for (let p = only ?? 0; p < (only === undefined ? topic.partitions : only + 1); p++) {
    let offset = log.logStartOffset(topic.topicId, p);
    const end = log.highWatermark(topic.topicId, p);
    while (offset < end) {
      const chunk = await log.read(topic.topicId, p, offset, 4 * 1024 * 1024);
      if (chunk.length === 0) break;
      const before = offset;
      for (const { bytes, header } of batchesOf(chunk)) {
        const last = header.baseOffset + BigInt(header.lastOffsetDelta);
        if (last < offset) continue;
        for (const r of decodeRecords(bytes)) if (r.key) onRecord(r.key, r.value);
        offset = last + 1n;
      }
      if (offset === before) throw new Error(`${topic.name}-${p}: no progress replaying at offset ${offset}`);
    }
  }
}
