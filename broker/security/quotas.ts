import { ErrorCode } from "../protocol/errors.js";

/**
 * Client quotas (Kafka's `kafka-configs --entity-type users|clients`): byte rates per user,
 * per client id, or per both, with defaults, kept as records in the metadata log and
 * enforced by each broker on its own traffic, as Kafka does.
 *
 * An entity names a user, a client id, or both; a component given with a null name is the
 * default for that type (`<default>` in Kafka's tools). For a connection, the quota that
 * applies is the first entity defining the key in Kafka's order:
 *
 *   user+client, user+default client, user, default user+client,
 *   default user+default client, default user, client, default client
 *
 * and the rate is shared by everything that entity covers: a user quota by all that user's
 * clients, a default-user quota by each user separately.
 */

/** The keys Floe enforces. Others Kafka knows (request_percentage, ...) are refused, not silently ignored. */
export const QUOTA_KEYS = ["producer_byte_rate", "consumer_byte_rate"] as const;
export type QuotaKey = (typeof QUOTA_KEYS)[number];

export const ENTITY_USER = "user";
export const ENTITY_CLIENT_ID = "client-id";

/** `undefined`: the entity has no such component; `null`: the default for that type. */
export interface QuotaEntity {
  user?: string | null;
  clientId?: string | null;
}

export type QuotaRecord = { type: "client-quotas-altered"; entity: QuotaEntity; set: Record<string, number>; removed: string[] };

export interface EntityComponent {
  entityType: string;
  entityName: string | null;
}

export interface QuotaError {
  errorCode: number;
  message: string;
}

const entityKey = (e: QuotaEntity) => JSON.stringify([e.user === undefined ? 0 : e.user === null ? 1 : `u:${e.user}`, e.clientId === undefined ? 0 : e.clientId === null ? 1 : `c:${e.clientId}`]);

/** The entity a request names, or why it is not one Floe can hold. */
export function entityOf(components: readonly EntityComponent[]): QuotaEntity | QuotaError {
  const entity: QuotaEntity = {};
  if (components.length === 0) return { errorCode: ErrorCode.INVALID_REQUEST, message: "a quota entity needs at least one component" };
  for (const c of components) {
    if (c.entityName === "") return { errorCode: ErrorCode.INVALID_REQUEST, message: `${c.entityType} name must not be empty (null names the default)` };
    if (c.entityType === ENTITY_USER) {
      if (entity.user !== undefined) return { errorCode: ErrorCode.INVALID_REQUEST, message: "entity type user given twice" };
      entity.user = c.entityName;
    } else if (c.entityType === ENTITY_CLIENT_ID) {
      if (entity.clientId !== undefined) return { errorCode: ErrorCode.INVALID_REQUEST, message: "entity type client-id given twice" };
      entity.clientId = c.entityName;
    } else {
      return { errorCode: ErrorCode.INVALID_REQUEST, message: `entity type ${c.entityType} is not supported (Floe keeps user and client-id quotas)` };
    }
  }
  return entity;
}

export function componentsOf(e: QuotaEntity): EntityComponent[] {
  const out: EntityComponent[] = [];
  if (e.user !== undefined) out.push({ entityType: ENTITY_USER, entityName: e.user });
  if (e.clientId !== undefined) out.push({ entityType: ENTITY_CLIENT_ID, entityName: e.clientId });
  return out;
}

/** Why `value` cannot be set for `key`, or null. Byte rates are whole bytes per second, as Kafka's LONG configs. */
export function quotaValueProblem(key: string, value: number): string | null {
  if (!(QUOTA_KEYS as readonly string[]).includes(key)) return `quota key ${key} is not supported (Floe enforces ${QUOTA_KEYS.join(", ")})`;
  if (!Number.isInteger(value) || value < 1) return `${key} must be a whole number of bytes per second, at least 1; got ${value}`;
  return null;
}

export interface DescribeComponent {
  entityType: string;
  /** 0: exact name, 1: the default, 2: any name (default included). */
  matchType: number;
  match: string | null;
}

export class QuotaStore {
  private readonly entries = new Map<string, { entity: QuotaEntity; values: Map<string, number> }>();

  apply(r: QuotaRecord): void {
    const k = entityKey(r.entity);
    const values = new Map(this.entries.get(k)?.values ?? []);
    for (const key of r.removed) values.delete(key);
    for (const [key, v] of Object.entries(r.set)) values.set(key, v);
    if (values.size === 0) this.entries.delete(k);
    else this.entries.set(k, { entity: r.entity, values });
  }

