/**
 * Incremental fetch sessions (KIP-227). A consumer that fetches many partitions sends the
 * full list once; afterwards it sends only what changed and the broker answers only for
 * partitions with news (data, a new high watermark or log start offset, or an error).
 * Sessions are bounded in number; the least recently used one is evicted, and its owner
 * gets FETCH_SESSION_ID_NOT_FOUND and starts a new one, as the protocol intends.
 */
export interface SessionPartition {
  /** topic id, or `name:<topic>` for a name that did not resolve (kept so errors repeat). */
  readonly key: string;
  readonly topicName: string;
  readonly topicId: string;
  readonly partition: number;
  fetchOffset: bigint;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
  /** What the client was last told: an incremental response omits unchanged partitions. */
  sentHighWatermark: bigint;
  sentLogStartOffset: bigint;
}

export interface FetchSession {
  readonly id: number;
  /** The epoch the next request must carry. */
  nextEpoch: number;
  readonly partitions: Map<string, SessionPartition>;
  lastUsedMs: number;
}

export const FINAL_EPOCH = -1;
export const INITIAL_EPOCH = 0;

export function partitionKey(topicKey: string, partition: number): string {
  return `${topicKey}/${partition}`;
}

export class FetchSessionCache {
  private readonly sessions = new Map<number, FetchSession>();
  private nextId = 1;

  constructor(private readonly sessionsMax = 1000, private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.sessions.size;
  }

  create(): FetchSession {
    if (this.sessions.size >= this.sessionsMax) {
      let oldest: FetchSession | undefined;
      for (const s of this.sessions.values()) if (!oldest || s.lastUsedMs < oldest.lastUsedMs) oldest = s;
      if (oldest) this.sessions.delete(oldest.id);
    }
    let id = this.nextId;
    while (this.sessions.has(id) || id === 0) id = (id % 0x7fffffff) + 1;
    this.nextId = (id % 0x7fffffff) + 1;
    const session: FetchSession = { id, nextEpoch: 1, partitions: new Map(), lastUsedMs: this.now() };
    this.sessions.set(id, session);
    return session;
  }

  get(id: number): FetchSession | undefined {
    const s = this.sessions.get(id);
    if (s) s.lastUsedMs = this.now();
    return s;
  }

  remove(id: number): void {
    this.sessions.delete(id);
  }
}
