import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A loopback HTTP proxy between an S3 client and an S3 server (MinIO) that injects faults
 * per a programmable policy:
 *  - `slowdown`: answers 503 SlowDown with S3's XML error body; the server never sees the request;
 *  - `reset-request`: cuts the connection after reading the request, before forwarding it
 *    (the request did not land);
 *  - `reset-response`: forwards the request, lets the server apply it, then cuts the
 *    connection part-way through the response (the request landed, the client cannot know);
 *  - `delay`: holds the request `delayMs` before forwarding it (slow server / timeouts);
 *  - `error`: answers `status` with an AWS error body (`code`, `message`) in S3's XML or, with
 *    `format: "ec2"`, EC2's; the server never sees the request (AccessDenied, throttling, ...).
 *
 * The Host header is forwarded unchanged so SigV4 signatures made for the proxy's address
 * still verify at the server.
 *
 *   const proxy = await S3FaultProxy.start(minio.port, everyNth(3, { kind: "slowdown" }, { max: 10 }));
 *   new S3ObjectStore({ endpoint: proxy.endpoint, ... });
 */
export type FaultKind = "slowdown" | "reset-request" | "reset-response" | "delay" | "error";

export interface Fault {
  kind: FaultKind;
  /** For `delay`. */
  delayMs?: number;
  /** For `error`: e.g. 403 AccessDenied, 503 SlowDown, 503 RequestLimitExceeded (EC2). */
  status?: number;
  code?: string;
  message?: string;
  format?: "s3" | "ec2";
}

