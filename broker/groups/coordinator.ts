import { randomUUID } from "node:crypto";
import { ErrorCode } from "../protocol/errors.js";
import { Reader } from "../protocol/primitives.js";
import { ConsumerProtocolSubscription } from "../protocol/messages/index.js";

/**
 * The classic consumer-group protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup) as a
 * state machine with no I/O of its own: time comes from an injected clock and committed
 * offsets are made durable through an injected store (the `__consumer_offsets` topic).
 *
 * States follow Kafka: Empty → PreparingRebalance → CompletingRebalance → Stable, and Dead
 * once deleted. A rebalance ends when every known member has rejoined (or the rebalance
 * timeout removes the rest); all join responses are then answered together, the leader's
 * with the member list. SyncGroup answers every member once the leader sent assignments;
 * members still without a SyncGroup when the rebalance timeout passes again are removed.
 * Every pending join or sync is always answered: by the rebalance, an error, or close().
 *
 * Not here (yet): offset retention for Empty groups (offsets.retention.minutes), the
 * KIP-848 consumer protocol, and transactional offset commits.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface OffsetCommit {
  topic: string;
  partition: number;
  offset: bigint;
  leaderEpoch: number;
  metadata: string | null;
  commitTimestampMs: number;
}

/** Where commits become durable; each call resolves only once they are. */
export interface OffsetStore {
  persist(groupId: string, commits: OffsetCommit[]): Promise<void>;
  persistGroupDeleted(groupId: string): Promise<void>;
  persistOffsetsDeleted?(groupId: string, partitions: { topic: string; partition: number }[]): Promise<void>;
}

export interface GroupLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead";

export interface JoinRequest {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string;
  protocols: { name: string; metadata: Buffer }[];
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  /** JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED and an id to rejoin with. */
  requireKnownMemberId: boolean;
  clientId: string;
  clientHost: string;
  reason?: string | null;
}

export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  skipAssignment: boolean;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
}

export interface SyncRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface SyncResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

export interface DescribedGroup {
  groupState: GroupState;
  protocolType: string;
  protocolData: string;
  members: { memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string; memberMetadata: Buffer; memberAssignment: Buffer }[];
}

interface Member {
  memberId: string;
  readonly groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: { name: string; metadata: Buffer }[];
  assignment: Buffer;
  joinWaiter: ((r: JoinResult) => void) | null;
  syncWaiter: ((r: SyncResult) => void) | null;
  sessionTimer: unknown;
}

interface CommittedOffset {
  offset: bigint;
  leaderEpoch: number;
  metadata: string | null;
  commitTimestampMs: number;
}

interface Group {
  readonly groupId: string;
  state: GroupState;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string | null;
  readonly members: Map<string, Member>;
  /** group.instance.id → member id of static members. */
  readonly staticMembers: Map<string, string>;
  /** Ids handed out with MEMBER_ID_REQUIRED, expiring after the session timeout. */
  readonly pendingMembers: Map<string, unknown>;
  readonly offsets: Map<string, CommittedOffset>;
  rebalanceTimer: unknown;
  /** While set, the first rebalance of a new group waits for more members (group.initial.rebalance.delay.ms). */
  initialDelay: { timer: unknown; deadlineMs: number } | null;
  /** Members of this generation that have not sent SyncGroup yet; they are removed if the rebalance timeout passes first. */
  readonly pendingSync: Set<string>;
  syncTimer: unknown;
  /** Forgets the group if it stays Empty with no offsets (Kafka's periodic cleanup). */
  emptyTimer: unknown;
}

const NO_BUFFER = Buffer.alloc(0);
const offsetKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;
const syncError = (errorCode: number): SyncResult => ({ errorCode, protocolType: null, protocolName: null, assignment: NO_BUFFER });

