import { randomUuid } from "../protocol/primitives.js";
import { ErrorCode } from "../protocol/errors.js";
import { TopicRegistry, topicNameProblem, type TopicInfo, type TopicRecord } from "./topics.js";
import { validateTopicConfigs } from "./topic-configs.js";
import { ScramCredentialStore, upsertRecord, type ScramRecord } from "../security/credentials.js";
import type { ScramCredential, ScramMechanism } from "../security/scram.js";
import { AclStore, type AclBinding, type AclFilter, type AclRecord } from "../security/acl.js";

/**
 * Durable, ordered, fenced store of metadata records (the metadata log in the object
 * store). `append` resolves once the record is durable; a deposed writer's append fails.
 */
export interface MetadataJournal {
  append(record: ControllerRecord): Promise<void>;
}

export type ControllerRecord =
  | TopicRecord
  | ScramRecord
  | AclRecord
  | { type: "cluster-created"; clusterId: string }
  | { type: "producer-ids-allocated"; nextProducerId: string };

export interface ChangeResult {
  errorCode: number;
  errorMessage: string | null;
}

const ok: ChangeResult = { errorCode: ErrorCode.NONE, errorMessage: null };
const fail = (errorCode: number, errorMessage: string): ChangeResult => ({ errorCode, errorMessage });

/** Producer ids are handed out in blocks so the log records one entry per block, not per id. */
const PRODUCER_ID_BLOCK = 1000n;
export const PARTITIONS_PER_TOPIC_MAX = 10_000;

/**
 * The single writer of cluster metadata. Every change is validated, appended to the
 * journal, then applied, in that order, one at a time: a change that is not durable is
 * never visible, and two racing changes cannot interleave.
 */
