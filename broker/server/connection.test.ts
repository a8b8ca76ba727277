import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/common/logger.js";
import { Connection, type Dispatch } from "./connection.js";

function frame(payload: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
}

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A server whose connections use `dispatch`; returns a connected client socket. */
async function serve(dispatch: Dispatch, limits = { maxRequestBytes: 1024, maxInFlight: 4 }): Promise<net.Socket> {
  const server = net.createServer((socket) => {
    new Connection(socket, { id: 1, remoteAddress: "", remotePort: 0, listener: "PLAINTEXT", clientSoftwareName: "", clientSoftwareVersion: "", principal: "User:ANONYMOUS", sasl: null }, dispatch, limits, silentLogger(), () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, "127.0.0.1");
  await new Promise<void>((r) => client.once("connect", () => r()));
  return client;
}

function collect(client: net.Socket): { data: () => Buffer; closed: Promise<void> } {
  const chunks: Buffer[] = [];
  client.on("data", (d) => chunks.push(d));
  const closed = new Promise<void>((r) => client.on("close", () => r()));
  return { data: () => Buffer.concat(chunks), closed };
}

describe("connection", () => {
  it("answers pipelined requests in request order even when they finish out of order", async () => {
    const dispatch: Dispatch = async (f) => {
      const n = f.readInt32BE(0);
      await new Promise((r) => setTimeout(r, (5 - n) * 10)); // later requests finish first
      return { kind: "respond", frame: frame(f.subarray(0, 8)) };
    };
    const client = await serve(dispatch);
    const out = collect(client);
    for (let i = 0; i < 5; i++) {
      const req = Buffer.alloc(8);
      req.writeInt32BE(i, 0);
      client.write(frame(req));
    }
    await new Promise((r) => setTimeout(r, 200));
    const bytes = out.data();
    const order = [];
    for (let at = 0; at < bytes.length; at += 12) order.push(bytes.readInt32BE(at + 4));
    expect(order).toEqual([0, 1, 2, 3, 4]);
    client.destroy();
  });

  it("handles frames split across many TCP chunks and many frames in one chunk", async () => {
    const seen: number[] = [];
    const client = await serve(async (f) => {
      seen.push(f.length);
      return { kind: "none" };
    });
    const a = frame(Buffer.alloc(100, 1));
    const b = frame(Buffer.alloc(10, 2));
    const all = Buffer.concat([a, b, b]);
    for (let i = 0; i < all.length; i += 7) {
      client.write(all.subarray(i, i + 7));
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([100, 10, 10]);
    client.destroy();
  });

  it("closes on an oversized or undersized frame without reading it", async () => {
    for (const size of [1025, 3, -1]) {
      const client = await serve(async () => ({ kind: "none" }));
      const out = collect(client);
      const head = Buffer.alloc(4);
      head.writeInt32BE(size);
      client.write(head);
      await out.closed;
    }
  });

  it("writes earlier responses before closing for a request it could not understand", async () => {
    const client = await serve(async (f) => (f[0] === 0xff ? { kind: "close", reason: "garbage" } : { kind: "respond", frame: frame(Buffer.from("ok")) }));
    const out = collect(client);
    client.write(Buffer.concat([frame(Buffer.alloc(8, 0)), frame(Buffer.alloc(8, 0xff)), frame(Buffer.alloc(8, 0))]));
    await out.closed;
    expect(out.data()).toEqual(frame(Buffer.from("ok")));
  });

  it("stops reading while the in-flight window is full", async () => {
    let inFlight = 0;
    let maxSeen = 0;
    const client = await serve(
      async () => {
        inFlight++;
        maxSeen = Math.max(maxSeen, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return { kind: "none" };
      },
      { maxRequestBytes: 1024, maxInFlight: 3 },
    );
    for (let i = 0; i < 30; i++) client.write(frame(Buffer.alloc(8)));
    await new Promise((r) => setTimeout(r, 300));
    expect(maxSeen).toBe(3);
    client.destroy();
  });
});

describe("connection on a SASL listener", () => {
  it("bounds frames by the small pre-authentication limit until the client has authenticated", async () => {
    const sasl = { user: null as string | null, mechanism: null, pending: null, expiresAtMs: 0 };
    const server = net.createServer((socket) => {
      new Connection(socket, { id: 1, remoteAddress: "", remotePort: 0, listener: "PLAINTEXT", clientSoftwareName: "", clientSoftwareVersion: "", principal: "User:ANONYMOUS", sasl }, async (f) => ({ kind: "respond", frame: frame(f.subarray(0, 4)) }), { maxRequestBytes: 4096, maxInFlight: 4, maxUnauthenticatedRequestBytes: 100 }, silentLogger(), () => {});
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const connect = async () => {
      const c = net.connect(port, "127.0.0.1");
      await new Promise<void>((r) => c.once("connect", () => r()));
      return c;
    };
    const stranger = await connect();
    const seen = collect(stranger);
    stranger.write(frame(Buffer.alloc(200)));
    await seen.closed;
    expect(seen.data().length).toBe(0);

    sasl.user = "alice";
    const known = await connect();
    const got = collect(known);
    known.write(frame(Buffer.alloc(200, 1)));
    await new Promise((r) => setTimeout(r, 100));
    expect(got.data()).toEqual(frame(Buffer.alloc(4, 1)));
    known.destroy();
  });

  it("writes a response marked thenClose, then closes", async () => {
    const client = await serve(async (f) => ({ kind: "respond", frame: frame(f.subarray(0, 4)), thenClose: "authentication failed" }));
    const seen = collect(client);
    client.write(Buffer.concat([frame(Buffer.alloc(8, 2)), frame(Buffer.alloc(8, 3))]));
    await seen.closed;
    expect(seen.data()).toEqual(frame(Buffer.alloc(4, 2)));
  });
});
