import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../protocol/errors.js";
import { defaultsMetadataRequest } from "../../protocol/messages/index.js";
import type { BrokerEndpoint } from "../broker.js";
import { metadata } from "./03-metadata.js";
import { findCoordinator } from "./10-find-coordinator.js";
import { describeCluster } from "./60-describe-cluster.js";
import { callOn, createTestBroker, testConnection, type TestBroker } from "./test-broker.js";

/**
 * Kafka's rule for named listeners: a client is told each broker's address on the listener
 * it connected through; a broker without that listener is not listed there, and a
 * partition it leads (or a group it coordinates) has no leader (coordinator) for that client.
 */
const b1: BrokerEndpoint = { nodeId: 1, rack: "a", listeners: [{ name: "INTERNAL", host: "floe-1.floe-brokers", port: 9092 }, { name: "EXTERNAL", host: "b1.example.com", port: 9094 }] };
const b2: BrokerEndpoint = { nodeId: 2, rack: "b", listeners: [{ name: "INTERNAL", host: "floe-2.floe-brokers", port: 9092 }] };

let broker: TestBroker;
beforeEach(async () => {
  const base = await createTestBroker({ nodeId: 1 });
  // Partition 0 led by broker 1 (both listeners), partition 1 by broker 2 (INTERNAL only).
  broker = Object.assign(base, { self: b1, brokers: () => [b1, b2], leaderOf: (_t: string, p: number) => (p === 0 ? b1 : b2) });
  await broker.controller.createTopic("orders", 2, {});
});
afterEach(() => broker.close());

const on = (listener: string) => testConnection({ listener });

async function metadataOn(listener: string, version: number) {
  const req = { ...defaultsMetadataRequest(), topics: [{ topicId: "AAAAAAAAAAAAAAAAAAAAAA", name: "orders" }], allowAutoTopicCreation: false };
  return (await callOn(metadata, broker, version, req, on(listener))).response;
}

describe("Metadata per listener", () => {
  it("INTERNAL: every broker with its in-cluster address, both partitions led", async () => {
    const res = await metadataOn("INTERNAL", 12);
    expect(res.brokers).toEqual([
      { nodeId: 1, host: "floe-1.floe-brokers", port: 9092, rack: "a" },
      { nodeId: 2, host: "floe-2.floe-brokers", port: 9092, rack: "b" },
    ]);
    expect(res.topics[0]!.partitions.map((p) => [p.partitionIndex, p.errorCode, p.leaderId, p.replicaNodes])).toEqual([
      [0, ErrorCode.NONE, 1, [1, 2]],
      [1, ErrorCode.NONE, 2, [2, 1]],
    ]);
  });

  it("EXTERNAL: only the broker that has it, with its external address; the other's partition is LISTENER_NOT_FOUND (v6+)", async () => {
    const res = await metadataOn("EXTERNAL", 12);
    expect(res.brokers).toEqual([{ nodeId: 1, host: "b1.example.com", port: 9094, rack: "a" }]);
    expect(res.topics[0]!.partitions.map((p) => [p.partitionIndex, p.errorCode, p.leaderId, p.replicaNodes, p.isrNodes])).toEqual([
      [0, ErrorCode.NONE, 1, [1], [1]],
      [1, ErrorCode.LISTENER_NOT_FOUND, -1, [], []],
    ]);
    // Before v6 clients do not know LISTENER_NOT_FOUND: Kafka answers LEADER_NOT_AVAILABLE there.
    expect((await metadataOn("EXTERNAL", 5)).topics[0]!.partitions[1]!.errorCode).toBe(ErrorCode.LEADER_NOT_AVAILABLE);
  });
});

describe("FindCoordinator and DescribeCluster per listener", () => {
  it("name the coordinator's address on the client's listener, or COORDINATOR_NOT_AVAILABLE when it has none there", async () => {
    broker.coordinator = b1;
    const req = { key: "g", keyType: 0, coordinatorKeys: ["g"] };
    expect((await callOn(findCoordinator, broker, 3, req, on("EXTERNAL"))).response).toMatchObject({ errorCode: ErrorCode.NONE, nodeId: 1, host: "b1.example.com", port: 9094 });
    expect((await callOn(findCoordinator, broker, 3, req, on("INTERNAL"))).response).toMatchObject({ errorCode: ErrorCode.NONE, nodeId: 1, host: "floe-1.floe-brokers", port: 9092 });
    broker.coordinator = b2;
    const batched = (await callOn(findCoordinator, broker, 4, req, on("EXTERNAL"))).response;
    expect(batched.coordinators).toEqual([{ key: "g", nodeId: -1, host: "", port: -1, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: "The coordinator has no listener EXTERNAL." }]);
  });

  it("DescribeCluster lists the brokers on the client's listener", async () => {
    const req = { includeClusterAuthorizedOperations: false, endpointType: 1 };
    expect((await callOn(describeCluster, broker, 1, req, on("EXTERNAL"))).response.brokers).toEqual([{ brokerId: 1, host: "b1.example.com", port: 9094, rack: "a" }]);
    expect((await callOn(describeCluster, broker, 1, req, on("INTERNAL"))).response.brokers.map((b) => b.host)).toEqual(["floe-1.floe-brokers", "floe-2.floe-brokers"]);
  });
});
