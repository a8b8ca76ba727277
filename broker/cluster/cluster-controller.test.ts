import { describe, expect, it } from "vitest";
import { ManualClock } from "../storage/clock.js";
import { MemoryObjectStore } from "../storage/memory-object-store.js";
import { MetadataLog } from "../storage/metadata-log.js";
import { ClusterController, ControllerDeposedError, followClusterRecords } from "./cluster-controller.js";
import { ClusterState, type WalKind } from "./cluster-state.js";
import type { BrokerRegistration } from "./membership.js";

const SESSION_MS = 6000;
const PARTITIONS = Array.from({ length: 12 }, (_, p) => ({ topicId: "orders", partition: p }));
const reg = (id: number, walType: WalKind = "s3", incarnationId = `run-1-${id}`): BrokerRegistration => ({ id, incarnationId, zone: `zone-${id % 3}`, listeners: [{ name: "PLAINTEXT", host: "127.0.0.1", port: 9000 + id }], walType });

/** A broker's view: its own metadata log reader and cluster state, following the shared store. */
async function view(store: MemoryObjectStore) {
  const log = await MetadataLog.open({ store });
  const state = new ClusterState();
  followClusterRecords(log, state);
  return { log, state };
}

/** What live leaders were asked to give up, and whether they agree (the broker side: stop writes, upload). */
const releases: { broker: number; partitions: number }[] = [];
let releaseAgrees = true;

async function controllerOn(store: MemoryObjectStore, clock: ManualClock, generation: number) {
  const { log, state } = await view(store);
  const release = async (broker: number, partitions: unknown[]) => (releases.push({ broker, partitions: partitions.length }), releaseAgrees);
  const c = new ClusterController({ log, state, clock, generation, holder: `controller-${generation}`, sessionTimeoutMs: SESSION_MS, partitions: () => PARTITIONS, release });
  await c.start();
  return { c, log, state };
}

function leaders(state: ClusterState) {
  return PARTITIONS.map((p) => state.leaderOf(p.topicId, p.partition));
}

function counts(state: ClusterState): Record<number, number> {
  const out: Record<number, number> = {};
  for (const l of leaders(state)) if (l) out[l.leader] = (out[l.leader] ?? 0) + 1;
  return out;
}

