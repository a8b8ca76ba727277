import net from "node:net";
import tls from "node:tls";
import type { Logger } from "pino";
import { Connection, type Dispatch } from "./connection.js";
import type { BrokerMetrics } from "./metrics.js";
import { newSaslState } from "../security/sasl.js";
import { principalOfCertificate, serverOptions, TlsReloader, type LoadedTls, type TlsSettings } from "../security/tls.js";

export interface ListenerOptions {
  /** The listener's name (FLOE_LISTENERS), which every connection it accepts carries. */
  name: string;
  host: string;
  port: number;
  maxRequestBytes: number;
  maxInFlight: number;
  /** SASL_PLAINTEXT / SASL_SSL: every connection authenticates first. */
  sasl: boolean;
  maxUnauthenticatedRequestBytes: number;
  /** SSL / SASL_SSL: the listener speaks TLS with these certificates (loaded and checked already). */
  tls?: { settings: TlsSettings; loaded: LoadedTls; principal: "dn" | "cn" };
}

/** One named Kafka TCP (or TLS) listener: accepts connections and hands each to a Connection. */
export class KafkaListener {
  private server?: net.Server;
  private reloader?: TlsReloader;
  private readonly connections = new Set<Connection>();
  private nextConnectionId = 1;

  constructor(private readonly opts: ListenerOptions, private readonly dispatch: Dispatch, private readonly logger: Logger, private readonly metrics: BrokerMetrics) {}

  async listen(): Promise<number> {
    const t = this.opts.tls;
    let server: net.Server;
    if (t) {
      const tlsServer = tls.createServer(serverOptions(t.settings, t.loaded), (socket) => this.acceptTls(socket));
      // A failed handshake (garbage, an expired or untrusted client certificate) costs the client its socket, nothing more.
      tlsServer.on("tlsClientError", (err, socket) => {
        this.logger.debug({ err: err.message, remote: socket.remoteAddress }, "TLS handshake failed");
        this.metrics.requestErrors.inc({ api: "tls", reason: "handshake_failed" });
      });
      this.reloader = new TlsReloader(t.settings, t.loaded, (options) => tlsServer.setSecureContext(options), this.logger);
      this.reloader.start();
      server = tlsServer;
    } else {
      server = net.createServer((socket) => this.accept(socket));
    }
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => this.logger.error({ err }, "listener error"));
    return this.boundPort;
  }

  /** The port it listens on (the one picked when configured as 0). */
  get boundPort(): number {
    const addr = this.server?.address();
    return typeof addr === "object" && addr ? addr.port : this.opts.port;
  }

  /** Re-reads the certificate files now (tests; the timer does the same every interval). */
  reloadTls(): Promise<boolean> {
    return this.reloader?.check() ?? Promise.resolve(false);
  }

  private acceptTls(socket: tls.TLSSocket): void {
    const t = this.opts.tls!;
    let principal: string | null = null;
    if (t.settings.clientAuth !== "none") {
      const peer = socket.getPeerCertificate();
      const presented = peer && Object.keys(peer).length > 0;
      if (presented && !socket.authorized) {
        // "requested" lets clients without a certificate in, never ones with a bad certificate.
        this.logger.info({ remote: socket.remoteAddress, reason: String(socket.authorizationError) }, "client certificate refused");
        socket.destroy();
        return;
      }
      // On SSL the certificate names the client; on SASL_SSL the SASL login does.
      if (presented && !this.opts.sasl) principal = principalOfCertificate(peer.raw, t.principal);
    }
    this.accept(socket, principal ?? undefined);
  }

  private accept(socket: net.Socket, principal = "User:ANONYMOUS"): void {
    const info = {
      id: this.nextConnectionId++,
      remoteAddress: socket.remoteAddress ?? "?",
      remotePort: socket.remotePort ?? 0,
      listener: this.opts.name,
      clientSoftwareName: "",
      clientSoftwareVersion: "",
      principal,
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
    this.reloader?.stop();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections) c.close("broker shutting down");
    await closed;
  }
}