export interface ProxiedRequest {
  /** 1-based number of this request through the proxy. */
  n: number;
  method: string;
  /** Path and query as sent, e.g. `/bucket/key?uploads`. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Decides the fault for one request; null forwards it untouched. */
export type FaultPolicy = (req: ProxiedRequest) => Fault | null;

export interface PolicyLimits {
  /** Only requests this returns true for are candidates (others pass untouched and are not counted). */
  match?: (req: ProxiedRequest) => boolean;
  /** Stop injecting after this many faults. */
  max?: number;
}

/** Injects `fault` into every nth matching request (n, 2n, ...), at most `max` times. */
export function everyNth(n: number, fault: Fault | Fault[], limits: PolicyLimits = {}): FaultPolicy {
  let seen = 0;
  let injected = 0;
  const faults = Array.isArray(fault) ? fault : [fault];
  return (req) => {
    if (limits.match && !limits.match(req)) return null;
    seen++;
    if (seen % n !== 0 || injected >= (limits.max ?? Infinity)) return null;
    return faults[injected++ % faults.length]!;
  };
}

/** Injects one of `faults` (uniformly) with probability `p` per matching request, from a seeded RNG, at most `max` times. */
export function withProbability(p: number, seed: number, faults: Fault[], limits: PolicyLimits = {}): FaultPolicy {
  const rnd = seededRandom(seed);
  let injected = 0;
  return (req) => {
    if (limits.match && !limits.match(req)) return null;
    if (injected >= (limits.max ?? Infinity)) return null;
    if (rnd() >= p) return null;
    injected++;
    return faults[Math.floor(rnd() * faults.length)]!;
  };
}

/** The same fault on every matching request, forever (or `max` times). */
export function always(fault: Fault, limits: PolicyLimits = {}): FaultPolicy {
  return everyNth(1, fault, limits);
}

/** A small deterministic PRNG (mulberry32): same seed, same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class S3FaultProxy {
  /** Requests seen, and faults injected by kind. */
  readonly stats = { requests: 0, forwarded: 0, faults: { slowdown: 0, "reset-request": 0, "reset-response": 0, delay: 0, error: 0 } as Record<FaultKind, number> };
  /** Every request seen, in order (method, url, fault), for assertions. */
  readonly log: { n: number; method: string; url: string; fault: FaultKind | null }[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  private constructor(
    private readonly server: http.Server,
    readonly upstreamPort: number,
    public policy: FaultPolicy,
  ) {}

  static async start(upstreamPort: number, policy: FaultPolicy = () => null): Promise<S3FaultProxy> {
    const server = http.createServer();
    const proxy = new S3FaultProxy(server, upstreamPort, policy);
    server.on("connection", (s) => {
      proxy.sockets.add(s);
      s.once("close", () => proxy.sockets.delete(s));
    });
    server.on("request", (req, res) => void proxy.handle(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get faultsInjected(): number {
    return Object.values(this.stats.faults).reduce((a, b) => a + b, 0);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      return; // the client went away
    }
    const body = Buffer.concat(chunks);
    const n = ++this.stats.requests;
    const info: ProxiedRequest = { n, method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body };
    const fault = this.policy(info);
    this.log.push({ n, method: info.method, url: info.url, fault: fault?.kind ?? null });
    if (fault) this.stats.faults[fault.kind]++;
    switch (fault?.kind) {
      case "slowdown": {
        const xml =
          '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>' +
          `<Resource>${escapeXml(info.url)}</Resource><RequestId>fault-${n}</RequestId></Error>`;
        res.writeHead(503, { "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(xml), "x-amz-request-id": `fault-${n}`, "Retry-After": "1" });
        res.end(req.method === "HEAD" ? undefined : xml);
        return;
      }
      case "error": {
        const code = escapeXml(fault.code ?? "InternalError");
        const message = escapeXml(fault.message ?? "Injected by the fault proxy");
        const xml =
          fault.format === "ec2"
            ? `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>fault-${n}</RequestID></Response>`
            : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource>${escapeXml(info.url)}</Resource><RequestId>fault-${n}</RequestId></Error>`;
        res.writeHead(fault.status ?? 500, { "Content-Type": fault.format === "ec2" ? "text/xml" : "application/xml", "Content-Length": Buffer.byteLength(xml), "x-amz-request-id": `fault-${n}` });
        res.end(req.method === "HEAD" ? undefined : xml);
        return;
      }
      case "reset-request":
        req.socket.destroy();
        return;
      case "delay":
        await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
        if (req.socket.destroyed) return; // the client gave up meanwhile
        break;
      default:
    }
    let upstream: { status: number; headers: string[]; body: Buffer };
    try {
      upstream = await this.forward(req, body);
    } catch {
      req.socket.destroy();
      return;
    }
    this.stats.forwarded++;
    if (fault?.kind === "reset-response") {
      // The server has applied the request; the client gets at most part of the answer.
      if (upstream.body.length > 1) {
        res.writeHead(upstream.status, upstream.headers);
        res.write(upstream.body.subarray(0, Math.floor(upstream.body.length / 2)));
        setTimeout(() => req.socket.destroy(), 5);
      } else {
        req.socket.destroy();
      }
      return;
    }
    res.writeHead(upstream.status, upstream.headers);
    res.end(upstream.body);
  }

  private forward(req: http.IncomingMessage, body: Buffer): Promise<{ status: number; headers: string[]; body: Buffer }> {
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      // The proxy has already answered any 100-continue; connection handling is per hop.
      if (/^(expect|connection|keep-alive)$/i.test(name)) continue;
      headers.push(name, req.rawHeaders[i + 1]!);
    }
    return new Promise((resolve, reject) => {
      const up = http.request({ host: "127.0.0.1", port: this.upstreamPort, method: req.method, path: req.url, headers, agent: this.agent }, (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () => {
          const out: string[] = [];
          for (let i = 0; i < r.rawHeaders.length; i += 2) {
            if (/^(connection|keep-alive|transfer-encoding)$/i.test(r.rawHeaders[i]!)) continue;
            out.push(r.rawHeaders[i]!, r.rawHeaders[i + 1]!);
          }
          resolve({ status: r.statusCode ?? 502, headers: out, body: Buffer.concat(chunks) });
        });
        r.on("error", reject);
      });
      up.on("error", reject);
      up.end(body);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
