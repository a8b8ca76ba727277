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
 * with the member list. SyncGroup answers every member once the leader sent assignments.
 * Every pending join or sync is always answered: by the rebalance, an error, or close().
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
  readonly memberId: string;
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
}

const NO_BUFFER = Buffer.alloc(0);
const offsetKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export interface GroupCoordinatorOptions {
  offsetStore: OffsetStore;
  clock?: Clock;
  groupMinSessionTimeoutMs?: number;
  groupMaxSessionTimeoutMs?: number;
  initialRebalanceDelayMs?: number;
  groupMaxSize?: number;
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
  private readonly log: GroupLogger | undefined;
  private closed = false;

  constructor(opts: GroupCoordinatorOptions) {
    this.store = opts.offsetStore;
    this.clock = opts.clock ?? systemClock;
    this.minSessionMs = opts.groupMinSessionTimeoutMs ?? 6000;
    this.maxSessionMs = opts.groupMaxSessionTimeoutMs ?? 1_800_000;
    this.initialDelayMs = opts.initialRebalanceDelayMs ?? 3000;
    this.maxSize = opts.groupMaxSize ?? 10_000;
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
    this.groups.delete(groupId);
  }

  // ---- membership ----

  joinGroup(req: JoinRequest): Promise<JoinResult> {
    const fail = (errorCode: number, memberId = req.memberId): Promise<JoinResult> =>
      Promise.resolve({ errorCode, generationId: -1, protocolType: null, protocolName: null, leader: "", skipAssignment: false, memberId, members: [] });
    if (this.closed) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (req.sessionTimeoutMs < this.minSessionMs || req.sessionTimeoutMs > this.maxSessionMs) return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
    if (!req.protocolType || req.protocols.length === 0) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const existing = this.groups.get(req.groupId);
    if (!existing && req.memberId !== "") return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    const g = existing ?? this.groupOrCreate(req.groupId);
    if (g.state === "Dead") return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (!this.protocolsCompatible(g, req)) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);

    if (req.memberId === "") {
      if (req.groupInstanceId !== null) return this.joinStatic(g, req);
      if (g.members.size + g.pendingMembers.size >= this.maxSize) return fail(ErrorCode.GROUP_MAX_SIZE_REACHED);
      const memberId = `${req.clientId}-${randomUUID()}`;
      if (req.requireKnownMemberId) {
        // KIP-394: the member must come back with this id; until then it only reserves a slot.
        g.pendingMembers.set(memberId, this.clock.setTimeout(() => this.expirePending(g, memberId), req.sessionTimeoutMs));
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
    const fail = (errorCode: number): Promise<SyncResult> => Promise.resolve({ errorCode, protocolType: null, protocolName: null, assignment: NO_BUFFER });
    if (this.closed) return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    const g = this.groups.get(req.groupId);
    if (!g || g.state === "Dead") return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    if (this.fenced(g, req.memberId, req.groupInstanceId)) return fail(ErrorCode.FENCED_INSTANCE_ID);
    const member = g.members.get(req.memberId);
    if (!member) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    if (req.generationId !== g.generationId) return fail(ErrorCode.ILLEGAL_GENERATION);
    if ((req.protocolType !== null && req.protocolType !== g.protocolType) || (req.protocolName !== null && req.protocolName !== g.protocolName)) {
      return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    this.touchSession(g, member);
    const ok = (assignment: Buffer): SyncResult => ({ errorCode: ErrorCode.NONE, protocolType: g.protocolType, protocolName: g.protocolName, assignment });
    switch (g.state) {
      case "PreparingRebalance":
        return fail(ErrorCode.REBALANCE_IN_PROGRESS);
      case "Stable":
        return Promise.resolve(ok(member.assignment));
      case "CompletingRebalance": {
        const answer = new Promise<SyncResult>((resolve) => {
          member.syncWaiter?.({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, protocolType: null, protocolName: null, assignment: NO_BUFFER });
          member.syncWaiter = resolve;
        });
        if (req.memberId === g.leaderId) {
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
    return g.state === "PreparingRebalance" ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  leaveGroup(groupId: string, leaving: { memberId: string; groupInstanceId: string | null; reason?: string | null }[]): Promise<{ errorCode: number; members: { memberId: string; groupInstanceId: string | null; errorCode: number }[] }> {
    if (this.closed) return Promise.resolve({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] });
    const g = this.groups.get(groupId);
    const results = leaving.map((l) => {
      if (!g || g.state === "Dead") return { ...l, errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
      let memberId = l.memberId;
      if (l.groupInstanceId !== null) {
        const current = g.staticMembers.get(l.groupInstanceId);
        if (current === undefined) return { memberId, groupInstanceId: l.groupInstanceId, errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
        if (memberId !== "" && memberId !== current) return { memberId, groupInstanceId: l.groupInstanceId, errorCode: ErrorCode.FENCED_INSTANCE_ID };
        memberId = current;
      }
      if (g.pendingMembers.has(memberId)) {
        this.clock.clearTimeout(g.pendingMembers.get(memberId));
        g.pendingMembers.delete(memberId);
        this.maybeCompleteJoin(g);
        return { memberId, groupInstanceId: l.groupInstanceId, errorCode: ErrorCode.NONE };
      }
      if (!g.members.has(memberId)) return { memberId, groupInstanceId: l.groupInstanceId, errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
      this.log?.info({ group: groupId, member: memberId, reason: l.reason ?? null }, "member left group");
      this.removeMember(g, memberId, "member left");
      return { memberId, groupInstanceId: l.groupInstanceId, errorCode: ErrorCode.NONE };
    });
    return Promise.resolve({ errorCode: ErrorCode.NONE, members: results });
  }

  // ---- offsets ----

  async commitOffsets(req: {
    groupId: string;
    generationId: number;
    memberId: string;
    groupInstanceId: string | null;
    topics: { name: string; partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: string | null }[] }[];
  }): Promise<{ topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[] }> {
    const answer = (errorCode: number) => ({ topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })) })) });
    if (this.closed) return answer(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    let g = this.groups.get(req.groupId);
    if (g?.state === "Dead") return answer(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    const simple = req.generationId < 0 && req.memberId === "";
    if (!g || g.members.size === 0) {
      // Commits outside a generation (admin tools, manual assignment) are allowed while no member is in the group.
      if (!simple) return answer(g ? ErrorCode.UNKNOWN_MEMBER_ID : ErrorCode.ILLEGAL_GENERATION);
    } else {
      if (simple) return answer(ErrorCode.UNKNOWN_MEMBER_ID);
      if (this.fenced(g, req.memberId, req.groupInstanceId)) return answer(ErrorCode.FENCED_INSTANCE_ID);
      const member = g.members.get(req.memberId);
      if (!member) return answer(ErrorCode.UNKNOWN_MEMBER_ID);
      if (req.generationId !== g.generationId) return answer(ErrorCode.ILLEGAL_GENERATION);
      if (g.state === "CompletingRebalance") return answer(ErrorCode.REBALANCE_IN_PROGRESS);
      this.touchSession(g, member);
    }
    const now = this.clock.now();
    const commits: OffsetCommit[] = req.topics.flatMap((t) =>
      t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch, metadata: p.committedMetadata, commitTimestampMs: now })),
    );
    try {
      await this.store.persist(req.groupId, commits);
    } catch (err) {
      this.log?.warn({ group: req.groupId, err }, "offset commit could not be made durable");
      return answer(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }
    g = this.groupOrCreate(req.groupId);
    for (const c of commits) g.offsets.set(offsetKey(c.topic, c.partition), { offset: c.offset, leaderEpoch: c.leaderEpoch, metadata: c.metadata, commitTimestampMs: c.commitTimestampMs });
    return answer(ErrorCode.NONE);
  }

  fetchOffsets(
    groupId: string,
    topics: { name: string; partitionIndexes: number[] }[] | null,
  ): { errorCode: number; topics: { name: string; partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; metadata: string | null; errorCode: number }[] }[] } {
    if (this.closed) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, topics: [] };
    const g = this.groups.get(groupId);
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
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), Number(partition)]);
    }
    return {
      errorCode: ErrorCode.NONE,
      topics: [...byTopic].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, parts]) => ({ name, partitions: parts.sort((a, b) => a - b).map((p) => entry(name, p)) })),
    };
  }

  async deleteOffsets(groupId: string, topics: { name: string; partitionIndexes: number[] }[]): Promise<{ errorCode: number; topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[] }> {
    const g = this.groups.get(groupId);
    if (!g || g.state === "Dead") return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, topics: [] };
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

  describeGroup(groupId: string): DescribedGroup | null {
    const g = this.groups.get(groupId);
    if (!g) return null;
    const settled = g.state === "Stable" || g.state === "CompletingRebalance";
    return {
      groupState: g.state,
      protocolType: g.protocolType ?? "",
      protocolData: settled ? (g.protocolName ?? "") : "",
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: settled ? (m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? NO_BUFFER) : NO_BUFFER,
        memberAssignment: g.state === "Stable" ? m.assignment : NO_BUFFER,
      })),
    };
  }

  listGroups(): { groupId: string; protocolType: string; groupState: GroupState }[] {
    return [...this.groups.values()].filter((g) => g.state !== "Dead").map((g) => ({ groupId: g.groupId, protocolType: g.protocolType ?? "", groupState: g.state }));
  }

  async deleteGroups(ids: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const id of ids) {
      const g = this.groups.get(id);
      if (!g || g.state === "Dead") out.set(id, ErrorCode.GROUP_ID_NOT_FOUND);
      else if (g.members.size > 0 || g.pendingMembers.size > 0) out.set(id, ErrorCode.NON_EMPTY_GROUP);
      else {
        try {
          await this.store.persistGroupDeleted(id);
          g.state = "Dead";
          this.groups.delete(id);
          out.set(id, ErrorCode.NONE);
        } catch (err) {
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
    for (const g of this.groups.values()) {
      this.clock.clearTimeout(g.rebalanceTimer);
      if (g.initialDelay) this.clock.clearTimeout(g.initialDelay.timer);
      for (const t of g.pendingMembers.values()) this.clock.clearTimeout(t);
      g.pendingMembers.clear();
      for (const m of g.members.values()) {
        this.clock.clearTimeout(m.sessionTimer);
        this.answerJoin(m, this.joinError(ErrorCode.NOT_COORDINATOR, m.memberId));
        const sync = m.syncWaiter;
        m.syncWaiter = null;
        sync?.({ errorCode: ErrorCode.NOT_COORDINATOR, protocolType: null, protocolName: null, assignment: NO_BUFFER });
      }
    }
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
      };
      this.groups.set(groupId, g);
    }
    return g;
  }

  /** An empty group with no committed offsets is forgotten, as Kafka does. */
  private dropIfUnused(g: Group): void {
    if (g.state === "Empty" && g.members.size === 0 && g.pendingMembers.size === 0 && g.offsets.size === 0) this.groups.delete(g.groupId);
  }

  private protocolsCompatible(g: Group, req: JoinRequest): boolean {
    if (g.members.size === 0) return true;
    if (g.protocolType !== null && req.protocolType !== g.protocolType) return false;
    const names = new Set(req.protocols.map((p) => p.name));
    for (const m of g.members.values()) {
      if (m.memberId === req.memberId) continue;
      if (!m.protocols.some((p) => names.has(p.name))) return false;
    }
    return true;
  }

  private fenced(g: Group, memberId: string, groupInstanceId: string | null): boolean {
    if (groupInstanceId === null) return false;
    const current = g.staticMembers.get(groupInstanceId);
    return current !== undefined && current !== memberId;
  }

  private joinStatic(g: Group, req: JoinRequest): Promise<JoinResult> {
    const instanceId = req.groupInstanceId!;
    const oldId = g.staticMembers.get(instanceId);
    const memberId = `${instanceId}-${randomUUID()}`;
    if (oldId !== undefined && g.members.has(oldId)) {
      // The instance restarted: the new member id replaces the old one, whose requests are fenced.
      const old = g.members.get(oldId)!;
      this.clock.clearTimeout(old.sessionTimer);
      g.members.delete(oldId);
      this.answerJoin(old, this.joinError(ErrorCode.FENCED_INSTANCE_ID, oldId));
      const sync = old.syncWaiter;
      old.syncWaiter = null;
      sync?.({ errorCode: ErrorCode.FENCED_INSTANCE_ID, protocolType: null, protocolName: null, assignment: NO_BUFFER });
      if (g.leaderId === oldId) g.leaderId = memberId;
      this.log?.info({ group: g.groupId, instance: instanceId, oldMember: oldId, member: memberId }, "static member replaced");
    }
    if (g.members.size + g.pendingMembers.size >= this.maxSize) return Promise.resolve(this.joinError(ErrorCode.GROUP_MAX_SIZE_REACHED, ""));
    return this.addMemberAndRebalance(g, memberId, req);
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
    const answer = new Promise<JoinResult>((resolve) => (member.joinWaiter = resolve));
    g.members.set(memberId, member);
    if (req.groupInstanceId !== null) g.staticMembers.set(req.groupInstanceId, memberId);
    if (g.protocolType === null) g.protocolType = req.protocolType;
    if (g.leaderId === null) g.leaderId = memberId;
    this.log?.debug({ group: g.groupId, member: memberId }, "member joined");
    this.prepareRebalance(g, `member ${memberId} joined`);
    return answer;
  }

  private rejoin(g: Group, member: Member, req: JoinRequest): Promise<JoinResult> {
    const changed = !sameProtocols(member.protocols, req.protocols);
    member.protocols = req.protocols;
    member.sessionTimeoutMs = req.sessionTimeoutMs;
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    member.clientId = req.clientId;
    member.clientHost = req.clientHost;
    const settled = g.state === "Stable" || g.state === "CompletingRebalance";
    if (settled && !changed && !(g.state === "Stable" && member.memberId === g.leaderId)) {
      // Nothing new: answer with the current generation instead of forcing a rebalance.
      this.touchSession(g, member);
      return Promise.resolve(this.joinResultFor(g, member));
    }
    const answer = new Promise<JoinResult>((resolve) => {
      this.answerJoin(member, this.joinError(ErrorCode.REBALANCE_IN_PROGRESS, member.memberId));
      member.joinWaiter = resolve;
    });
    if (g.state === "PreparingRebalance") this.maybeCompleteJoin(g);
    else this.prepareRebalance(g, `member ${member.memberId} rejoined`);
    return answer;
  }

  private prepareRebalance(g: Group, reason: string): void {
    if (g.state === "CompletingRebalance") {
      for (const m of g.members.values()) {
        const sync = m.syncWaiter;
        m.syncWaiter = null;
        sync?.({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, protocolType: null, protocolName: null, assignment: NO_BUFFER });
      }
    }
    const wasEmpty = g.state === "Empty";
    if (g.state !== "PreparingRebalance") {
      g.state = "PreparingRebalance";
      this.log?.info({ group: g.groupId, reason }, "rebalance started");
    }
    const rebalanceMs = Math.max(0, ...[...g.members.values()].map((m) => m.rebalanceTimeoutMs));
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
    if (g.state !== "PreparingRebalance" || this.closed) return;
    this.clock.clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = null;
    // Members that did not rejoin in time are out.
    for (const m of [...g.members.values()]) if (!m.joinWaiter) this.dropMember(g, m);
    g.generationId++;
    if (g.members.size === 0) {
      g.state = "Empty";
      g.protocolName = null;
      g.protocolType = null;
      g.leaderId = null;
      // Kept while Empty (describable, deletable) even without offsets, as Kafka does.
      this.log?.info({ group: g.groupId, generation: g.generationId }, "group empty");
      return;
    }
    g.protocolName = this.selectProtocol(g);
    if (g.leaderId === null || !g.members.has(g.leaderId)) g.leaderId = g.members.keys().next().value!;
    g.state = "CompletingRebalance";
    for (const m of g.members.values()) {
      m.assignment = NO_BUFFER;
      this.answerJoin(m, this.joinResultFor(g, m));
      this.touchSession(g, m);
    }
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
      members: isLeader
        ? [...g.members.values()].map((x) => ({ memberId: x.memberId, groupInstanceId: x.groupInstanceId, metadata: x.protocols.find((p) => p.name === g.protocolName)?.metadata ?? NO_BUFFER }))
        : [],
    };
  }

  /** The protocol every member supports that most members prefer (first choice of each member votes). */
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
    m.sessionTimer = this.clock.setTimeout(() => this.expireMember(g, m.memberId), m.sessionTimeoutMs);
  }

  private expireMember(g: Group, memberId: string): void {
    const m = g.members.get(memberId);
    if (!m || this.groups.get(g.groupId) !== g) return;
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

  private dropMember(g: Group, m: Member): void {
    this.clock.clearTimeout(m.sessionTimer);
    g.members.delete(m.memberId);
    if (m.groupInstanceId !== null && g.staticMembers.get(m.groupInstanceId) === m.memberId) g.staticMembers.delete(m.groupInstanceId);
    this.answerJoin(m, this.joinError(ErrorCode.UNKNOWN_MEMBER_ID, m.memberId));
    const sync = m.syncWaiter;
    m.syncWaiter = null;
    sync?.({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, protocolType: null, protocolName: null, assignment: NO_BUFFER });
  }

  private removeMember(g: Group, memberId: string, reason: string): void {
    const m = g.members.get(memberId);
    if (!m) return;
    this.dropMember(g, m);
    if (g.leaderId === memberId) g.leaderId = null;
    if (g.state === "Stable" || g.state === "CompletingRebalance") this.prepareRebalance(g, reason);
    else if (g.state === "PreparingRebalance") this.maybeCompleteJoin(g);
  }

  private answerJoin(m: Member, result: JoinResult): void {
    const waiter = m.joinWaiter;
    m.joinWaiter = null;
    waiter?.(result);
  }

  private joinError(errorCode: number, memberId: string): JoinResult {
    return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: "", skipAssignment: false, memberId, members: [] };
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

function sameProtocols(a: { name: string; metadata: Buffer }[], b: { name: string; metadata: Buffer }[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && p.metadata.equals(b[i]!.metadata));
}
