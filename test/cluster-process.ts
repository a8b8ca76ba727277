import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { Kafka, logLevel } from "kafkajs";
import type { MinioServer } from "./s3-server.js";
import { freePort, startBrokerProcess, type BrokerProc } from "./wal-process.js";

/**
 * Broker processes of one multi-broker cluster on loopback, sharing a bucket (and prefix)
 * of a real S3-compatible server. Timings are shortened so failover fits a test, in the
 * same proportions as the defaults.
 */
export interface ClusterBroker {
  id: number;
  port: number;
  /** A further free port, for a second Kafka listener (FLOE_LISTENERS); nothing listens on it unless the broker's env says so. */
  secondPort: number;
  httpPort: number;
  dataDir: string;
  proc: BrokerProc;
}

export interface ClusterOptions {
  minio: MinioServer;
  prefix: string;
  walType?: "file" | "nfs" | "s3";
  /** For `nfs`: the shared folder. */
  sharedWalDir?: string;
  env?: Record<string, string>;
}

export const CLUSTER_TIMINGS = { sessionTimeoutMs: 3000, controllerLeaseMs: 2000, heartbeatIntervalMs: 300 };

export class TestCluster {
  readonly brokers = new Map<number, ClusterBroker>();
  private readonly children: ChildProcess[] = [];
  private readonly dirs: string[] = [];
  /** Output of earlier runs of each broker (before a restart). */
  private readonly earlier = new Map<number, string>();

  constructor(private readonly opts: ClusterOptions) {}

  env(id: number, port: number, httpPort: number, dataDir: string): Record<string, string> {
    const { minio, prefix } = this.opts;
    return {
      FLOE_CLUSTER_MODE: "multi",
      FLOE_NODE_ID: String(id),
      FLOE_ZONE: `zone-${String.fromCharCode(97 + ((id - 1) % 3))}`,
      FLOE_PORT: String(port),
      FLOE_HTTP_PORT: String(httpPort),
      FLOE_DATA_DIR: dataDir,
      FLOE_WAL_TYPE: this.opts.walType ?? "file",
      ...(this.opts.sharedWalDir ? { FLOE_WAL_DIR: this.opts.sharedWalDir } : {}),
      FLOE_WAL_FLUSH_INTERVAL_MS: "20",
      FLOE_OBJECT_STORE: "s3",
      FLOE_S3_BUCKET: minio.bucket,
      FLOE_S3_PREFIX: prefix,
      FLOE_S3_ENDPOINT: minio.endpoint,
      FLOE_S3_REGION: minio.region,
      FLOE_S3_FORCE_PATH_STYLE: "true",
      FLOE_S3_ACCESS_KEY_ID: minio.accessKey,
      FLOE_S3_SECRET_ACCESS_KEY: minio.secretKey,
      FLOE_BROKER_SESSION_TIMEOUT_MS: String(CLUSTER_TIMINGS.sessionTimeoutMs),
      FLOE_CONTROLLER_LEASE_MS: String(CLUSTER_TIMINGS.controllerLeaseMs),
      FLOE_HEARTBEAT_INTERVAL_MS: String(CLUSTER_TIMINGS.heartbeatIntervalMs),
      FLOE_METADATA_POLL_INTERVAL_MS: "100",
      FLOE_UPLOAD_INTERVAL_MS: "300",
      FLOE_OFFSETS_PARTITIONS: "4",
      ...this.opts.env,
    };
  }

