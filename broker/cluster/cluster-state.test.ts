import { describe, expect, it } from "vitest";
import { ClusterState } from "./cluster-state.js";
import { addressOn, UNNAMED_LISTENER } from "../server/broker.js";
import { ClusterLeadership } from "./leadership.js";

const registered = { type: "broker-registered" as const, generation: 1, incarnationId: "x", brokerEpoch: 1, zone: "a", walType: "s3" as const };

describe("brokers' listeners in the cluster state", () => {
  it("keeps every advertised listener of a registration, and snapshots them", () => {
    const s = new ClusterState();
    const listeners = [{ name: "INTERNAL", host: "floe-0.floe-brokers", port: 9092 }, { name: "EXTERNAL", host: "b0.example.com", port: 9094 }];
    expect(s.apply({ ...registered, id: 1, listeners })).toBe(true);
    expect(s.broker(1)?.listeners).toEqual(listeners);
    const copy = new ClusterState();
    copy.apply(s.toRecord());
    expect(copy.broker(1)?.listeners).toEqual(listeners);
  });

  it("reads a registration or snapshot written before named listeners as one unnamed listener, reachable on any listener", () => {
    const s = new ClusterState();
    expect(s.apply({ ...registered, id: 2, host: "old-host", port: 9092 })).toBe(true);
    expect(s.broker(2)?.listeners).toEqual([{ name: UNNAMED_LISTENER, host: "old-host", port: 9092 }]);
    const snapshot = { type: "cluster-state" as const, generation: 1, holder: "", leaders: [], brokers: [{ id: 3, incarnationId: "y", brokerEpoch: 4, zone: "b", host: "older", port: 9093, walType: "file" as const, internalUrl: "", fenced: false, walRecovered: false, draining: false }] };
    s.apply(snapshot);
    expect(s.broker(3)).toEqual({ id: 3, incarnationId: "y", brokerEpoch: 4, zone: "b", listeners: [{ name: UNNAMED_LISTENER, host: "older", port: 9093 }], walType: "file", internalUrl: "", fenced: false, walRecovered: false, draining: false });
    const leadership = new ClusterLeadership({ state: s, selfId: 9, canAcknowledge: () => true, onGained: () => {}, onLost: () => {} });
    const [b3] = leadership.brokers();
    expect(addressOn(b3!, "EXTERNAL")).toEqual({ name: UNNAMED_LISTENER, host: "older", port: 9093 });
  });

  it("a broker is reachable only on the listeners it advertised", () => {
    const s = new ClusterState();
    s.apply({ ...registered, id: 1, listeners: [{ name: "INTERNAL", host: "i1", port: 9092 }, { name: "EXTERNAL", host: "e1", port: 9094 }] });
    s.apply({ ...registered, id: 2, listeners: [{ name: "INTERNAL", host: "i2", port: 9092 }] });
    const leadership = new ClusterLeadership({ state: s, selfId: 1, canAcknowledge: () => true, onGained: () => {}, onLost: () => {} });
    const [b1, b2] = leadership.brokers();
    expect(addressOn(b1!, "EXTERNAL")).toMatchObject({ host: "e1", port: 9094 });
    expect(addressOn(b2!, "INTERNAL")).toMatchObject({ host: "i2", port: 9092 });
    expect(addressOn(b2!, "EXTERNAL")).toBeNull();
  });
});
