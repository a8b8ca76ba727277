/**
 * The cluster's topics as a state machine over metadata records. The controller
 * validates a change, appends its record to the metadata log (the durable, fenced
 * source of truth) and only then applies it here; replay at start applies the same
 * records in order, so every broker rebuilds the same view from the store.
 */
export interface TopicInfo {
  readonly topicId: string;
  readonly name: string;
  partitions: number;
  configs: Record<string, string>;
  readonly internal: boolean;
}

export type TopicRecord =
  | { type: "topic-created"; topicId: string; name: string; partitions: number; configs: Record<string, string>; internal: boolean }
  | { type: "topic-deleted"; topicId: string }
  | { type: "partitions-created"; topicId: string; partitions: number }
  | { type: "topic-configs-altered"; topicId: string; configs: Record<string, string> };

export const INTERNAL_OFFSETS_TOPIC = "__consumer_offsets";

const LEGAL_NAME = /^[a-zA-Z0-9._-]+$/;
export const TOPIC_NAME_LENGTH_MAX = 249;

/** Kafka's topic name rules; returns why a name is invalid, or null. */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return "Topic name is empty";
  if (name === "." || name === "..") return `Topic name cannot be "." or ".."`;
  if (name.length > TOPIC_NAME_LENGTH_MAX) return `Topic name is longer than ${TOPIC_NAME_LENGTH_MAX} characters`;
  if (!LEGAL_NAME.test(name)) return `Topic name "${name}" contains characters other than ASCII alphanumerics, '.', '_' and '-'`;
  return null;
}

export class TopicRegistry {
  private readonly byName = new Map<string, TopicInfo>();
  private readonly byId = new Map<string, TopicInfo>();

  apply(record: TopicRecord): void {
    switch (record.type) {
      case "topic-created": {
        const info: TopicInfo = {
          topicId: record.topicId,
          name: record.name,
          partitions: record.partitions,
          configs: { ...record.configs },
          internal: record.internal,
        };
        this.byName.set(info.name, info);
        this.byId.set(info.topicId, info);
        return;
      }
      case "topic-deleted": {
        const info = this.byId.get(record.topicId);
        if (!info) return;
        this.byId.delete(info.topicId);
        this.byName.delete(info.name);
        return;
      }
      case "partitions-created": {
        const info = this.byId.get(record.topicId);
        if (!info) return;
        info.partitions = record.partitions;
        return;
      }
      case "topic-configs-altered": {
        const info = this.byId.get(record.topicId);
        if (info) info.configs = { ...record.configs };
        return;
      }
    }
  }

  byTopicName(name: string): TopicInfo | undefined {
    return this.byName.get(name);
  }

  byTopicId(id: string): TopicInfo | undefined {
    return this.byId.get(id);
  }

  all(): TopicInfo[] {
    return [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get size(): number {
    return this.byName.size;
  }
}