export interface GroupCoordinatorOptions {
  offsetStore: OffsetStore;
  clock?: Clock;
  groupMinSessionTimeoutMs?: number;
  groupMaxSessionTimeoutMs?: number;
  /** group.initial.rebalance.delay.ms; 0 turns the wait off (handy in tests). */
  initialRebalanceDelayMs?: number;
  /** Members plus ids awaiting their second JoinGroup. */
  groupMaxSize?: number;
  /** offset.metadata.max.bytes: longer commit metadata is refused with OFFSET_METADATA_TOO_LARGE. */
  offsetMetadataBytesMax?: number;
  /** All protocol metadata one member may park in the group (its subscription). */
  memberMetadataBytesMax?: number;
  /** How long an Empty group without offsets stays describable before it is forgotten. */
  emptyGroupRetentionMs?: number;
  logger?: GroupLogger;
}

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>();
  private readonly clock: Clock;
  private readonly store: OffsetStore;
  private readonly minSessionMs: number;
  private readonly maxSessionMs: number;
  private readonly initialDelayMs: number;
  private readonly maxSize: number;
  private readonly offsetMetadataBytesMax: number;
  private readonly memberMetadataBytesMax: number;
  private readonly emptyRetentionMs: number;
  private readonly log: GroupLogger | undefined;
  private closed = false;

  constructor(opts: GroupCoordinatorOptions) {
    this.store = opts.offsetStore;
    this.clock = opts.clock ?? systemClock;
    this.minSessionMs = opts.groupMinSessionTimeoutMs ?? 6000;
    this.maxSessionMs = opts.groupMaxSessionTimeoutMs ?? 1_800_000;
    this.initialDelayMs = opts.initialRebalanceDelayMs ?? 3000;
    this.maxSize = opts.groupMaxSize ?? 10_000;
    this.offsetMetadataBytesMax = opts.offsetMetadataBytesMax ?? 4096;
    this.memberMetadataBytesMax = opts.memberMetadataBytesMax ?? 1024 * 1024;
    this.emptyRetentionMs = opts.emptyGroupRetentionMs ?? 600_000;
    this.log = opts.logger;
  }

  // ---- start-up: state replayed from the offsets topic ----

  loadOffsets(groupId: string, commits: OffsetCommit[]): void {
    const g = this.groupOrCreate(groupId);
    for (const c of commits) g.offsets.set(offsetKey(c.topic, c.partition), { offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: c.metadata, commitTimestampMs: c.commitTimestampMs });
  }

  loadOffsetsDeleted(groupId: string, partitions: { topic: string; partition: number }[]): void {
    const g = this.groups.get(groupId);
    if (!g) return;
    for (const p of partitions) g.offsets.delete(offsetKey(p.topic, p.partition));
    this.dropIfUnused(g);
  }

  loadGroupDeleted(groupId: string): void {
    const g = this.groups.get(groupId);
    if (g) this.forget(g);
  }

  /**
   * Another broker now coordinates these groups (their offsets partition moved): drop them
   * here, answering waiting members with NOT_COORDINATOR so they find the new coordinator,
   * which loads the committed offsets from the partition.
   */
  unloadGroups(isMoved: (groupId: string) => boolean): number {
    let n = 0;
    for (const g of [...this.groups.values()]) {
      if (!isMoved(g.groupId)) continue;
      this.stopTimers(g, ErrorCode.NOT_COORDINATOR);
      g.state = "Dead";
      this.groups.delete(g.groupId);
      n++;
    }
    return n;
  }

  // ---- membership ----

  joinGroup(req: JoinRequest): Promise<JoinResult> {
    if (req.reason) this.log?.debug({ group: req.groupId, member: req.memberId, reason: req.reason }, "join requested");
    const fail = (errorCode: number, memberId = req.memberId): Promise<JoinResult> => Promise.resolve(joinError(errorCode, memberId));
    if (this.closed) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (req.groupId === "") return fail(ErrorCode.INVALID_GROUP_ID);
    if (req.sessionTimeoutMs < this.minSessionMs || req.sessionTimeoutMs > this.maxSessionMs) return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    if (!req.protocolType || req.protocols.length === 0) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    if (req.protocols.reduce((n, p) => n + p.name.length + p.metadata.length, 0) > this.memberMetadataBytesMax) return fail(ErrorCode.INVALID_REQUEST);
    const existing = this.groups.get(req.groupId);
    if (!existing && req.memberId !== "") return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    if (existing?.state === "Dead") return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (existing && !this.protocolsCompatible(existing, req)) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const g = existing ?? this.groupOrCreate(req.groupId);

    if (req.memberId === "") {
      if (req.groupInstanceId !== null) return this.joinStatic(g, req);
      if (this.isFull(g)) return fail(ErrorCode.GROUP_MAX_SIZE_REACHED);
      const memberId = `${req.clientId}-${randomUUID()}`;
      if (req.requireKnownMemberId) {
        // KIP-394: the member must come back with this id; until then it only reserves a slot.
        g.pendingMembers.set(memberId, this.clock.setTimeout(() => this.expirePending(g, memberId), req.sessionTimeoutMs));
        this.clearEmptyTimer(g);
        return fail(ErrorCode.MEMBER_ID_REQUIRED, memberId);
      }
      return this.addMemberAndRebalance(g, memberId, req);
    }

    if (this.fenced(g, req.memberId, req.groupInstanceId)) return fail(ErrorCode.FENCED_INSTANCE_ID);
    const member = g.members.get(req.memberId);
    if (!member) {
      const pending = g.pendingMembers.get(req.memberId);
      if (pending === undefined) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      this.clock.clearTimeout(pending);
      g.pendingMembers.delete(req.memberId);
      return this.addMemberAndRebalance(g, req.memberId, req);
    }
    return this.rejoin(g, member, req);
  }

  syncGroup(req: SyncRequest): Promise<SyncResult> {
    const fail = (errorCode: number): Promise<SyncResult> => Promise.resolve(syncError(errorCode));
    if (this.closed) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    const g = this.groups.get(req.groupId);
    if (!g) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    if (g.state === "Dead") return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (this.fenced(g, req.memberId, req.groupInstanceId)) return fail(ErrorCode.FENCED_INSTANCE_ID);
    const member = g.members.get(req.memberId);
    if (!member) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    if (req.generationId !== g.generationId) return fail(ErrorCode.ILLEGAL_GENERATION);
    if ((req.protocolType !== null && req.protocolType !== g.protocolType) || (req.protocolName !== null && req.protocolName !== g.protocolName)) {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    const ok = (assignment: Buffer): SyncResult => ({ errorCode: ErrorCode.NONE, protocolType: g.protocolType, protocolName: g.protocolName, assignment });
    switch (g.state) {
      case "PreparingRebalance":
        return fail(ErrorCode.REBALANCE_IN_PROGRESS);
      case "Stable":
        this.touchSession(g, member);
        this.syncReceived(g, member.memberId);
        return Promise.resolve(ok(member.assignment));
      case "CompletingRebalance": {
        this.touchSession(g, member);
        this.syncReceived(g, member.memberId);
        const answer = new Promise<SyncResult>((resolve) => {
          member.syncWaiter?.(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
          member.syncWaiter = resolve;
        });
        if (req.memberId === g.leaderId) {
          // Members the leader left out get an empty assignment, as in Kafka.
          const byMember = new Map(req.assignments.map((a) => [a.memberId, a.assignment]));
          for (const m of g.members.values()) m.assignment = byMember.get(m.memberId) ?? NO_BUFFER;
          g.state = "Stable";
          this.log?.info({ group: g.groupId, generation: g.generationId, members: g.members.size }, "group stable");
          for (const m of g.members.values()) {
            const waiter = m.syncWaiter;
            m.syncWaiter = null;
            waiter?.(ok(m.assignment));
          }
        }
        return answer;
      }
      default:
        return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    }
  }

  heartbeat(req: { groupId: string; generationId: number; memberId: string; groupInstanceId: string | null }): number {
    if (this.closed) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const g = this.groups.get(req.groupId);
    if (!g) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (g.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (this.fenced(g, req.memberId, req.groupInstanceId)) return ErrorCode.FENCED_INSTANCE_ID;
    const member = g.members.get(req.memberId);
    if (!member) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (req.generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION;
    this.touchSession(g, member);
    // CompletingRebalance answers NONE: members heartbeat between their JoinGroup and SyncGroup.
    return g.state === "PreparingRebalance" ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  leaveGroup(
    groupId: string,
    leaving: { memberId: string; groupInstanceId: string | null; reason?: string | null }[],
  ): Promise<{ errorCode: number; members: { memberId: string; groupInstanceId: string | null; errorCode: number }[] }> {
    if (this.closed) return Promise.resolve({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] });
    const g = this.groups.get(groupId);
    const results = leaving.map(({ memberId, groupInstanceId, reason }) => {
      const result = (errorCode: number, id = memberId) => ({ memberId: id, groupInstanceId, errorCode });
      if (!g || g.state === "Dead") return result(ErrorCode.UNKNOWN_MEMBER_ID);
      let id = memberId;
      if (groupInstanceId !== null) {
        const current = g.staticMembers.get(groupInstanceId);
        if (current === undefined) return result(ErrorCode.UNKNOWN_MEMBER_ID);
        if (memberId !== "" && memberId !== current) return result(ErrorCode.FENCED_INSTANCE_ID);
        id = current;
      }
      const pending = g.pendingMembers.get(id);
      if (pending !== undefined) {
        this.clock.clearTimeout(pending);
        g.pendingMembers.delete(id);
        this.maybeCompleteJoin(g);
        this.dropIfUnused(g);
        return result(ErrorCode.NONE, id);
      }
      if (!g.members.has(id)) return result(ErrorCode.UNKNOWN_MEMBER_ID);
      this.log?.info({ group: groupId, member: id, reason: reason ?? null }, "member left group");
      this.removeMember(g, id, "member left");
      return result(ErrorCode.NONE, id);
    });
    return Promise.resolve({ errorCode: ErrorCode.NONE, members: results });
  }

  // ---- offsets ----

  /**
   * Commits are answered only once the store made them durable, and applied only then, so a
   * fetch never sees an offset that a crash could take back. Validation follows Kafka: with a
   * negative generation an Empty (or unknown) group takes "simple" commits from admin tools and
   * manually assigned consumers; otherwise the member and generation must be current.
   */
  async commitOffsets(req: {
    groupId: string;
    generationId: number;
    memberId: string;
    groupInstanceId: string | null;
    topics: { name: string; partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: string | null }[] }[];
  }): Promise<{ topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[] }> {
    const answer = (errorCode: number) => ({ topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) })) });
    if (this.closed) return answer(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    const refusal = this.commitRefusal(req);
    if (refusal !== ErrorCode.NONE) return answer(refusal);
    const g = this.groupOrCreate(req.groupId);
    const member = g.members.get(req.memberId);
    if (member) this.touchSession(g, member);

    const now = this.clock.now();
    const tooLarge = new Set<string>();
    const commits: OffsetCommit[] = [];
    for (const t of req.topics) {
      for (const p of t.partitions) {
        if (p.committedMetadata !== null && Buffer.byteLength(p.committedMetadata) > this.offsetMetadataBytesMax) tooLarge.add(offsetKey(t.name, p.partitionIndex));
        else commits.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch, metadata: p.committedMetadata, commitTimestampMs: now });
      }
    }
    let errorCode: number = ErrorCode.NONE;
    if (commits.length > 0) {
      try {
        await this.store.persist(req.groupId, commits);
      } catch (err) {
        this.log?.warn({ group: req.groupId, err }, "offset commit could not be made durable");
        errorCode = ErrorCode.COORDINATOR_NOT_AVAILABLE;
      }
      // A DeleteGroups that ran while we waited wins: the store keeps writes in call order, so its tombstone follows these commits.
      if (errorCode === ErrorCode.NONE && (this.groups.get(req.groupId) !== g || g.state === "Dead")) errorCode = ErrorCode.COORDINATOR_NOT_AVAILABLE;
      if (errorCode === ErrorCode.NONE) {
        for (const c of commits) g.offsets.set(offsetKey(c.topic, c.partition), { offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: c.metadata, commitTimestampMs: c.commitTimestampMs });
        this.clearEmptyTimer(g);
      }
    }
    this.dropIfUnused(g);
    return {
      topics: req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: tooLarge.has(offsetKey(t.name, p.partitionIndex)) ? ErrorCode.OFFSET_METADATA_TOO_LARGE : errorCode })),
      })),
    };
  }

  /**
   * TxnOffsetCommit v3+ (KIP-447): a consumer that names its member id and generation must
   * still be that member of that generation, so a zombie consumer's transaction cannot commit
   * offsets. No member id or a negative generation (older clients): nothing to check.
   */
  txnOffsetCommitRefusal(req: { groupId: string; generationId: number; memberId: string; groupInstanceId: string | null }): number {
    if (this.closed) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const g = this.groups.get(req.groupId);
    if (g?.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (req.generationId < 0 || req.memberId === "") return ErrorCode.NONE;
    if (!g) return ErrorCode.ILLEGAL_GENERATION;
    if (this.fenced(g, req.memberId, req.groupInstanceId)) return ErrorCode.FENCED_INSTANCE_ID;
    if (!g.members.has(req.memberId)) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (req.generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION;
    return ErrorCode.NONE;
  }

  fetchOffsets(
    groupId: string,
    topics: { name: string; partitionIndexes: number[] }[] | null,
  ): { errorCode: number; topics: { name: string; partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; metadata: string | null; errorCode: number }[] }[] } {
    if (this.closed) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, topics: [] };
    const found = this.groups.get(groupId);
    const g = found?.state === "Dead" ? undefined : found;
    // Kafka answers "no metadata" as the empty string, and a partition never committed as offset -1.
    const entry = (topic: string, partitionIndex: number) => {
      const c = g?.offsets.get(offsetKey(topic, partitionIndex));
      return c
        ? { partitionIndex, committedOffset: c.offset, committedLeaderEpoch: c.leaderEpoch, metadata: c.metadata ?? "", errorCode: ErrorCode.NONE }
        : { partitionIndex, committedOffset: -1n, committedLeaderEpoch: -1, metadata: "", errorCode: ErrorCode.NONE };
    };
    if (topics !== null) return { errorCode: ErrorCode.NONE, topics: topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((p) => entry(t.name, p)) })) };
    const byTopic = new Map<string, number[]>();
    for (const key of g?.offsets.keys() ?? []) {
      const [topic, partition] = key.split("\u0000") as [string, string];
      const list = byTopic.get(topic);
      if (list) list.push(Number(partition));
      else byTopic.set(topic, [Number(partition)]);
    }
    return {
      errorCode: ErrorCode.NONE,
      topics: [...byTopic].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, parts]) => ({ name, partitions: parts.sort((a, b) => a - b).map((p) => entry(name, p)) })),
    };
  }

  /** OffsetDelete: refused per partition while the group's consumers subscribe to the topic. */
  async deleteOffsets(groupId: string, topics: { name: string; partitionIndexes: number[] }[]): Promise<{ errorCode: number; topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[] }> {
    if (this.closed) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, topics: [] };
    const g = this.groups.get(groupId);
    if (!g || g.state === "Dead") return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, topics: [] };
    if (g.protocolType !== null && g.protocolType !== "consumer" && g.members.size > 0) return { errorCode: ErrorCode.NON_EMPTY_GROUP, topics: [] };
    const subscribed = this.subscribedTopics(g);
    const deletable: { topic: string; partition: number }[] = [];
    const results = topics.map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((p) => {
        if (subscribed === "all" || subscribed.has(t.name)) return { partitionIndex: p, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC };
        deletable.push({ topic: t.name, partition: p });
        return { partitionIndex: p, errorCode: ErrorCode.NONE };
      }),
    }));
    if (deletable.length > 0) {
      try {
        if (this.store.persistOffsetsDeleted) await this.store.persistOffsetsDeleted(groupId, deletable);
      } catch (err) {
        this.log?.warn({ group: groupId, err }, "offset deletion could not be made durable");
        return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, topics: [] };
      }
      for (const d of deletable) g.offsets.delete(offsetKey(d.topic, d.partition));
      this.dropIfUnused(g);
    }
    return { errorCode: ErrorCode.NONE, topics: results };
  }

  // ---- administration ----

  /** Null for a group this coordinator does not know. Protocol, metadata and assignments are shown only while Stable, as Kafka does. */
  describeGroup(groupId: string): DescribedGroup | null {
    const g = this.groups.get(groupId);
    if (!g) return null;
    const stable = g.state === "Stable";
    return {
      groupState: g.state,
      protocolType: g.protocolType ?? "",
      protocolData: stable ? (g.protocolName ?? "") : "",
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: stable ? this.metadataOf(g, m) : NO_BUFFER,
        memberAssignment: stable ? m.assignment : NO_BUFFER,
      })),
    };
  }

  /** Every live group, or those whose state is in `statesFilter` (case-insensitive, empty = all). */
  listGroups(statesFilter: string[] = []): { groupId: string; protocolType: string; groupState: GroupState }[] {
    const states = new Set(statesFilter.map((s) => s.toLowerCase()));
    return [...this.groups.values()]
      .filter((g) => g.state !== "Dead" && (states.size === 0 || states.has(g.state.toLowerCase())))
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType ?? "", groupState: g.state }));
  }

  async deleteGroups(ids: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const id of ids) {
      if (this.closed) {
        out.set(id, ErrorCode.COORDINATOR_NOT_AVAILABLE);
        continue;
      }
      const g = this.groups.get(id);
      if (!g || g.state === "Dead") out.set(id, ErrorCode.GROUP_ID_NOT_FOUND);
      else if (g.state !== "Empty" || g.members.size > 0 || g.pendingMembers.size > 0) out.set(id, ErrorCode.NON_EMPTY_GROUP);
      else {
        // Dead before the write, so nobody joins or commits into a group whose tombstone is on its way.
        g.state = "Dead";
        this.clearEmptyTimer(g);
        try {
          await this.store.persistGroupDeleted(id);
          this.groups.delete(id);
          out.set(id, ErrorCode.NONE);
        } catch (err) {
          g.state = "Empty";
          this.dropIfUnused(g);
          this.log?.warn({ group: id, err }, "group deletion could not be made durable");
          out.set(id, ErrorCode.COORDINATOR_NOT_AVAILABLE);
        }
      }
    }
    return out;
  }

  /** Stops every timer and answers every waiting request, so clients look for the coordinator again. */
  close(): void {
    this.closed = true;
    for (const g of this.groups.values()) this.stopTimers(g, ErrorCode.NOT_COORDINATOR);
  }

  // ---- internals ----

  private groupOrCreate(groupId: string): Group {
    let g = this.groups.get(groupId);
    if (!g) {
      g = {
        groupId,
        state: "Empty",
        generationId: 0,
        protocolType: null,
        protocolName: null,
        leaderId: null,
        members: new Map(),
        staticMembers: new Map(),
        pendingMembers: new Map(),
        offsets: new Map(),
        rebalanceTimer: null,
        initialDelay: null,
        pendingSync: new Set(),
        syncTimer: null,
        emptyTimer: null,
      };
      this.groups.set(groupId, g);
    }
    return g;
  }

  /** An Empty group with nothing in it and no committed offsets is forgotten, as Kafka's cleanup does. */
  private dropIfUnused(g: Group): boolean {
    if (g.state !== "Empty" || g.members.size > 0 || g.pendingMembers.size > 0 || g.offsets.size > 0) return false;
    if (this.groups.get(g.groupId) === g) this.forget(g);
    return true;
  }

  private forget(g: Group): void {
    this.stopTimers(g, ErrorCode.COORDINATOR_NOT_AVAILABLE);
    g.state = "Dead";
    this.groups.delete(g.groupId);
  }

  private stopTimers(g: Group, answerWith: number): void {
    this.clock.clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = null;
    if (g.initialDelay) this.clock.clearTimeout(g.initialDelay.timer);
    g.initialDelay = null;
    this.clock.clearTimeout(g.syncTimer);
    g.syncTimer = null;
    this.clearEmptyTimer(g);
    for (const t of g.pendingMembers.values()) this.clock.clearTimeout(t);
    g.pendingMembers.clear();
    for (const m of g.members.values()) {
      this.clock.clearTimeout(m.sessionTimer);
      m.sessionTimer = null;
      this.answerWaiters(m, answerWith);
    }
  }

  private clearEmptyTimer(g: Group): void {
    this.clock.clearTimeout(g.emptyTimer);
    g.emptyTimer = null;
  }

  private isFull(g: Group): boolean {
    return g.members.size + g.pendingMembers.size >= this.maxSize;
  }

  private commitRefusal(req: { groupId: string; generationId: number; memberId: string; groupInstanceId: string | null }): number {
    const g = this.groups.get(req.groupId);
    if (!g) return req.generationId < 0 ? ErrorCode.NONE : ErrorCode.ILLEGAL_GENERATION;
    if (g.state === "Dead") return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (req.generationId < 0 && g.state === "Empty") return ErrorCode.NONE;
    if (req.generationId >= 0 || req.memberId !== "" || req.groupInstanceId !== null) {
      if (this.fenced(g, req.memberId, req.groupInstanceId)) return ErrorCode.FENCED_INSTANCE_ID;
      if (!g.members.has(req.memberId)) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (req.generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION;
    } else {
      // No member id and no generation (OffsetCommit v0, admin tools): only while nobody consumes.
      return ErrorCode.UNKNOWN_MEMBER_ID;
    }
    // The member has its new generation from JoinGroup but not its assignment yet.
    if (g.state === "CompletingRebalance") return ErrorCode.REBALANCE_IN_PROGRESS;
    return ErrorCode.NONE;
  }

  /** Kafka's rule: the joiner must share a protocol that every other member supports, under the same protocol type. */
  private protocolsCompatible(g: Group, req: JoinRequest): boolean {
    const others = [...g.members.values()].filter((m) => m.memberId !== req.memberId);
    if (others.length === 0) return true;
    if (g.protocolType !== null && req.protocolType !== g.protocolType) return false;
    return req.protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)));
  }

  private fenced(g: Group, memberId: string, groupInstanceId: string | null): boolean {
    if (groupInstanceId === null) return false;
    const current = g.staticMembers.get(groupInstanceId);
    return current !== undefined && current !== memberId;
  }

  /**
   * A static member joining without a member id: new, or the same instance restarted. A
   * restart takes over the old member (assignment included) under a new id and fences the
   * old id; in a Stable group whose protocol stays the same it does so without a rebalance
   * (KIP-345), which is what static membership is for.
   */
  private joinStatic(g: Group, req: JoinRequest): Promise<JoinResult> {
    const instanceId = req.groupInstanceId!;
    const oldId = g.staticMembers.get(instanceId);
    const member = oldId === undefined ? undefined : g.members.get(oldId);
    const memberId = `${instanceId}-${randomUUID()}`;
    if (!member) {
      if (this.isFull(g)) return Promise.resolve(joinError(ErrorCode.GROUP_MAX_SIZE_REACHED, ""));
      return this.addMemberAndRebalance(g, memberId, req);
    }
    const old = member.memberId;
    this.answerWaiters(member, ErrorCode.FENCED_INSTANCE_ID);
    this.clock.clearTimeout(member.sessionTimer);
    member.sessionTimer = null;
    g.members.delete(old);
    member.memberId = memberId;
    g.members.set(memberId, member);
    g.staticMembers.set(instanceId, memberId);
    if (g.leaderId === old) g.leaderId = memberId;
    if (g.pendingSync.delete(old)) g.pendingSync.add(memberId);
    this.log?.info({ group: g.groupId, instance: instanceId, oldMember: old, member: memberId }, "static member replaced");
    this.updateMember(member, req);

    if (g.state === "Stable" && this.selectProtocol(g) === g.protocolName) {
      this.touchSession(g, member);
      const isLeader = memberId === g.leaderId;
      // The leader learns the members but must not reassign: a Stable group would not pass a new assignment on (KIP-814).
      return Promise.resolve({ ...this.joinResultFor(g, member), skipAssignment: isLeader });
    }
    const answer = this.awaitJoin(member);
    if (g.state === "PreparingRebalance") this.maybeCompleteJoin(g);
    else this.prepareRebalance(g, `static member ${instanceId} rejoined`);
    return answer;
  }

  private addMemberAndRebalance(g: Group, memberId: string, req: JoinRequest): Promise<JoinResult> {
    const member: Member = {
      memberId,
      groupInstanceId: req.groupInstanceId,
      clientId: req.clientId,
      clientHost: req.clientHost,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      protocolType: req.protocolType,
      protocols: req.protocols,
      assignment: NO_BUFFER,
      joinWaiter: null,
      syncWaiter: null,
      sessionTimer: null,
    };
    const answer = this.awaitJoin(member);
    g.members.set(memberId, member);
    if (req.groupInstanceId !== null) g.staticMembers.set(req.groupInstanceId, memberId);
    if (g.protocolType === null) g.protocolType = req.protocolType;
    if (g.leaderId === null) g.leaderId = memberId;
    this.clearEmptyTimer(g);
    this.log?.debug({ group: g.groupId, member: memberId }, "member joined");
    this.prepareRebalance(g, `member ${memberId} joined`);
    return answer;
  }

  private updateMember(member: Member, req: JoinRequest): boolean {
    const changed = !sameProtocols(member.protocols, req.protocols);
    member.protocols = req.protocols;
    member.sessionTimeoutMs = req.sessionTimeoutMs;
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    member.clientId = req.clientId;
    member.clientHost = req.clientHost;
    return changed;
  }

  private rejoin(g: Group, member: Member, req: JoinRequest): Promise<JoinResult> {
    const changed = this.updateMember(member, req);
    const settled = g.state === "Stable" || g.state === "CompletingRebalance";
    if (settled && !changed && !(g.state === "Stable" && member.memberId === g.leaderId)) {
      // Nothing new (typically a lost JoinGroup response): answer with the current generation instead of rebalancing.
      this.touchSession(g, member);
      return Promise.resolve(this.joinResultFor(g, member));
    }
    const answer = this.awaitJoin(member);
    // With the leader gone, the first member back leads.
    if (g.leaderId === null) g.leaderId = member.memberId;
    if (g.state === "PreparingRebalance") this.maybeCompleteJoin(g);
    else this.prepareRebalance(g, `member ${member.memberId} rejoined`);
    return answer;
  }

  /** A member waits in JoinGroup; an older JoinGroup of the same member still waiting is answered first. */
  private awaitJoin(member: Member): Promise<JoinResult> {
    this.answerJoin(member, joinError(ErrorCode.REBALANCE_IN_PROGRESS, member.memberId));
    return new Promise<JoinResult>((resolve) => (member.joinWaiter = resolve));
  }

  private prepareRebalance(g: Group, reason: string): void {
    if (g.state === "CompletingRebalance") for (const m of g.members.values()) this.answerSync(m, syncError(ErrorCode.REBALANCE_IN_PROGRESS));
    this.clock.clearTimeout(g.syncTimer);
    g.syncTimer = null;
    g.pendingSync.clear();
    this.clearEmptyTimer(g);
    const wasEmpty = g.state === "Empty";
    if (g.state !== "PreparingRebalance") {
      g.state = "PreparingRebalance";
      this.log?.info({ group: g.groupId, reason }, "rebalance started");
    }
    const rebalanceMs = this.rebalanceTimeoutMs(g);
    if (wasEmpty && this.initialDelayMs > 0) {
      // A new group waits a moment for its other members, so it does not rebalance once per joiner.
      g.initialDelay = { timer: null, deadlineMs: this.clock.now() + rebalanceMs };
      this.armInitialDelay(g);
      return;
    }
    if (g.initialDelay) {
      this.armInitialDelay(g);
      return;
    }
    if (g.rebalanceTimer === null) g.rebalanceTimer = this.clock.setTimeout(() => this.completeJoin(g), rebalanceMs);
    this.maybeCompleteJoin(g);
  }

  private rebalanceTimeoutMs(g: Group): number {
    let ms = 0;
    for (const m of g.members.values()) ms = Math.max(ms, m.rebalanceTimeoutMs);
    return ms;
  }

  /** Each joiner restarts the delay, but never past the rebalance timeout counted from the first joiner. */
  private armInitialDelay(g: Group): void {
    const delay = g.initialDelay!;
    this.clock.clearTimeout(delay.timer);
    const remaining = Math.max(0, delay.deadlineMs - this.clock.now());
    delay.timer = this.clock.setTimeout(() => {
      g.initialDelay = null;
      this.completeJoin(g);
    }, Math.min(this.initialDelayMs, remaining));
  }

  private maybeCompleteJoin(g: Group): void {
    if (g.state !== "PreparingRebalance" || g.initialDelay) return;
    if (g.pendingMembers.size > 0) return;
    for (const m of g.members.values()) if (!m.joinWaiter) return;
    this.completeJoin(g);
  }

  private completeJoin(g: Group): void {
    if (g.state !== "PreparingRebalance" || this.closed || this.groups.get(g.groupId) !== g) return;
    this.clock.clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = null;
    if (g.initialDelay) this.clock.clearTimeout(g.initialDelay.timer);
    g.initialDelay = null;
    // Members that did not rejoin in time are out.
    for (const m of [...g.members.values()]) if (!m.joinWaiter) this.dropMember(g, m);
    g.generationId++;
    if (g.members.size === 0) {
      g.state = "Empty";
      g.protocolName = null;
      g.protocolType = null;
      g.leaderId = null;
      this.log?.info({ group: g.groupId, generation: g.generationId }, "group empty");
      // Kept a while (describable, deletable) even without offsets, then forgotten.
      if (g.offsets.size === 0 && g.pendingMembers.size === 0) g.emptyTimer = this.clock.setTimeout(() => ((g.emptyTimer = null), this.dropIfUnused(g)), this.emptyRetentionMs);
      return;
    }
    g.protocolName = this.selectProtocol(g);
    if (g.leaderId === null || !g.members.has(g.leaderId)) g.leaderId = g.members.keys().next().value!;
    g.state = "CompletingRebalance";
    this.log?.info({ group: g.groupId, generation: g.generationId, members: g.members.size, protocol: g.protocolName }, "join phase complete");
    for (const m of g.members.values()) {
      m.assignment = NO_BUFFER;
      g.pendingSync.add(m.memberId);
      this.answerJoin(m, this.joinResultFor(g, m));
      this.touchSession(g, m);
    }
    // A leader that never sends its assignments must not hold the group forever.
    const generation = g.generationId;
    g.syncTimer = this.clock.setTimeout(() => this.expirePendingSync(g, generation), this.rebalanceTimeoutMs(g));
  }

  private syncReceived(g: Group, memberId: string): void {
    if (g.pendingSync.delete(memberId) && g.pendingSync.size === 0) {
      this.clock.clearTimeout(g.syncTimer);
      g.syncTimer = null;
    }
  }

  private expirePendingSync(g: Group, generation: number): void {
    g.syncTimer = null;
    if (this.groups.get(g.groupId) !== g || g.generationId !== generation) return;
    if (g.state !== "CompletingRebalance" && g.state !== "Stable") return;
    const late = [...g.pendingSync];
    g.pendingSync.clear();
    if (late.length === 0) return;
    this.log?.info({ group: g.groupId, generation, members: late }, "members did not sync within the rebalance timeout");
    for (const id of late) {
      const m = g.members.get(id);
      if (m) this.dropMember(g, m);
      if (g.leaderId === id) g.leaderId = null;
    }
    this.prepareRebalance(g, "members did not sync in time");
  }

  private joinResultFor(g: Group, m: Member): JoinResult {
    const isLeader = m.memberId === g.leaderId;
    return {
      errorCode: ErrorCode.NONE,
      generationId: g.generationId,
      protocolType: g.protocolType,
      protocolName: g.protocolName,
      leader: g.leaderId ?? "",
      skipAssignment: false,
      memberId: m.memberId,
      members: isLeader ? [...g.members.values()].map((x) => ({ memberId: x.memberId, groupInstanceId: x.groupInstanceId, metadata: this.metadataOf(g, x) })) : [],
    };
  }

  private metadataOf(g: Group, m: Member): Buffer {
    return m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? NO_BUFFER;
  }

  /** Among the protocols every member supports, the one most members list first; ties go to the first member's preference. */
  private selectProtocol(g: Group): string {
    const members = [...g.members.values()];
    const common = members[0]!.protocols.map((p) => p.name).filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
    const votes = new Map(common.map((c) => [c, 0]));
    for (const m of members) {
      const choice = m.protocols.find((p) => votes.has(p.name));
      if (choice) votes.set(choice.name, votes.get(choice.name)! + 1);
    }
    let best = common[0]!;
    for (const [name, n] of votes) if (n > votes.get(best)!) best = name;
    return best;
  }

  private touchSession(g: Group, m: Member): void {
    this.clock.clearTimeout(m.sessionTimer);
    const memberId = m.memberId;
    m.sessionTimer = this.clock.setTimeout(() => this.expireMember(g, memberId), m.sessionTimeoutMs);
  }

  private expireMember(g: Group, memberId: string): void {
    const m = g.members.get(memberId);
    if (!m || this.groups.get(g.groupId) !== g) return;
    m.sessionTimer = null;
    // A member waiting in JoinGroup is bounded by the rebalance timeout instead.
    if (m.joinWaiter && g.state === "PreparingRebalance") return;
    this.log?.info({ group: g.groupId, member: memberId, sessionTimeoutMs: m.sessionTimeoutMs }, "member session expired");
    this.removeMember(g, memberId, "session expired");
  }

  private expirePending(g: Group, memberId: string): void {
    if (!g.pendingMembers.delete(memberId)) return;
    this.maybeCompleteJoin(g);
    this.dropIfUnused(g);
  }

  /** Takes a member out without touching the group's state; its waiting requests learn it is unknown now. */
  private dropMember(g: Group, m: Member): void {
    this.clock.clearTimeout(m.sessionTimer);
    m.sessionTimer = null;
    g.members.delete(m.memberId);
    g.pendingSync.delete(m.memberId);
    if (m.groupInstanceId !== null && g.staticMembers.get(m.groupInstanceId) === m.memberId) g.staticMembers.delete(m.groupInstanceId);
    this.answerWaiters(m, ErrorCode.UNKNOWN_MEMBER_ID);
  }

  private removeMember(g: Group, memberId: string, reason: string): void {
    const m = g.members.get(memberId);
    if (!m) return;
    this.dropMember(g, m);
    if (g.leaderId === memberId) g.leaderId = null;
    if (g.state === "Stable" || g.state === "CompletingRebalance") this.prepareRebalance(g, reason);
    else if (g.state === "PreparingRebalance") this.maybeCompleteJoin(g);
  }

  private answerWaiters(m: Member, errorCode: number): void {
    this.answerJoin(m, joinError(errorCode, m.memberId));
    this.answerSync(m, syncError(errorCode));
  }

  private answerJoin(m: Member, result: JoinResult): void {
    const waiter = m.joinWaiter;
    m.joinWaiter = null;
    waiter?.(result);
  }

  private answerSync(m: Member, result: SyncResult): void {
    const waiter = m.syncWaiter;
    m.syncWaiter = null;
    waiter?.(result);
  }

  /** Topics the group's consumers subscribe to, from their ConsumerProtocolSubscription; "all" if unknowable. */
  private subscribedTopics(g: Group): Set<string> | "all" {
    if (g.members.size === 0) return new Set();
    if (g.protocolType !== "consumer") return "all";
    const topics = new Set<string>();
    for (const m of g.members.values()) {
      const meta = m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? m.protocols[0]?.metadata;
      if (!meta) return "all";
      try {
        const r = new Reader(meta);
        const version = r.int16();
        const sub = ConsumerProtocolSubscription.decode(r, Math.min(version, ConsumerProtocolSubscription.maxVersion));
        for (const t of sub.topics) topics.add(t);
      } catch {
        return "all";
      }
    }
    return topics;
  }
}

function joinError(errorCode: number, memberId: string): JoinResult {
  return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: "", skipAssignment: false, memberId, members: [] };
}

function sameProtocols(a: { name: string; metadata: Buffer }[], b: { name: string; metadata: Buffer }[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata));
}