describe("ClusterController", () => {
  it("moves a live leader's partitions only after it released them; a refusal leaves them where they are", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const { c, state } = await controllerOn(store, clock, 1);
    await c.register(reg(1));
    releases.length = 0;
    releaseAgrees = false;
    await c.register(reg(2));
    expect(releases).toEqual([{ broker: 1, partitions: 6 }]);
    expect(counts(state)).toEqual({ 1: 12 });
    releaseAgrees = true;
    await c.tick();
    expect(counts(state)).toEqual({ 1: 6, 2: 6 });
  });

  it("answers a broker's registration call before the rebalance it causes, which waits for slow releases", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const { log, state } = await view(store);
    let finishRelease: (ok: boolean) => void = () => undefined;
    const release = () => new Promise<boolean>((r) => (finishRelease = r));
    const c = new ClusterController({ log, state, clock, generation: 1, holder: "controller-1", sessionTimeoutMs: SESSION_MS, partitions: () => PARTITIONS, release });
    await c.start();
    await c.register(reg(1));
    // Broker 2's call returns with its epoch while broker 1 is still uploading its WAL for the release.
    const answer = await c.api().register(reg(2));
    expect(answer.brokerEpoch).toBeGreaterThan(0);
    expect(state.broker(2)?.brokerEpoch).toBe(answer.brokerEpoch);
    expect(counts(state)).toEqual({ 1: 12 });
    finishRelease(true);
    await c.rebalance();
    expect(counts(state)).toEqual({ 1: 6, 2: 6 });
  });

  it("spreads partitions as brokers register, and every broker that follows the log sees the same leaders", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const { c, state } = await controllerOn(store, clock, 1);
    await c.register(reg(1));
    expect(counts(state)).toEqual({ 1: 12 });
    await c.register(reg(2));
    await c.register(reg(3));
    expect(counts(state)).toEqual({ 1: 4, 2: 4, 3: 4 });
    // Every move bumps the epoch; partitions that never left broker 1 kept epoch 0.
    expect(leaders(state).filter((l) => l!.leader === 1).every((l) => l!.leaderEpoch === 0)).toBe(true);
    expect(leaders(state).filter((l) => l!.leader !== 1).every((l) => l!.leaderEpoch >= 1)).toBe(true);
    const follower = await view(store);
    expect(leaders(follower.state)).toEqual(leaders(state));
  });

  it("holds a dead broker's partitions until its WAL is recovered, then moves them with a new epoch", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const { c, state } = await controllerOn(store, clock, 1);
    for (const id of [1, 2, 3]) await c.register(reg(id));
    const epochs = (await c.register(reg(3))).brokerEpoch; // a re-sent registration keeps its epoch
    const before = leaders(state);
    clock.advance(SESSION_MS - 1000);
    expect(c.heartbeat(1, 1)).toEqual({ ok: true });
    expect(c.heartbeat(2, 2)).toEqual({ ok: true });
    clock.advance(1000);
    await c.tick();
    expect(state.broker(3)).toMatchObject({ fenced: true, walRecovered: false });
    expect(leaders(state)).toEqual(before);
    // Another broker replayed broker 3's shared WAL: now its partitions move, nothing else does.
    await c.walRecovered(3, epochs);
    const after = leaders(state);
    expect(counts(state)).toEqual({ 1: 6, 2: 6 });
    after.forEach((l, i) => {
      if (before[i]!.leader === 3) expect(l!.leaderEpoch).toBe(before[i]!.leaderEpoch + 1);
      else expect(l).toEqual(before[i]);
    });
    expect(c.heartbeat(3, epochs)).toEqual({ ok: false, reason: "STALE_BROKER_EPOCH" });
  });

  it("a file-WAL broker that restarts gets a new epoch and keeps its partitions (it replayed its own WAL)", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const { c, state } = await controllerOn(store, clock, 1);
    for (const id of [1, 2]) await c.register(reg(id, "file"));
    const before = leaders(state);
    clock.advance(SESSION_MS);
    c.heartbeat(1, 1);
    await c.tick();
    expect(state.broker(2)?.fenced).toBe(true);
    expect(leaders(state)).toEqual(before);
    const { brokerEpoch } = await c.register(reg(2, "file", "run-2-2"));
    expect(brokerEpoch).toBeGreaterThan(2);
    expect(state.broker(2)).toMatchObject({ fenced: false, brokerEpoch });
    expect(leaders(state)).toEqual(before);
  });

  it("writes a large rebalance as a few records, not one per partition", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const many = Array.from({ length: 5000 }, (_, p) => ({ topicId: "big", partition: p }));
    const { log, state } = await view(store);
    const c = new ClusterController({ log, state, clock, generation: 1, holder: "c", sessionTimeoutMs: SESSION_MS, partitions: () => many, release: async () => true });
    await c.start();
    await c.register(reg(1));
    const before = log.lastIndex();
    await c.register(reg(2));
    // One registration entry, then 2,500 moves in two entries.
    expect(log.lastIndex() - before).toBe(3n);
    expect(c.ledBy(2)).toBe(2500);
  });

  it("drains a broker: its partitions move to the others and it ends with none", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const { c, state } = await controllerOn(store, clock, 1);
    for (const id of [1, 2, 3, 4]) await c.register(reg(id));
    expect(c.ledBy(4)).toBe(3);
    expect(await c.drain(4)).toBe(true);
    expect(c.ledBy(4)).toBe(0);
    expect(counts(state)).toEqual({ 1: 4, 2: 4, 3: 4 });
    expect(await c.drain(99)).toBe(false);
  });

  it("evens out load from heartbeat reports by swapping leaders of one topic, then leaves them alone for the cooldown", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const { log, state } = await view(store);
    const MiB = 1 << 20;
    const c = new ClusterController({ log, state, clock, generation: 1, holder: "controller-1", sessionTimeoutMs: SESSION_MS, partitions: () => PARTITIONS, release: async () => true, loadBalance: { thresholdRatio: 0.2, minBytesPerSec: MiB, cooldownMs: 60_000 } });
    await c.start();
    const epochs = new Map<number, number>();
    for (const id of [1, 2, 3]) epochs.set(id, (await c.register(reg(id))).brokerEpoch);
    expect(counts(state)).toEqual({ 1: 4, 2: 4, 3: 4 });
    // Two partitions of broker 1 carry 10 MiB/s each; everything else 0.1 MiB/s.
    const hot = PARTITIONS.filter((p) => state.leaderOf(p.topicId, p.partition)!.leader === 1).slice(0, 2);
    const isHot = (p: { partition: number }) => hot.some((h) => h.partition === p.partition);
    const report = (id: number) => {
      const mine = PARTITIONS.filter((p) => state.leaderOf(p.topicId, p.partition)!.leader === id);
      return { windowMs: 10_000, partitions: mine.map((p) => ({ ...p, bytesInPerSec: isHot(p) ? 10 * MiB : 0.1 * MiB, bytesOutPerSec: 0 })) };
    };
    const heartbeats = () => {
      for (const id of [1, 2, 3]) expect(c.heartbeat(id, epochs.get(id)!, report(id))).toEqual({ ok: true });
    };
    // The first reports cover a window before this controller knew the leaders: not used yet.
    heartbeats();
    expect(c.loads.known).toBe(false);
    clock.advance(10_000);
    heartbeats();
    expect(c.loadImbalance()).toBeCloseTo(20.2 / ((20.2 + 0.4 + 0.4) / 3), 1);
    // Partitions moved when brokers 2 and 3 joined are frozen for the cooldown (60 s here): nothing yet.
    await c.tick();
    expect(c.loadMoves).toBe(0);
    while (clock.nowMs() < 60_000) {
      clock.advance(5000);
      heartbeats();
      await c.tick();
    }
    expect(c.loadMoves).toBe(2);
    expect(counts(state)).toEqual({ 1: 4, 2: 4, 3: 4 });
    expect(new Set(hot.map((h) => state.leaderOf(h.topicId, h.partition)!.leader)).size).toBe(2);
    expect(c.loadImbalance()).toBeLessThan(1.6);
    // Rates stay as they are: one hot partition per broker at most, nothing else to gain.
    for (let i = 0; i < 30; i++) {
      clock.advance(5000);
      heartbeats();
      await c.tick();
    }
    expect(c.loadMoves).toBe(2);
  });

  it("a new controller takes over the brokers the log knows; the deposed one can write nothing more", async () => {
    const store = new MemoryObjectStore();
    const clock = new ManualClock(0);
    const old = await controllerOn(store, clock, 1);
    for (const id of [1, 2, 3]) await old.c.register(reg(id));
    const before = leaders(old.state);
    const next = await controllerOn(store, clock, 2);
    // Same leaders, brokers keep their epochs and heartbeat the new controller.
    expect(leaders(next.state)).toEqual(before);
    expect(next.c.heartbeat(1, 1)).toEqual({ ok: true });
    expect((await next.c.register(reg(4))).brokerEpoch).toBe(4);
    // The old controller still thinks it leads: its next change is refused by the log's state.
    await expect(old.c.drain(1)).rejects.toBeInstanceOf(ControllerDeposedError);
    await expect(old.c.register(reg(5))).rejects.toBeInstanceOf(ControllerDeposedError);
    expect(old.c.heartbeat(1, 1)).toEqual({ ok: false, reason: "STALE_BROKER_EPOCH" });
    const reader = await view(store);
    expect(reader.state.controllerGeneration).toBe(2);
    expect(reader.state.broker(5)).toBeUndefined();
    expect(reader.state.broker(1)?.draining).toBe(false);
  });
});