export class Controller {
  clusterId = "";
  /** SASL/SCRAM users, from `scram-credential-*` records. */
  readonly scram = new ScramCredentialStore();
  /** ACLs, from `acl-*` records. */
  readonly acls = new AclStore();
  private nextProducerId = 0n;
  private producerIdLimit = 0n;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly topics: TopicRegistry,
    private readonly journal: MetadataJournal,
    private readonly hooks: { onTopicCreated?(t: TopicInfo): void; onTopicDeleted?(t: TopicInfo): Promise<void> | void; onPartitionsCreated?(t: TopicInfo, from: number): void } = {},
  ) {}

  /** Applies a record read back from the journal at start-up. */
  replay(record: ControllerRecord): void {
    this.apply(record);
  }

  /** Writes the cluster id on first start; later starts keep the stored one. */
  async ensureClusterId(): Promise<string> {
    return this.serialized(async () => {
      if (!this.clusterId) await this.commit({ type: "cluster-created", clusterId: randomUuid() });
      return this.clusterId;
    });
  }

  createTopic(name: string, partitions: number, configs: Record<string, string | null>, opts: { validateOnly?: boolean; internal?: boolean } = {}): Promise<ChangeResult & { topic?: TopicInfo }> {
    return this.serialized(async () => {
      const nameProblem = topicNameProblem(name);
      if (nameProblem) return fail(ErrorCode.INVALID_TOPIC_EXCEPTION, nameProblem);
      if (this.topics.byTopicName(name)) return fail(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${name}' already exists.`);
      if (name.startsWith("__") && !opts.internal && name === "__consumer_offsets") {
        return fail(ErrorCode.INVALID_REQUEST, `Topic '${name}' is internal and is created by the broker.`);
      }
      if (!Number.isInteger(partitions) || partitions < 1) return fail(ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0.");
      if (partitions > PARTITIONS_PER_TOPIC_MAX) return fail(ErrorCode.INVALID_PARTITIONS, `Number of partitions must not exceed ${PARTITIONS_PER_TOPIC_MAX}.`);
      const configProblem = validateTopicConfigs(configs);
      if (configProblem) return fail(ErrorCode.INVALID_CONFIG, configProblem);
      if (opts.validateOnly) return ok;
      const clean = Object.fromEntries(Object.entries(configs).filter((e): e is [string, string] => e[1] !== null));
      await this.commit({ type: "topic-created", topicId: randomUuid(), name, partitions, configs: clean, internal: opts.internal ?? false });
      return { ...ok, topic: this.topics.byTopicName(name)! };
    });
  }

  deleteTopic(topic: TopicInfo): Promise<ChangeResult> {
    return this.serialized(async () => {
      if (topic.internal) return fail(ErrorCode.INVALID_REQUEST, `Topic '${topic.name}' is internal and cannot be deleted.`);
      if (!this.topics.byTopicId(topic.topicId)) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic.name}' does not exist.`);
      await this.commit({ type: "topic-deleted", topicId: topic.topicId });
      await this.hooks.onTopicDeleted?.(topic);
      return ok;
    });
  }

  createPartitions(topic: TopicInfo, count: number, validateOnly: boolean): Promise<ChangeResult> {
    return this.serialized(async () => {
      if (topic.internal) return fail(ErrorCode.INVALID_REQUEST, `Partitions of internal topic '${topic.name}' cannot be changed.`);
      if (count < topic.partitions) return fail(ErrorCode.INVALID_PARTITIONS, `Topic currently has ${topic.partitions} partitions, which is higher than the requested ${count}.`);
      if (count === topic.partitions) return fail(ErrorCode.INVALID_PARTITIONS, `Topic already has ${topic.partitions} partitions.`);
      if (count > PARTITIONS_PER_TOPIC_MAX) return fail(ErrorCode.INVALID_PARTITIONS, `Number of partitions must not exceed ${PARTITIONS_PER_TOPIC_MAX}.`);
      if (validateOnly) return ok;
      await this.commit({ type: "partitions-created", topicId: topic.topicId, partitions: count });
      return ok;
    });
  }

  /** Replaces a topic's overrides with `configs` (callers compute the full set). */
  setTopicConfigs(topic: TopicInfo, configs: Record<string, string>, validateOnly: boolean): Promise<ChangeResult> {
    return this.serialized(async () => {
      const problem = validateTopicConfigs(configs);
      if (problem) return fail(ErrorCode.INVALID_CONFIG, problem);
      if (validateOnly) return ok;
      await this.commit({ type: "topic-configs-altered", topicId: topic.topicId, configs });
      return ok;
    });
  }

  /** A fresh producer id; a block of ids is reserved in the journal before any is handed out. */
  allocateProducerId(): Promise<bigint> {
    return this.serialized(async () => {
      if (this.nextProducerId >= this.producerIdLimit) {
        const start = this.producerIdLimit;
        await this.commit({ type: "producer-ids-allocated", nextProducerId: String(start + PRODUCER_ID_BLOCK) });
        this.nextProducerId = start;
      }
      return this.nextProducerId++;
    });
  }

  /** Stores a user's credential for one mechanism (replacing any before it). */
  upsertScramCredential(user: string, cred: ScramCredential): Promise<void> {
    return this.serialized(() => this.commit(upsertRecord(user, cred)));
  }

  /** Removes a user's credential for one mechanism; RESOURCE_NOT_FOUND if there is none. */
  deleteScramCredential(user: string, mechanism: ScramMechanism): Promise<ChangeResult> {
    return this.serialized(async () => {
      if (!this.scram.get(user, mechanism)) return fail(ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist");
      await this.commit({ type: "scram-credential-deleted", user, mechanism });
      return ok;
    });
  }

  /** Stores an ACL; storing one that exists already is a no-op, as in Kafka. */
  createAcl(acl: AclBinding): Promise<void> {
    return this.serialized(async () => {
      if (!this.acls.has(acl)) await this.commit({ type: "acl-created", acl });
    });
  }

  /** Removes every ACL the filter matches, one record each; returns what was removed. */
  deleteAcls(filter: AclFilter): Promise<AclBinding[]> {
    return this.serialized(async () => {
      const gone = this.acls.matching(filter);
      for (const acl of gone) await this.commit({ type: "acl-deleted", acl });
      return gone;
    });
  }

  private async commit(record: ControllerRecord): Promise<void> {
    await this.journal.append(record);
    this.apply(record);
  }

  private apply(record: ControllerRecord): void {
    switch (record.type) {
      case "cluster-created":
        if (!this.clusterId) this.clusterId = record.clusterId;
        return;
      case "producer-ids-allocated":
        // Replayed blocks count as used up: ids from them may have been handed out before a restart.
        this.producerIdLimit = BigInt(record.nextProducerId);
        this.nextProducerId = this.producerIdLimit;
        return;
      case "scram-credential-upserted":
      case "scram-credential-deleted":
        this.scram.apply(record);
        return;
      case "acl-created":
      case "acl-deleted":
        this.acls.apply(record);
        return;
      default: {
        const before = record.type === "partitions-created" ? this.topics.byTopicId(record.topicId)?.partitions ?? 0 : 0;
        this.topics.apply(record);
        if (record.type === "topic-created") this.hooks.onTopicCreated?.(this.topics.byTopicId(record.topicId)!);
        if (record.type === "partitions-created") {
          const t = this.topics.byTopicId(record.topicId);
          if (t) this.hooks.onPartitionsCreated?.(t, before);
        }
      }
    }
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