  /** Starts broker `id` (again, with its data folder and ports, if it ran before); resolves once it has registered. */
  /** `env`: settings for this broker only (on top of the cluster's), or a function of its ports that gives them. */
  async start(id: number, env: Record<string, string> | ((ports: { port: number; secondPort: number; httpPort: number }) => Record<string, string>) = {}): Promise<ClusterBroker> {
    const old = this.brokers.get(id);
    if (old) this.earlier.set(id, `${this.earlier.get(id) ?? ""}${old.proc.output()}\n--- restarted ---\n`);
    // Ports of other brokers are taken by now or soon: never reuse one (a freed port can come back twice).
    const taken = new Set([...this.brokers.values()].flatMap((b) => [b.port, b.secondPort, b.httpPort]));
    const pick = async () => {
      for (;;) {
        const p = await freePort();
        if (!taken.has(p)) {
          taken.add(p);
          return p;
        }
      }
    };
    const port = old?.port ?? (await pick());
    const secondPort = old?.secondPort ?? (await pick());
    const httpPort = old?.httpPort ?? (await pick());
    let dataDir = old?.dataDir;
    if (!dataDir) {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `floe-cluster-b${id}-`));
      this.dirs.push(dataDir);
    }
    const own = typeof env === "function" ? env({ port, secondPort, httpPort }) : env;
    const proc = await startBrokerProcess({ ...this.env(id, port, httpPort, dataDir), ...own }, this.children);
    const broker = { id, port, secondPort, httpPort, dataDir, proc };
    this.brokers.set(id, broker);
    const deadline = Date.now() + 20_000;
    while (!proc.output().includes("registered with the controller")) {
      if (Date.now() > deadline || proc.child.exitCode !== null) throw new Error(`broker ${id} did not register:\n${proc.output().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return broker;
  }

  bootstrap(): string[] {
    return [...this.brokers.values()].filter((b) => b.proc.child.exitCode === null && b.proc.child.signalCode === null).map((b) => `127.0.0.1:${b.port}`);
  }

  async kill(id: number): Promise<void> {
    const b = this.brokers.get(id)!;
    b.proc.child.kill("SIGKILL");
    await b.proc.exited;
  }

  /** Freezes the process (a long GC pause, a VM stall): it keeps its sockets but does nothing. */
  pause(id: number): void {
    this.brokers.get(id)!.proc.child.kill("SIGSTOP");
  }

  resume(id: number): void {
    this.brokers.get(id)!.proc.child.kill("SIGCONT");
  }

  /** Resolves with the exit code once broker `id` exits on its own (rejects after `timeoutMs`). */
  async exitOf(id: number, timeoutMs: number): Promise<number | null> {
    const b = this.brokers.get(id)!;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`broker ${id} did not exit within ${timeoutMs} ms:\n${b.proc.output().slice(-3000)}`)), timeoutMs);
    });
    try {
      return await Promise.race([b.proc.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** What the pod's preStop hook does, then SIGTERM. */
  async drainAndStop(id: number): Promise<{ status: number; body: Record<string, unknown> }> {
    const b = this.brokers.get(id)!;
    const res = await fetch(`http://127.0.0.1:${b.httpPort}/admin/v1/drain`, { method: "POST", signal: AbortSignal.timeout(60_000) });
    const body = (await res.json()) as Record<string, unknown>;
    b.proc.child.kill("SIGTERM");
    await b.proc.exited;
    return { status: res.status, body };
  }

  output(id: number): string {
    return (this.earlier.get(id) ?? "") + (this.brokers.get(id)?.proc.output() ?? "");
  }

  async stopAll(): Promise<void> {
    for (const c of this.children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }
    for (const d of this.dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** Polls `probe` until it returns something other than null; the last error is in the timeout's message. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

/**
 * Partitions of `topic` per leader id (-1: none), asked of one broker with a fresh client,
 * so a paused or dead broker cannot stall the question.
 */
export async function leaderCountsVia(cluster: TestCluster, brokerId: number, topic: string): Promise<Map<number, number>> {
  const probe = new Kafka({ clientId: "cluster-probe", brokers: [`127.0.0.1:${cluster.brokers.get(brokerId)!.port}`], logLevel: logLevel.NOTHING, requestTimeout: 2000, retry: { retries: 0 } }).admin();
  await probe.connect();
  try {
    const md = await probe.fetchTopicMetadata({ topics: [topic] });
    const out = new Map<number, number>();
    for (const p of md.topics[0]!.partitions) out.set(p.leader, (out.get(p.leader) ?? 0) + 1);
    return out;
  } finally {
    await probe.disconnect();
  }
}

/**
 * A network partition between some brokers and the controller, on loopback: an HTTP proxy
 * in front of the controller's internal port (give the controller `FLOE_INTERNAL_URL` =
 * `url`, so every broker reaches it through here) that forwards every call except the
 * registrations and heartbeats of isolated brokers, which it leaves unanswered as a lost
 * network would. Clients still reach those brokers: only their link to the controller is cut.
 */
export class ControllerLink {
  private readonly isolated = new Set<number>();
  dropped = 0;

  private constructor(private readonly server: http.Server, readonly url: string) {}

  static async start(targetPort: () => number | undefined): Promise<ControllerLink> {
    const port = await freePort();
    let link: ControllerLink | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        let id: unknown;
        try {
          id = (JSON.parse(body.toString() || "{}") as { id?: unknown }).id;
        } catch {
          id = undefined;
        }
        if (/^\/internal\/v1\/brokers\/(register|heartbeat)$/.test(req.url ?? "") && typeof id === "number" && link!.isolated.has(id)) {
          link!.dropped++;
          return; // never answered: the broker's call times out
        }
        const target = targetPort();
        if (!target) {
          res.writeHead(503).end();
          return;
        }
        const upstream = http.request({ host: "127.0.0.1", port: target, method: req.method, path: req.url, headers: req.headers }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        upstream.on("error", () => res.writeHead(502).end());
        upstream.end(body);
      });
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
    link = new ControllerLink(server, `http://127.0.0.1:${port}`);
    return link;
  }

  isolate(brokerId: number): void {
    this.isolated.add(brokerId);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(() => r(undefined)));
  }
}
