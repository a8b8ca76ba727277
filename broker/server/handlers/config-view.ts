/**
 * How topic and broker configurations look to Kafka clients: the value in force, where
 * it came from, its type and documentation. Shared by CreateTopics (v5+ returns the
 * created topic's configs) and DescribeConfigs.
 */
import { BROKER_SETTINGS, type BrokerConfig } from "../../config.js";
import { TOPIC_CONFIGS, type TopicConfigDef } from "../../cluster/topic-configs.js";
import type { TopicInfo } from "../../cluster/topics.js";

/** Kafka's ConfigResource.Type. */
export const ResourceType = { UNKNOWN: 0, TOPIC: 2, GROUP: 3, BROKER: 4, BROKER_LOGGER: 8, CLIENT_METRICS: 16 } as const;

/** Kafka's DescribeConfigsResponse.ConfigSource. */
export const ConfigSource = {
  UNKNOWN: 0,
  DYNAMIC_TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
  DYNAMIC_BROKER_LOGGER_CONFIG: 6,
} as const;

/** Kafka's ConfigDef.Type as DescribeConfigs v3+ numbers it. */
export const ConfigType = { UNKNOWN: 0, BOOLEAN: 1, STRING: 2, INT: 3, SHORT: 4, LONG: 5, DOUBLE: 6, LIST: 7, CLASS: 8, PASSWORD: 9 } as const;

const CONFIG_TYPE_OF: Record<TopicConfigDef["type"], number> = {
  long: ConfigType.LONG,
  int: ConfigType.INT,
  string: ConfigType.STRING,
  list: ConfigType.LIST,
  boolean: ConfigType.BOOLEAN,
};

export interface ConfigSynonym {
  name: string;
  value: string | null;
  source: number;
}

/** One configuration as clients see it; handlers map it onto their response structs. */
export interface ConfigView {
  name: string;
  value: string | null;
  readOnly: boolean;
  source: number;
  isDefault: boolean;
  configType: number;
  documentation: string;
  /** Most specific first, as Kafka orders them. */
  synonyms: ConfigSynonym[];
}

/**
 * Topic configs whose default is a broker setting: the topic describes the broker's value
 * as its default, and lists the broker setting as a synonym.
 */
function brokerDefaultOf(name: string, config: BrokerConfig): { name: string; value: string; source: number } | null {
  if (name === "max.message.bytes") {
    const isStatic = config.messageMaxBytes !== BROKER_SETTINGS.messageMaxBytes.default;
    return { name: "message.max.bytes", value: String(config.messageMaxBytes), source: isStatic ? ConfigSource.STATIC_BROKER_CONFIG : ConfigSource.DEFAULT_CONFIG };
  }
  return null;
}

/** Every known topic config of `topic` (override, else broker default, else built-in default), in name order. */
export function topicConfigViews(overrides: Record<string, string>, config: BrokerConfig): ConfigView[] {
  return Object.keys(TOPIC_CONFIGS)
    .sort()
    .map((name) => topicConfigView(name, overrides, config));
}

export function topicConfigView(name: string, overrides: Record<string, string>, config: BrokerConfig): ConfigView {
  const def = TOPIC_CONFIGS[name]!;
  const override = overrides[name];
  const brokerDefault = brokerDefaultOf(name, config);
  const synonyms: ConfigSynonym[] = [];
  if (override !== undefined) synonyms.push({ name, value: override, source: ConfigSource.DYNAMIC_TOPIC_CONFIG });
  if (brokerDefault) synonyms.push(brokerDefault);
  else synonyms.push({ name, value: def.default, source: ConfigSource.DEFAULT_CONFIG });
  const inForce = synonyms[0]!;
  return {
    name,
    value: inForce.value,
    readOnly: false,
    source: inForce.source,
    isDefault: override === undefined,
    configType: CONFIG_TYPE_OF[def.type],
    documentation: def.effect === "accepted" ? `${def.doc} (Stored and described; no effect in Floe.)` : def.doc,
    synonyms,
  };
}

