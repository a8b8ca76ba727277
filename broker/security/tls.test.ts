import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import tls from "node:tls";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/common/logger.js";
import { createRegistry } from "../../src/common/metrics.js";
import { ConfigError } from "../../src/common/config.js";
import type { Dispatch } from "../server/connection.js";
import { KafkaListener } from "../server/listener.js";
import { createBrokerMetrics } from "../server/metrics.js";
import { makeCa, makeCert, type TestCa, type TestCert } from "./test-certs.js";
import { loadTls, type ClientAuth, type TlsSettings } from "./tls.js";

function frame(payload: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
}

/** Answers every request with the connection's principal, so a test can see who it is. */
const whoami: Dispatch = async (_f, conn) => ({ kind: "respond", frame: frame(Buffer.from(conn.principal)) });

const listeners: KafkaListener[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.close();
});

async function tlsListener(server: TestCert, ca: TestCa, clientAuth: ClientAuth = "none", opts: { reloadIntervalMs?: number; sasl?: boolean; principal?: "dn" | "cn" } = {}) {
  const settings: TlsSettings = { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.caFile, clientAuth, reloadIntervalMs: opts.reloadIntervalMs ?? 0 };
  const listener = new KafkaListener(
    { name: "SSL", host: "127.0.0.1", port: 0, maxRequestBytes: 1 << 20, maxInFlight: 4, sasl: opts.sasl ?? false, maxUnauthenticatedRequestBytes: 1 << 16, tls: { settings, loaded: await loadTls(settings), principal: opts.principal ?? "dn" } },
    whoami,
    silentLogger(),
    createBrokerMetrics(createRegistry("tls-test", false)),
  );
  listeners.push(listener);
  const port = await listener.listen();
  return { listener, port };
}

/** Connects, sends one frame, returns the principal the broker answered and the server's certificate fingerprint. */
function ask(port: number, opts: tls.ConnectionOptions): Promise<{ principal: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ...opts }, () => {
      socket.write(frame(Buffer.alloc(8)));
    });
    const chunks: Buffer[] = [];
    socket.on("data", (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= 4 && all.length >= 4 + all.readInt32BE(0)) {
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        socket.destroy();
        resolve({ principal: all.subarray(4, 4 + all.readInt32BE(0)).toString(), fingerprint });
      }
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error("closed before an answer")));
  });
}

const fingerprintOf = (c: TestCert) => new crypto.X509Certificate(fs.readFileSync(c.certFile)).fingerprint256;

