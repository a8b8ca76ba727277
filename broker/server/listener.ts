import net from "node:net";
import type { Logger } from "pino";
import { Connection, type Dispatch } from "./connection.js";
import type { BrokerMetrics } from "./metrics.js";
import { newSaslState } from "../security/sasl.js";

export interface ListenerOptions {
  host: string;
  port: number;
  maxRequestBytes: number;
  maxInFlight: number;
  /** SASL_PLAINTEXT: every connection authenticates first. */
  sasl: boolean;
  maxUnauthenticatedRequestBytes: number;
}

/** The Kafka TCP listener: accepts connections and hands each to a Connection. */
export class KafkaListener {
  private server?: net.Server;
  private readonly connections = new Set<Connection>();
  private nextConnectionId = 1;

  constructor(private readonly opts: ListenerOptions, private readonly dispatch: Dispatch, private readonly logger: Logger, private readonly metrics: BrokerMetrics) {}

  async listen(): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => this.logger.error({ err }, "listener error"));
    const addr = server.address();
    return typeof addr === "object" && addr ? addr.port : this.opts.port;
  }

  private accept(socket: net.Socket): void {
    const info = {
      id: this.nextConnectionId++,
      remoteAddress: socket.remoteAddress ?? "?",
      remotePort: socket.remotePort ?? 0,
      clientSoftwareName: "",
      clientSoftwareVersion: "",
      principal: "User:ANONYMOUS",
      sasl: this.opts.sasl ? newSaslState() : null,
    };
    const limits = { maxRequestBytes: this.opts.maxRequestBytes, maxInFlight: this.opts.maxInFlight, maxUnauthenticatedRequestBytes: this.opts.maxUnauthenticatedRequestBytes };
    const conn = new Connection(socket, info, this.dispatch, limits, this.logger, () => {
      this.connections.delete(conn);
      this.metrics.connections.dec();
    });
    this.connections.add(conn);
    this.metrics.connections.inc();
  }

  /** Stops accepting, then closes open connections once their in-flight responses are written. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections) c.close("broker shutting down");
    await closed;
  }
}
