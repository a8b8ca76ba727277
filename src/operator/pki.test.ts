import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { describe, expect, it } from "vitest";
import { createCa, loadCa } from "./pki.js";

describe("the operator's CA (security.tls.generated)", () => {
  it("issues a CA and a broker certificate that node's X.509 parser reads and verifies", () => {
    const ca = createCa("events CA");
    const leaf = ca.sign("events", ["events-bootstrap.streaming.svc", "*.events-brokers.streaming.svc"]);
    const caCert = new crypto.X509Certificate(ca.certPem);
    const cert = new crypto.X509Certificate(leaf.certPem);
    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(caCert.subject).toBe("O=Floe\nCN=events CA");
    expect(cert.issuer).toBe(caCert.subject);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.subjectAltName).toBe("DNS:events-bootstrap.streaming.svc, DNS:*.events-brokers.streaming.svc");
    expect(cert.checkHost("events-0.events-brokers.streaming.svc")).toBe("*.events-brokers.streaming.svc");
    expect(cert.checkHost("elsewhere.svc")).toBeUndefined();
    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(364);
    expect(days).toBeLessThan(366);
    // The key matches the certificate.
    expect(cert.checkPrivateKey(crypto.createPrivateKey(leaf.keyPem))).toBe(true);
  });

  it("a CA loaded back from its PEM signs certificates that chain to it", () => {
    const ca = createCa("reloaded CA");
    const again = loadCa(ca.certPem, ca.keyPem);
    const cert = new crypto.X509Certificate(again.sign("x", ["x.svc"]).certPem);
    expect(cert.verify(new crypto.X509Certificate(ca.certPem).publicKey)).toBe(true);
  });

  it("serves TLS: a client trusting only the CA completes a handshake with the broker certificate", async () => {
    const ca = createCa("handshake CA");
    const leaf = ca.sign("broker", ["localhost"]);
    const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => s.end("ok"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const text = await new Promise<string>((resolve, reject) => {
        const c = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: ca.certPem }, () => undefined);
        let got = "";
        c.on("data", (d) => (got += d));
        c.on("end", () => resolve(got));
        c.on("error", reject);
      });
      expect(text).toBe("ok");
    } finally {
      server.close();
    }
  });

  it("openssl agrees the chain is valid for TLS servers", () => {
    const ca = createCa("openssl CA");
    const leaf = ca.sign("broker", ["broker.svc"]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-pki-"));
    try {
      fs.writeFileSync(path.join(dir, "ca.pem"), ca.certPem);
      fs.writeFileSync(path.join(dir, "leaf.pem"), leaf.certPem);
      const out = execFileSync("openssl", ["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", path.join(dir, "ca.pem"), path.join(dir, "leaf.pem")], { encoding: "utf8" });
      expect(out.trim()).toMatch(/leaf\.pem: OK$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
