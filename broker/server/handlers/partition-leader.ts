import { ErrorCode } from "../../protocol/errors.js";
import type { TopicInfo } from "../../cluster/topics.js";
import type { Broker } from "../broker.js";

/**
 * The checks every partition-level read makes before touching data: the partition
 * exists, this broker leads it, and the client's view of the leader epoch is current
 * (KIP-320): an older epoch is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
 */
export function leadPartition(broker: Broker, topic: TopicInfo | undefined, partition: number, currentLeaderEpoch = -1): { errorCode: number; leaderEpoch: number } {
  if (!topic || partition < 0 || partition >= topic.partitions) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, leaderEpoch: -1 };
  const leaderEpoch = broker.leaderEpochOf(topic.topicId, partition);
  const leader = broker.leaderOf(topic.topicId, partition);
  if (!leader || leader.nodeId !== broker.self.nodeId || !broker.servesPartition(topic.topicId, partition)) return { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, leaderEpoch };
  if (currentLeaderEpoch >= 0 && currentLeaderEpoch < leaderEpoch) return { errorCode: ErrorCode.FENCED_LEADER_EPOCH, leaderEpoch };
  if (currentLeaderEpoch > leaderEpoch) return { errorCode: ErrorCode.UNKNOWN_LEADER_EPOCH, leaderEpoch };
  return { errorCode: ErrorCode.NONE, leaderEpoch };
}
