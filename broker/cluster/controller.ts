import { randomUuid } from "../protocol/primitives.js";
import { ErrorCode } from "../protocol/errors.js";
import { TopicRegistry, topicNameProblem, type TopicInfo, type TopicRecord } from "./topics.js";
import { validateTopicConfigs } from "./topic-configs.js";
import { ScramCredentialStore, upsertRecord, type ScramRecord } from "../security/credentials.js";
import type { ScramCredential, ScramMechanism } from "../security/scram.js";
import { AclStore, type AclBinding, type AclFilter, type AclRecord } from "../security/acl.js";
import { QuotaStore, type QuotaEntity, type QuotaRecord } from "../security/quotas.js";

/**
 * Durable, ordered store of metadata records (the metadata log in the object store) that
 * other brokers append to as well. `appendChecked` runs `build` against the latest state
 * (after reading what others appended) and writes what it returns; null writes nothing.
 */
export interface MetadataJournal {
  appendChecked(build: () => ControllerRecord | null): Promise<ControllerRecord | null>;
}

/** A journal in memory with no other writer (tests, tools): each record is handed to `onRecord`. */
export function memoryJournal(onRecord: (record: ControllerRecord) => void = () => undefined): MetadataJournal {
  return {
    async appendChecked(build) {
      const r = build();
      if (r) onRecord(structuredClone(r));
      return r;
    },
  };
}

const CONTROLLER_RECORD_TYPES: ReadonlySet<string> = new Set(["acl-created", "acl-deleted", "topic-created", "topic-deleted", "partitions-created", "topic-configs-altered", "scram-credential-upserted", "scram-credential-deleted", "cluster-created", "producer-ids-allocated", "client-quotas-altered"]);

export type ControllerRecord =
  | TopicRecord
  | ScramRecord
  | AclRecord
  | QuotaRecord
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
 * Topics, users, the cluster id and producer-id blocks. Any broker may change them: every
 * change is validated against the latest state inside a checked append, so two brokers
 * racing (two CreateTopics of one name) cannot both win; then it is applied. A change that
 * is not durable is never visible; other brokers' changes arrive through `follow`.
 */
export class Controller {
  clusterId = "";
  /** SASL/SCRAM users, from `scram-credential-*` records. */
  readonly scram = new ScramCredentialStore();
  /** ACLs, from `acl-*` records. */
  readonly acls = new AclStore();
  /** Client quotas, from `client-quotas-altered` records. */
  readonly quotas = new QuotaStore();
  private nextProducerId = 0n;
  private producerIdLimit = 0n;
  private queue: Promise<unknown> = Promise.resolve();
  /** Records this controller is appending: applied here after the append, so `follow` skips them. */
  private readonly appending = new Set<object>();

  constructor(
    readonly topics: TopicRegistry,
    private readonly journal: MetadataJournal,
    private readonly hooks: { onTopicCreated?(t: TopicInfo): void; onTopicDeleted?(t: TopicInfo): Promise<void> | void; onPartitionsCreated?(t: TopicInfo, from: number): void } = {},
  ) {}

  /** Applies a record read back from the journal at start-up (records of other kinds are ignored). */
  replay(record: { type: string }): void {
    if (CONTROLLER_RECORD_TYPES.has(record.type)) this.apply(record as ControllerRecord);
  }

  /** Applies other brokers' records as the log learns them; returns the unsubscribe. */
  follow(log: { subscribe(listener: (record: { type: string }) => void): () => void }): () => void {
    return log.subscribe((r) => {
      if (!this.appending.has(r)) this.replay(r);
    });
  }

  /** Writes the cluster id on first start; later starts (and other brokers) keep the stored one. */
  async ensureClusterId(): Promise<string> {
    return this.serialized(async () => {
      await this.commit(() => (this.clusterId ? ok : { type: "cluster-created", clusterId: randomUuid() }));
      return this.clusterId;
    });
  }