  get(entity: QuotaEntity): ReadonlyMap<string, number> {
    return this.entries.get(entityKey(entity))?.values ?? new Map();
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The quota `key` that applies to `user` using `clientId`, and the name of the meter it is
   * counted on (everything that entity covers shares it); null when no entity sets it.
   */
  quotaFor(user: string, clientId: string, key: QuotaKey): { limit: number; meter: string } | null {
    if (this.entries.size === 0) return null;
    const order: [QuotaEntity, QuotaEntity][] = [
      [{ user, clientId }, { user, clientId }],
      [{ user, clientId: null }, { user, clientId }],
      [{ user }, { user }],
      [{ user: null, clientId }, { user, clientId }],
      [{ user: null, clientId: null }, { user, clientId }],
      [{ user: null }, { user }],
      [{ clientId }, { clientId }],
      [{ clientId: null }, { clientId }],
    ];
    for (const [entity, metered] of order) {
      const limit = this.entries.get(entityKey(entity))?.values.get(key);
      if (limit !== undefined) return { limit, meter: `${key}:${entityKey(metered)}` };
    }
    return null;
  }

  /** DescribeClientQuotas: the entities the filter matches, with their values. */
  describe(filter: readonly DescribeComponent[], strict: boolean): { entity: QuotaEntity; values: ReadonlyMap<string, number> }[] | QuotaError {
    const types = new Set<string>();
    for (const c of filter) {
      if (c.entityType !== ENTITY_USER && c.entityType !== ENTITY_CLIENT_ID) return { errorCode: ErrorCode.INVALID_REQUEST, message: `entity type ${c.entityType} is not supported (user, client-id)` };
      if (types.has(c.entityType)) return { errorCode: ErrorCode.INVALID_REQUEST, message: `entity type ${c.entityType} is filtered twice` };
      if (c.matchType < 0 || c.matchType > 2) return { errorCode: ErrorCode.INVALID_REQUEST, message: `match type ${c.matchType} is unknown (0 exact, 1 default, 2 any)` };
      if (c.matchType === 0 && c.match === null) return { errorCode: ErrorCode.INVALID_REQUEST, message: `an exact match on ${c.entityType} needs a name` };
      types.add(c.entityType);
    }
    const nameOf = (e: QuotaEntity, type: string) => (type === ENTITY_USER ? e.user : e.clientId);
    return [...this.entries.values()].filter(({ entity }) => {
      for (const c of filter) {
        const name = nameOf(entity, c.entityType);
        if (name === undefined) return false;
        if (c.matchType === 0 && name !== c.match) return false;
        if (c.matchType === 1 && name !== null) return false;
      }
      if (strict && componentsOf(entity).some((c) => !types.has(c.entityType))) return false;
      return true;
    });
  }
}

/**
 * Byte-rate meters with Kafka's windowed rate: `samples` buckets of `sampleMs`; the rate is
 * the bytes in the retained buckets over the time they span (at least all but one bucket,
 * so a burst at start-up is not measured over a few milliseconds). Once a meter is over its
 * limit, the client is throttled for as long as it takes the rate to fall back to it:
 * (rate - limit) / limit × window, at most the whole window.
 */
export class QuotaMeters {
  private readonly meters = new Map<string, { bucketStart: number[]; bytes: number[] }>();
  private recorded = 0;

  constructor(
    readonly samples = 11,
    readonly sampleMs = 1000,
  ) {}

  /** Counts `bytes` on `meter`; returns the throttle time in ms (0 while within `limit`). */
  record(meter: string, bytes: number, limit: number, nowMs: number): number {
    if (++this.recorded % 1000 === 0) this.evictIdle(nowMs);
    let m = this.meters.get(meter);
    if (!m) this.meters.set(meter, (m = { bucketStart: [], bytes: [] }));
    const start = nowMs - (nowMs % this.sampleMs);
    if (m.bucketStart[m.bucketStart.length - 1] !== start) {
      m.bucketStart.push(start);
      m.bytes.push(0);
    }
    m.bytes[m.bytes.length - 1]! += bytes;
    const oldest = start - (this.samples - 1) * this.sampleMs;
    while (m.bucketStart.length > 0 && m.bucketStart[0]! < oldest) {
      m.bucketStart.shift();
      m.bytes.shift();
    }
    const windowMs = Math.max(nowMs - m.bucketStart[0]!, (this.samples - 1) * this.sampleMs);
    const rate = (m.bytes.reduce((a, b) => a + b, 0) * 1000) / windowMs;
    if (rate <= limit) return 0;
    return Math.min(Math.round(((rate - limit) / limit) * windowMs), this.samples * this.sampleMs);
  }

  get size(): number {
    return this.meters.size;
  }

  private evictIdle(nowMs: number): void {
    const idleBefore = nowMs - this.samples * this.sampleMs;
    for (const [k, m] of this.meters) if (m.bucketStart[m.bucketStart.length - 1]! < idleBefore) this.meters.delete(k);
  }
}
