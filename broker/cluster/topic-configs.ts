/**
 * Topic configurations Floe knows. `applied` ones change behaviour; `accepted` ones are
 * stored and described (tools and Kafka Streams set them) but have no effect on a broker
 * whose data lives in objects rather than local segments. Anything else is refused with
 * INVALID_CONFIG so a typo never passes silently.
 */
export interface TopicConfigDef {
  default: string;
  type: "long" | "int" | "string" | "list" | "boolean";
  effect: "applied" | "accepted";
  validate?: (value: string) => string | null;
  doc: string;
}

const long = (min: bigint) => (v: string) => (/^-?\d+$/.test(v) && BigInt(v) >= min ? null : `must be an integer >= ${min}`);
const int = (min: number) => (v: string) => (/^-?\d+$/.test(v) && Number(v) >= min && Number(v) <= 2 ** 31 - 1 ? null : `must be an integer between ${min} and ${2 ** 31 - 1}`);
const oneOf = (...allowed: string[]) => (v: string) => (allowed.includes(v) ? null : `must be one of ${allowed.join(", ")}`);
const bool = oneOf("true", "false");

export const TOPIC_CONFIGS: Record<string, TopicConfigDef> = {
  "retention.ms": { default: "604800000", type: "long", effect: "applied", validate: long(-1n), doc: "Delete whole objects older than this (-1: keep forever)." },
  "retention.bytes": { default: "-1", type: "long", effect: "applied", validate: long(-1n), doc: "Delete the oldest objects of a partition beyond this size (-1: no bound)." },
  "cleanup.policy": { default: "delete", type: "list", effect: "applied", validate: (v) => (v.split(",").every((p) => ["delete", "compact"].includes(p.trim())) ? null : "must be delete, compact, or compact,delete"), doc: "delete or compact; compaction by key is not yet performed (see docs/compatibility.md)." },
  "max.message.bytes": { default: "1048588", type: "int", effect: "applied", validate: int(0), doc: "Largest record batch accepted by Produce." },
  "message.timestamp.type": { default: "CreateTime", type: "string", effect: "applied", validate: oneOf("CreateTime"), doc: "Only CreateTime is supported." },
  "compression.type": { default: "producer", type: "string", effect: "applied", validate: oneOf("producer"), doc: "Batches are stored as the producer compressed them." },
  "min.insync.replicas": { default: "1", type: "int", effect: "accepted", validate: int(1), doc: "Durability comes from the WAL and object store, not replicas." },
  "segment.bytes": { default: "1073741824", type: "int", effect: "accepted", validate: int(14), doc: "No local segments; accepted for tool compatibility." },
  "segment.ms": { default: "604800000", type: "long", effect: "accepted", validate: long(1n), doc: "No local segments; accepted for tool compatibility." },
  "segment.index.bytes": { default: "10485760", type: "int", effect: "accepted", validate: int(4), doc: "Accepted for tool compatibility." },
  "message.timestamp.difference.max.ms": { default: "9223372036854775807", type: "long", effect: "accepted", validate: long(0n), doc: "Accepted for tool compatibility." },
  "min.compaction.lag.ms": { default: "0", type: "long", effect: "accepted", validate: long(0n), doc: "Accepted for tool compatibility." },
  "max.compaction.lag.ms": { default: "9223372036854775807", type: "long", effect: "accepted", validate: long(1n), doc: "Accepted for tool compatibility." },
  "delete.retention.ms": { default: "86400000", type: "long", effect: "accepted", validate: long(0n), doc: "Accepted for tool compatibility." },
  "unclean.leader.election.enable": { default: "false", type: "boolean", effect: "accepted", validate: bool, doc: "No replicas to elect from; accepted for tool compatibility." },
  "flush.messages": { default: "9223372036854775807", type: "long", effect: "accepted", validate: long(1n), doc: "The WAL syncs every group commit; accepted for tool compatibility." },
  "flush.ms": { default: "9223372036854775807", type: "long", effect: "accepted", validate: long(0n), doc: "The WAL syncs every group commit; accepted for tool compatibility." },
};

/** Returns an error message for the first invalid entry, or null when all are valid. */
export function validateTopicConfigs(configs: Record<string, string | null>): string | null {
  for (const [name, value] of Object.entries(configs)) {
    const def = TOPIC_CONFIGS[name];
    if (!def) return `Unknown topic config name: ${name}`;
    if (value === null) continue;
    const problem = def.validate?.(value);
    if (problem) return `Invalid value ${value} for configuration ${name}: ${problem}`;
  }
  return null;
}
