import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../storage/clock.js";
import { MemoryObjectStore } from "../storage/memory-object-store.js";
import { MetadataLog } from "../storage/metadata-log.js";
import { followClusterRecords } from "./cluster-controller.js";
import { ClusterNode, type ClusterTimings } from "./cluster-node.js";
import { ClusterState } from "./cluster-state.js";
import { controllerRoutes, HttpControllerClient } from "./controller-rpc.js";

/**
 * Several brokers' cluster parts on one object store, talking over real HTTP on loopback:
 * election, registration, heartbeats, leader spread, controller failover, fencing.
 */
const TIMINGS: ClusterTimings = { leaseTtlMs: 1200, leaseMarginMs: 200, sessionTimeoutMs: 2400, writeLeaseMarginMs: 300, heartbeatIntervalMs: 150 };
const PARTITIONS = Array.from({ length: 12 }, (_, p) => ({ topicId: "orders", partition: p }));

interface Broker {
  id: number;
  node: ClusterNode;
  state: ClusterState;
  log: MetadataLog;
  app: FastifyInstance;
}

const running: Broker[] = [];

async function startBroker(store: MemoryObjectStore, id: number): Promise<Broker> {
  const log = await MetadataLog.open({ store });
  const state = new ClusterState();
  followClusterRecords(log, state);
  const app = Fastify();
  let node: ClusterNode | null = null;
  controllerRoutes(app, () => node?.controllerApi() ?? null);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const port = (app.server.address() as { port: number }).port;
  node = new ClusterNode({ store, log, state, clock: systemClock, registration: { id, incarnationId: `inc-${id}-${Date.now()}`, zone: `zone-${id % 3}`, listeners: [{ name: "PLAINTEXT", host: "127.0.0.1", port: 19000 + id }], walType: "s3" }, internalUrl: `http://127.0.0.1:${port}`, timings: TIMINGS, partitions: () => PARTITIONS, release: async () => true });
  node.start();
  const b = { id, node, state, log, app };
  running.push(b);
  return b;
}

async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const leaderCounts = (s: ClusterState) => {
  const c: Record<number, number> = {};
  for (const p of PARTITIONS) {
    const l = s.leaderOf(p.topicId, p.partition);
    if (l) c[l.leader] = (c[l.leader] ?? 0) + 1;
  }
  return c;
};

afterEach(async () => {
  for (const b of running.splice(0)) {
    await b.node.stop();
    await b.app.close();
  }
});

describe("ClusterNode", () => {
  it("three brokers elect one controller, register, spread partitions, and every broker's write lease is live", async () => {
    const store = new MemoryObjectStore();
    const brokers = await Promise.all([1, 2, 3].map((id) => startBroker(store, id)));
    await until("partitions spread 4/4/4 on every broker", () => brokers.every((b) => JSON.stringify(leaderCounts(b.state)) === '{"1":4,"2":4,"3":4}'));
    expect(brokers.filter((b) => b.node.election.isLeader)).toHaveLength(1);
    await until("write leases", () => brokers.every((b) => b.node.writeLease.canAcknowledge()));
    // A broker that is not the controller answers controller calls with 421, which clients take as "look again".
    const follower = brokers.find((b) => !b.node.election.isLeader)!;
    const port = (follower.app.server.address() as { port: number }).port;
    await expect(new HttpControllerClient(`http://127.0.0.1:${port}`).heartbeat(1, 1)).rejects.toThrow(/not the controller/);
  });

  it("when the controller crashes another takes over before any broker is declared dead; the crashed one is fenced and its partitions move once its WAL is recovered", async () => {
    const store = new MemoryObjectStore();
    const brokers = await Promise.all([1, 2, 3].map((id) => startBroker(store, id)));
    await until("spread", () => brokers.every((b) => Object.keys(leaderCounts(b.state)).length === 3));
    const controller = brokers.find((b) => b.node.election.isLeader)!;
    const survivors = brokers.filter((b) => b !== controller);
    const crashedEpoch = controller.state.broker(controller.id)!.brokerEpoch;
    controller.node.halt();
    await controller.app.close();
    running.splice(running.indexOf(controller), 1);
    const next = await until("a new controller", () => survivors.find((b) => b.node.clusterController !== null));
    expect(next.node.election.leaderGeneration).toBeGreaterThan(1);
    // Survivors never stopped being members: they heartbeat the new controller with their epochs.
    for (const b of survivors) expect(next.state.broker(b.id)?.fenced).toBe(false);
    await until("the crashed broker fenced", () => next.state.broker(controller.id)?.fenced);
    expect(survivors.every((b) => b.state.broker(b.id)?.fenced === false)).toBe(true);
    // Its s3 WAL is not recovered yet: its partitions stay put.
    expect(leaderCounts(next.state)[controller.id]).toBe(4);
    await next.node.clusterController!.walRecovered(controller.id, crashedEpoch);
    await until("partitions moved to the survivors", () => survivors.every((b) => JSON.stringify(Object.keys(leaderCounts(b.state)).sort()) === JSON.stringify(survivors.map((s) => String(s.id)).sort())));
    expect(Object.values(leaderCounts(next.state))).toEqual([6, 6]);
    await until("write leases of the survivors", () => survivors.every((b) => b.node.writeLease.canAcknowledge()));
  });

  it("a broker cut off from the controller stops acknowledging before it is declared dead", async () => {
    const store = new MemoryObjectStore();
    const brokers = await Promise.all([1, 2].map((id) => startBroker(store, id)));
    await until("both registered", () => brokers.every((b) => b.node.writeLease.canAcknowledge()) && brokers.some((b) => b.node.clusterController));
    const controller = brokers.find((b) => b.node.clusterController)!;
    const isolated = brokers.find((b) => b !== controller)!;
    // Its heartbeats stop (the network is gone); it keeps running otherwise.
    isolated.node.halt();
    const lapsesAt = Date.now() + isolated.node.writeLease.remainingMs();
    const fencedAt: number = await until("declared dead", () => (controller.state.broker(isolated.id)?.fenced ? Date.now() : 0));
    // Its own lease lapsed first, by at least the margin.
    expect(lapsesAt).toBeLessThanOrEqual(fencedAt - TIMINGS.writeLeaseMarginMs);
    expect(isolated.node.writeLease.canAcknowledge()).toBe(false);
  });
});