describe("TLS listener", () => {
  const ca = makeCa();
  const server = makeCert(ca, "localhost");

  it("serves Kafka frames over TLS to a client that trusts the CA; the principal is anonymous without client auth", async () => {
    const { port } = await tlsListener(server, ca);
    const got = await ask(port, { ca: fs.readFileSync(ca.caFile) });
    expect(got.principal).toBe("User:ANONYMOUS");
    expect(got.fingerprint).toBe(fingerprintOf(server));
    await expect(ask(port, {})).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
  });

  it("refuses to start with an expired certificate, a key of another certificate or a missing file", async () => {
    const old = makeCert(ca, "localhost", { expired: true });
    const other = makeCert(ca, "localhost");
    await expect(loadTls({ certFile: old.certFile, keyFile: old.keyFile, caFile: "", clientAuth: "none", reloadIntervalMs: 0 })).rejects.toThrow(/certificate expired at 2020-02-01/);
    await expect(loadTls({ certFile: server.certFile, keyFile: other.keyFile, caFile: "", clientAuth: "none", reloadIntervalMs: 0 })).rejects.toThrow(ConfigError);
    await expect(loadTls({ certFile: "/nonexistent.pem", keyFile: other.keyFile, caFile: "", clientAuth: "none", reloadIntervalMs: 0 })).rejects.toThrow(/cannot read \/nonexistent.pem: ENOENT/);
  });

  it("picks up a renewed certificate written over the files, without a restart, and keeps the current one when the new files are unusable", async () => {
    const live = makeCert(ca, "localhost", { file: "live" });
    const first = fingerprintOf(live);
    const { listener, port } = await tlsListener(live, ca, "none", { reloadIntervalMs: 100 });
    const trust = { ca: fs.readFileSync(ca.caFile) };
    expect((await ask(port, trust)).fingerprint).toBe(first);

    // An expired replacement is refused: clients keep getting the valid certificate.
    const expired = makeCert(ca, "localhost", { expired: true });
    fs.copyFileSync(expired.certFile, live.certFile);
    fs.copyFileSync(expired.keyFile, live.keyFile);
    await new Promise((r) => setTimeout(r, 400));
    expect((await ask(port, trust)).fingerprint).toBe(first);

    const renewed = makeCert(ca, "localhost");
    fs.copyFileSync(renewed.keyFile, live.keyFile);
    fs.copyFileSync(renewed.certFile, live.certFile);
    const deadline = Date.now() + 5000;
    let seen = first;
    while (seen === first && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      seen = (await ask(port, trust)).fingerprint;
    }
    expect(seen).toBe(fingerprintOf(renewed));
    expect(await listener.reloadTls()).toBe(false); // nothing changed since
  });

  it("mutual TLS (required): the certificate's subject is the principal; no certificate, another CA's or an expired one is refused", async () => {
    const { port } = await tlsListener(server, ca, "required");
    const trust = { ca: fs.readFileSync(ca.caFile) };
    const app = makeCert(ca, "app", { org: "Floe Tests", sans: "DNS:app" });
    const withCert = (c: TestCert) => ({ ...trust, cert: fs.readFileSync(c.certFile), key: fs.readFileSync(c.keyFile) });
    expect((await ask(port, withCert(app))).principal).toBe("User:CN=app,O=Floe Tests");
    await expect(ask(port, trust)).rejects.toThrow();
    const stranger = makeCert(makeCa("Other CA"), "app");
    await expect(ask(port, withCert(stranger))).rejects.toThrow();
    await expect(ask(port, withCert(makeCert(ca, "app", { expired: true })))).rejects.toThrow();
  });

  it("requested client auth: anonymous without a certificate, named with a good one, closed with a bad one; cn mapping", async () => {
    const { port } = await tlsListener(server, ca, "requested", { principal: "cn" });
    const trust = { ca: fs.readFileSync(ca.caFile) };
    const app = makeCert(ca, "app", { org: "Floe Tests" });
    expect((await ask(port, trust)).principal).toBe("User:ANONYMOUS");
    expect((await ask(port, { ...trust, cert: fs.readFileSync(app.certFile), key: fs.readFileSync(app.keyFile) })).principal).toBe("User:app");
    const stranger = makeCert(makeCa("Other CA"), "app");
    await expect(ask(port, { ...trust, cert: fs.readFileSync(stranger.certFile), key: fs.readFileSync(stranger.keyFile) })).rejects.toThrow();
  });

  it("on SASL_SSL the certificate does not name the principal (SASL will)", async () => {
    const { port } = await tlsListener(server, ca, "required", { sasl: true });
    const app = makeCert(ca, "app");
    const got = await ask(port, { ca: fs.readFileSync(ca.caFile), cert: fs.readFileSync(app.certFile), key: fs.readFileSync(app.keyFile) });
    expect(got.principal).toBe("User:ANONYMOUS");
  });

  it("fuzz: random bytes into the TLS port cost only that socket; the listener keeps serving", async () => {
    const { port } = await tlsListener(server, ca);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2048 }), fc.boolean(), async (bytes, tlsLike) => {
        // Half the inputs start like a TLS record (handshake, TLS 1.2) so they reach deeper into the parser.
        const payload = tlsLike ? Buffer.concat([Buffer.from([0x16, 0x03, 0x03]), Buffer.from(bytes)]) : Buffer.from(bytes);
        await new Promise<void>((resolve) => {
          const s = net.connect(port, "127.0.0.1", () => s.end(payload));
          s.on("error", () => resolve());
          s.on("close", () => resolve());
          s.resume();
          setTimeout(() => (s.destroy(), resolve()), 2000);
        });
      }),
      { numRuns: 60, seed: 42 },
    );
    expect((await ask(port, { ca: fs.readFileSync(ca.caFile) })).principal).toBe("User:ANONYMOUS");
  });
});