  createTopic(name: string, partitions: number, configs: Record<string, string | null>, opts: { validateOnly?: boolean; internal?: boolean } = {}): Promise<ChangeResult & { topic?: TopicInfo }> {
    return this.serialized(async () => {
      const nameProblem = topicNameProblem(name);
      if (nameProblem) return fail(ErrorCode.INVALID_TOPIC_EXCEPTION, nameProblem);
      const exists = () => fail(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${name}' already exists.`);
      if (this.topics.byTopicName(name)) return exists();
      if (name.startsWith("__") && !opts.internal && name === "__consumer_offsets") {
        return fail(ErrorCode.INVALID_REQUEST, `Topic '${name}' is internal and is created by the broker.`);
      }
      if (!Number.isInteger(partitions) || partitions < 1) return fail(ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0.");
      if (partitions > PARTITIONS_PER_TOPIC_MAX) return fail(ErrorCode.INVALID_PARTITIONS, `Number of partitions must not exceed ${PARTITIONS_PER_TOPIC_MAX}.`);
      const configProblem = validateTopicConfigs(configs);
      if (configProblem) return fail(ErrorCode.INVALID_CONFIG, configProblem);
      if (opts.validateOnly) return ok;
      const clean = Object.fromEntries(Object.entries(configs).filter((e): e is [string, string] => e[1] !== null));
      const result = await this.commit(() => (this.topics.byTopicName(name) ? exists() : { type: "topic-created", topicId: randomUuid(), name, partitions, configs: clean, internal: opts.internal ?? false }));
      return result.errorCode === ErrorCode.NONE ? { ...ok, topic: this.topics.byTopicName(name)! } : result;
    });
  }

  deleteTopic(topic: TopicInfo): Promise<ChangeResult> {
    return this.serialized(async () => {
      if (topic.internal) return fail(ErrorCode.INVALID_REQUEST, `Topic '${topic.name}' is internal and cannot be deleted.`);
      const result = await this.commit(() => (this.topics.byTopicId(topic.topicId) ? { type: "topic-deleted", topicId: topic.topicId } : fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic.name}' does not exist.`)));
      if (result.errorCode === ErrorCode.NONE) await this.hooks.onTopicDeleted?.(topic);
      return result;
    });
  }

  createPartitions(topic: TopicInfo, count: number, validateOnly: boolean): Promise<ChangeResult> {
    return this.serialized(async () => {
      if (topic.internal) return fail(ErrorCode.INVALID_REQUEST, `Partitions of internal topic '${topic.name}' cannot be changed.`);
      if (count < topic.partitions) return fail(ErrorCode.INVALID_PARTITIONS, `Topic currently has ${topic.partitions} partitions, which is higher than the requested ${count}.`);
      if (count === topic.partitions) return fail(ErrorCode.INVALID_PARTITIONS, `Topic already has ${topic.partitions} partitions.`);
      if (count > PARTITIONS_PER_TOPIC_MAX) return fail(ErrorCode.INVALID_PARTITIONS, `Number of partitions must not exceed ${PARTITIONS_PER_TOPIC_MAX}.`);
      if (validateOnly) return ok;
      // Another broker may have grown it meanwhile: the count must still be an increase.
      return this.commit(() => {
        const now = this.topics.byTopicId(topic.topicId);
        if (!now) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic.name}' does not exist.`);
        if (count <= now.partitions) return fail(ErrorCode.INVALID_PARTITIONS, `Topic currently has ${now.partitions} partitions, which is higher than or equal to the requested ${count}.`);
        return { type: "partitions-created", topicId: topic.topicId, partitions: count };
      });
    });
  }

  /** Replaces a topic's overrides with `configs` (callers compute the full set). */
  setTopicConfigs(topic: TopicInfo, configs: Record<string, string>, validateOnly: boolean): Promise<ChangeResult> {
    return this.serialized(async () => {
      const problem = validateTopicConfigs(configs);
      if (problem) return fail(ErrorCode.INVALID_CONFIG, problem);
      if (validateOnly) return ok;
      return this.commit(() => (this.topics.byTopicId(topic.topicId) ? { type: "topic-configs-altered", topicId: topic.topicId, configs } : fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${topic.name}' does not exist.`)));
    });
  }

  /** A fresh producer id; a block of ids is reserved in the journal before any is handed out. */
  allocateProducerId(): Promise<bigint> {
    return this.serialized(async () => {
      if (this.nextProducerId >= this.producerIdLimit) {
        // The block starts where the newest one in the log ends, whichever broker took it.
        let start = 0n;
        await this.commit(() => {
          start = this.producerIdLimit;
          return { type: "producer-ids-allocated", nextProducerId: String(start + PRODUCER_ID_BLOCK) };
        });
        this.nextProducerId = start;
      }
      return this.nextProducerId++;
    });
  }

  /** Stores a user's credential for one mechanism (replacing any before it). */
  upsertScramCredential(user: string, cred: ScramCredential): Promise<void> {
    return this.serialized(async () => {
      await this.commit(() => upsertRecord(user, cred));
    });
  }

  /** Removes a user's credential for one mechanism; RESOURCE_NOT_FOUND if there is none. */
  deleteScramCredential(user: string, mechanism: ScramMechanism): Promise<ChangeResult> {
    return this.serialized(async () => {
      return this.commit(() => (this.scram.get(user, mechanism) ? { type: "scram-credential-deleted", user, mechanism } : fail(ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist")));
    });
  }

  /** Stores an ACL; storing one that exists already is a no-op, as in Kafka. */
  createAcl(acl: AclBinding): Promise<void> {
    return this.serialized(async () => {
      await this.commit(() => (this.acls.has(acl) ? ok : { type: "acl-created", acl }));
    });
  }

  /** Removes every ACL the filter matches, one record each; returns what was removed. */
  deleteAcls(filter: AclFilter): Promise<AclBinding[]> {
    return this.serialized(async () => {
      const gone: AclBinding[] = [];
      for (const acl of this.acls.matching(filter)) {
        // Another broker may have removed it meanwhile: only what this call removed is reported.
        if ((await this.commit(() => (this.acls.has(acl) ? { type: "acl-deleted", acl } : ok))).written) gone.push(acl);
      }
      return gone;
    });
  }

  /** Sets and removes quota keys of one entity in one record (AlterClientQuotas; values checked by the caller). */
  alterClientQuotas(entity: QuotaEntity, set: Record<string, number>, removed: string[]): Promise<void> {
    return this.serialized(async () => {
      await this.commit(() => ({ type: "client-quotas-altered", entity, set, removed }));
    });
  }

  /**
   * Writes the record `build` returns, then applies it. `build` runs against the latest
   * state (it may run again if another broker appended first) and returns a ChangeResult
   * instead when the change no longer holds; then nothing is written.
   */
  private async commit(build: () => ControllerRecord | ChangeResult): Promise<ChangeResult & { written: boolean }> {
    let refused: ChangeResult = ok;
    let built: ControllerRecord | null = null;
    try {
      const written = await this.journal.appendChecked(() => {
        if (built) this.appending.delete(built);
        const r = build();
        if (!("type" in r)) {
          refused = r;
          built = null;
          return null;
        }
        built = r;
        this.appending.add(r);
        return r;
      });
      if (!written) return { ...refused, written: false };
      this.apply(written);
      return { ...ok, written: true };
    } finally {
      if (built) this.appending.delete(built);
    }
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
      case "client-quotas-altered":
        this.quotas.apply(record);
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
