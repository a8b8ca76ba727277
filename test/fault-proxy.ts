import net from "node:net";

/**
 * A loopback TCP proxy that understands Kafka framing just enough to inject faults: it can
 * cut a connection after the broker handled a request but before the client saw the
 * answer, which is exactly what makes a producer retry a batch the broker already wrote.
 */
export interface FaultProxyOptions {
  /** Decides, per response, whether to drop the connection instead of delivering it. */
  dropResponse?: (apiKey: number) => boolean;
}

export class FaultProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  dropped = 0;
  target = 0;

  constructor(private readonly opts: FaultProxyOptions) {}

  async listen(): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.target, "127.0.0.1");
    this.sockets.add(client).add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", kill).on("close", kill);
    upstream.on("error", kill).on("close", kill);
    const apiKeys = new Map<number, number>(); // correlation id -> api key
    frames(client, (frame) => {
      apiKeys.set(frame.readInt32BE(8), frame.readInt16BE(4));
      upstream.write(frame);
    });
    frames(upstream, (frame) => {
      const apiKey = apiKeys.get(frame.readInt32BE(4)) ?? -1;
      if (this.opts.dropResponse?.(apiKey)) {
        this.dropped++;
        kill();
        return;
      }
      client.write(frame);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

function frames(socket: net.Socket, onFrame: (frame: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
      const n = 4 + buf.readInt32BE(0);
      onFrame(buf.subarray(0, n));
      buf = buf.subarray(n);
    }
  });
}
