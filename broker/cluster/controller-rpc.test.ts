import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { controllerRoutes, HttpControllerClient, holderOf, NotControllerError, parseHolder, type ControllerApi } from "./controller-rpc.js";

describe("controller calls over HTTP", () => {
  it("refuse malformed bodies with the reason, answer 421 when not the controller, 503 when the controller fails", async () => {
    let current: ControllerApi | null = null;
    const app = Fastify();
    controllerRoutes(app, () => current);
    await app.listen({ host: "127.0.0.1", port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      const client = new HttpControllerClient(url);
      const good = { id: 3, incarnationId: "x", zone: "a", listeners: [{ name: "PLAINTEXT", host: "h", port: 9092 }], walType: "s3" as const };
      await expect(client.register(good)).rejects.toBeInstanceOf(NotControllerError);
      current = {
        register: async (r) => ({ brokerEpoch: r.id * 10, metadataIndex: "7" }),
        heartbeat: async () => {
          throw new Error("log unavailable");
        },
        drain: async (id) => ({ found: id === 3, partitionsLeft: 0 }),
      };
      expect(await client.register(good)).toEqual({ brokerEpoch: 30, metadataIndex: "7" });
      await expect(client.register({ ...good, walType: "tape" as never })).rejects.toThrow(/HTTP 400: invalid registration: walType must be file, nfs or s3/);
      await expect(client.register({ ...good, listeners: [{ name: "PLAINTEXT", host: "h", port: 0 }] })).rejects.toThrow(/listener PLAINTEXT: port must be 1..65535/);
      await expect(client.register({ ...good, listeners: [] })).rejects.toThrow(/listeners must be a list of 1..16/);
      await expect(client.register({ ...good, listeners: [{ name: "A", host: "h", port: 1 }, { name: "A", host: "i", port: 2 }] })).rejects.toThrow(/listener A is given twice/);
      await expect(client.register({ ...good, listeners: [{ name: "A", host: "", port: 1 }] })).rejects.toThrow(/listener A: host must be a non-empty string/);
      await expect(client.heartbeat(3, 1)).rejects.toThrow(/HTTP 503: controller could not complete the call: log unavailable/);
      expect(await client.drain(3)).toEqual({ found: true, partitionsLeft: 0 });
      const res = await fetch(`${url}/internal/v1/brokers/heartbeat`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: "one" }) });
      expect(res.status).toBe(400);
    } finally {
      await app.close();
    }
  });

  it("name the controller in the lease holder as id@url", () => {
    expect(parseHolder(holderOf(2001, "http://b-1.brokers:9080"))).toEqual({ nodeId: 2001, url: "http://b-1.brokers:9080" });
    expect(parseHolder("no-id-here")).toBeNull();
    expect(parseHolder("x@http://h")).toBeNull();
  });
});
