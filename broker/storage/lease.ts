import { systemClock, type Clock } from "./clock.js";
import { PreconditionFailedError, type ObjectStore } from "./object-store.js";

/**
 * A lease object (controller election) updated only by compare-ETag writes, so two
 * contenders can never both believe they took the same version.
 *
 * Body: `{"holder","expiresAtMs","generation"}`. `generation` goes up each time the holder
 * changes: a fencing token for whatever the holder does next. Expiry uses the caller's
 * clock, so a holder must stop acting well before `expiresAtMs` (clock skew); the metadata
 * log's create-if-absent entries remain the real fence.
 */
export interface LeaseState {
  holder: string;
  expiresAtMs: number;
  generation: number;
}

export interface LeaseResult extends LeaseState {
  acquired: boolean;
  /** ETag of the lease object as this call left or found it. */
  etag: string | null;
}

/** Takes the lease if it is free, expired or already ours (renewal); otherwise reports who holds it. */
export async function acquireLease(store: ObjectStore, key: string, holder: string, ttlMs: number, clock: Clock = systemClock): Promise<LeaseResult> {
  if (!(ttlMs > 0)) throw new Error(`lease ttlMs must be positive, got ${ttlMs}`);
  const now = clock.nowMs();
  const current = await store.get(key);
  if (!current) {
    const next: LeaseState = { holder, expiresAtMs: now + ttlMs, generation: 1 };
    try {
      const { etag } = await store.put(key, encode(next), { ifNoneMatch: "*" });
      return { ...next, acquired: true, etag };
    } catch (err) {
      if (err instanceof PreconditionFailedError) return lost(store, key);
      throw err;
    }
  }
  const state = decode(current.body, key);
  if (state.holder !== holder && state.expiresAtMs > now) return { ...state, acquired: false, etag: current.etag };
  const next: LeaseState = { holder, expiresAtMs: now + ttlMs, generation: state.holder === holder ? state.generation : state.generation + 1 };
  try {
    const { etag } = await store.put(key, encode(next), { ifMatch: current.etag });
    return { ...next, acquired: true, etag };
  } catch (err) {
    if (err instanceof PreconditionFailedError) return lost(store, key);
    throw err;
  }
}

/** The lease as stored now, or null when nobody ever took it (readers find the holder this way). */
export async function readLease(store: ObjectStore, key: string): Promise<LeaseState | null> {
  const current = await store.get(key);
  return current ? decode(current.body, key) : null;
}

/** Gives the lease up early if we still hold it; returns whether we did. */
export async function releaseLease(store: ObjectStore, key: string, holder: string): Promise<boolean> {
  const current = await store.get(key);
  if (!current) return false;
  const state = decode(current.body, key);
  if (state.holder !== holder) return false;
  try {
    await store.put(key, encode({ ...state, expiresAtMs: 0 }), { ifMatch: current.etag });
    return true;
  } catch (err) {
    if (err instanceof PreconditionFailedError) return false;
    throw err;
  }
}

async function lost(store: ObjectStore, key: string): Promise<LeaseResult> {
  const now = await store.get(key);
  if (!now) return { holder: "", expiresAtMs: 0, generation: 0, acquired: false, etag: null };
  return { ...decode(now.body, key), acquired: false, etag: now.etag };
}

function encode(s: LeaseState): Buffer {
  return Buffer.from(JSON.stringify(s));
}

function decode(body: Buffer, key: string): LeaseState {
  const s = JSON.parse(body.toString("utf8")) as LeaseState;
  if (typeof s.holder !== "string" || typeof s.expiresAtMs !== "number" || typeof s.generation !== "number") throw new Error(`lease ${key} has an invalid body`);
  return s;
}