/** The topic's configs in force, for CreateTopics v5+ results. */
export function createdTopicConfigs(topic: Pick<TopicInfo, "configs">, config: BrokerConfig) {
  return topicConfigViews(topic.configs, config).map((v) => ({ name: v.name, value: v.value, readOnly: v.readOnly, configSource: v.source, isSensitive: false }));
}

interface BrokerConfigDef {
  setting: keyof BrokerConfig | null;
  type: number;
  value(config: BrokerConfig, nodeId: number): string | null;
  doc: string;
}

/**
 * The broker settings described under their Kafka names. All are read-only: Floe takes
 * its settings from FLOE_* environment variables, not from dynamic broker configs.
 */
const BROKER_CONFIGS: Record<string, BrokerConfigDef> = {
  "auto.create.topics.enable": { setting: "autoCreateTopics", type: ConfigType.BOOLEAN, value: (c) => String(c.autoCreateTopics), doc: BROKER_SETTINGS.autoCreateTopics.doc },
  "broker.id": { setting: "nodeId", type: ConfigType.INT, value: (_c, nodeId) => String(nodeId), doc: BROKER_SETTINGS.nodeId.doc },
  "broker.rack": { setting: "rack", type: ConfigType.STRING, value: (c) => c.rack || null, doc: BROKER_SETTINGS.rack.doc },
  "default.replication.factor": { setting: null, type: ConfigType.INT, value: () => "1", doc: "Always 1: durability comes from the WAL and the object store, not from replicas." },
  "group.initial.rebalance.delay.ms": { setting: "groupInitialRebalanceDelayMs", type: ConfigType.INT, value: (c) => String(c.groupInitialRebalanceDelayMs), doc: BROKER_SETTINGS.groupInitialRebalanceDelayMs.doc },
  "group.max.session.timeout.ms": { setting: "groupMaxSessionTimeoutMs", type: ConfigType.INT, value: (c) => String(c.groupMaxSessionTimeoutMs), doc: BROKER_SETTINGS.groupMaxSessionTimeoutMs.doc },
  "group.min.session.timeout.ms": { setting: "groupMinSessionTimeoutMs", type: ConfigType.INT, value: (c) => String(c.groupMinSessionTimeoutMs), doc: BROKER_SETTINGS.groupMinSessionTimeoutMs.doc },
  "message.max.bytes": { setting: "messageMaxBytes", type: ConfigType.INT, value: (c) => String(c.messageMaxBytes), doc: BROKER_SETTINGS.messageMaxBytes.doc },
  "min.insync.replicas": { setting: null, type: ConfigType.INT, value: () => "1", doc: "Always 1: durability comes from the WAL and the object store, not from replicas." },
  "num.partitions": { setting: "defaultPartitions", type: ConfigType.INT, value: (c) => String(c.defaultPartitions), doc: BROKER_SETTINGS.defaultPartitions.doc },
  "offsets.topic.num.partitions": { setting: "offsetsPartitions", type: ConfigType.INT, value: (c) => String(c.offsetsPartitions), doc: BROKER_SETTINGS.offsetsPartitions.doc },
  "socket.request.max.bytes": { setting: "maxRequestBytes", type: ConfigType.INT, value: (c) => String(c.maxRequestBytes), doc: BROKER_SETTINGS.maxRequestBytes.doc },
};

/** The broker's settings under their Kafka names, in name order. */
export function brokerConfigViews(config: BrokerConfig, nodeId: number): ConfigView[] {
  return Object.keys(BROKER_CONFIGS)
    .sort()
    .map((name) => {
      const def = BROKER_CONFIGS[name]!;
      const setting = def.setting ? BROKER_SETTINGS[def.setting] : null;
      const isStatic = setting !== null && config[def.setting!] !== setting.default;
      const source = isStatic ? ConfigSource.STATIC_BROKER_CONFIG : ConfigSource.DEFAULT_CONFIG;
      const value = def.value(config, nodeId);
      return {
        name,
        value,
        readOnly: true,
        source,
        isDefault: !isStatic,
        configType: def.type,
        documentation: setting ? `${def.doc} Set with ${setting.env}.` : def.doc,
        synonyms: [{ name, value, source }],
      };
    });
}