describe("ClusterState", () => {
  it("voids records of an older controller generation, non-increasing leader epochs and broker epochs", () => {
    const s = new ClusterState();
    expect(s.apply({ type: "controller-elected", generation: 2, holder: "b" })).toBe(true);
    expect(s.apply({ type: "controller-elected", generation: 2, holder: "c" })).toBe(false);
    const lead = (generation: number, ...leaders: [number, number, number][]) => ({ type: "partition-leaders" as const, generation, leaders: leaders.map(([partition, leader, leaderEpoch]) => ({ topicId: "t", partition, leader, leaderEpoch })) });
    expect(s.apply(lead(1, [0, 1, 5]))).toBe(false);
    expect(s.apply(lead(2, [0, 1, 0]))).toBe(true);
    expect(s.apply(lead(2, [0, 2, 0]))).toBe(false);
    // One stale assignment does not void the others in the same record.
    expect(s.apply(lead(2, [0, 3, 0], [1, 3, 0]))).toBe(true);
    expect(s.leaderOf("t", 0)).toEqual({ topicId: "t", partition: 0, leader: 1, leaderEpoch: 0 });
    expect(s.leaderOf("t", 1)?.leader).toBe(3);
    const b = { type: "broker-registered" as const, generation: 2, id: 1, incarnationId: "x", brokerEpoch: 3, zone: "a", host: "h", port: 1, walType: "s3" as const };
    expect(s.apply(b)).toBe(true);
    expect(s.apply({ ...b, brokerEpoch: 2 })).toBe(false);
    expect(s.apply({ type: "broker-fenced", generation: 2, id: 1, brokerEpoch: 2 })).toBe(false);
    expect(s.apply({ type: "broker-fenced", generation: 2, id: 1, brokerEpoch: 3 })).toBe(true);
    s.dropPartitions("t");
    expect(s.leaderOf("t", 0)).toBeUndefined();
  });
});
