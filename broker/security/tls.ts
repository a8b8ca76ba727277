// TLS for the Kafka listener: certificates from PEM files (in Kubernetes, a mounted Secret),
// re-read on a timer and swapped in with setSecureContext, so a renewed certificate is used
// by new connections without a restart; optional client certificates (mutual TLS).
import crypto from "node:crypto";
import fs from "node:fs/promises";
import tls from "node:tls";
import type { Logger } from "pino";
import { ConfigError } from "../../src/common/config.js";

export type ClientAuth = "none" | "requested" | "required";

export interface TlsSettings {
  certFile: string;
  keyFile: string;
  /** CA bundle that client certificates must chain to; required unless clientAuth is none. */
  caFile: string;
  clientAuth: ClientAuth;
  /** How often the files are re-read; 0: never. */
  reloadIntervalMs: number;
}

export interface LoadedTls {
  options: tls.SecureContextOptions;
  /** Hash of the files' bytes: a reload only swaps when it changes. */
  digest: string;
  fingerprint: string;
  validTo: Date;
}

/** Reads and checks the files; throws ConfigError saying what is wrong (never the key). */
export async function loadTls(s: TlsSettings, nowMs = Date.now()): Promise<LoadedTls> {
  const read = async (file: string, what: string) => {
    try {
      return await fs.readFile(file);
    } catch (err) {
      throw new ConfigError(`${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const cert = await read(s.certFile, "FLOE_TLS_CERT_FILE");
  const key = await read(s.keyFile, "FLOE_TLS_KEY_FILE");
  const ca = s.caFile ? await read(s.caFile, "FLOE_TLS_CA_FILE") : undefined;
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`FLOE_TLS_CERT_FILE ${s.certFile} holds no PEM certificate: ${(err as Error).message}`);
  }
  const validTo = new Date(x509.validTo);
  const validFrom = new Date(x509.validFrom);
  if (validTo.getTime() <= nowMs) throw new ConfigError(`FLOE_TLS_CERT_FILE ${s.certFile}: certificate expired at ${validTo.toISOString()}`);
  if (validFrom.getTime() > nowMs) throw new ConfigError(`FLOE_TLS_CERT_FILE ${s.certFile}: certificate is not valid before ${validFrom.toISOString()}`);
  const options: tls.SecureContextOptions = { cert, key, ...(ca ? { ca } : {}) };
  try {
    // Fails here, with a clear message, on a key that does not match the certificate.
    tls.createSecureContext(options);
  } catch (err) {
    throw new ConfigError(`FLOE_TLS_CERT_FILE / FLOE_TLS_KEY_FILE: ${(err as Error).message}`);
  }
  const digest = crypto.createHash("sha256").update(cert).update(key).update(ca ?? "").digest("hex");
  return { options, digest, fingerprint: x509.fingerprint256, validTo };
}

export function serverOptions(s: TlsSettings, loaded: LoadedTls): tls.TlsOptions {
  return {
    ...loaded.options,
    requestCert: s.clientAuth !== "none",
    // "requested": a client without a certificate is let in; one with a bad certificate is
    // closed by the listener after the handshake (Kafka's ssl.client.auth=requested).
    rejectUnauthorized: s.clientAuth === "required",
    handshakeTimeout: 10_000,
    minVersion: "TLSv1.2",
  };
}

/**
 * Re-reads the certificate files every `reloadIntervalMs` and hands changed, valid ones to
 * `apply` (tls.Server#setSecureContext). A broken or expired replacement is logged and the
 * current certificate kept: a bad Secret update must not take the listener down.
 */
export class TlsReloader {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly settings: TlsSettings,
    private current: LoadedTls,
    private readonly apply: (options: tls.TlsOptions) => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.settings.reloadIntervalMs <= 0) return;
    this.timer = setInterval(() => void this.check(), this.settings.reloadIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One check; returns true if a new certificate was applied. */
  async check(): Promise<boolean> {
    if (this.running) return false;
    this.running = true;
    try {
      const next = await loadTls(this.settings);
      if (next.digest === this.current.digest) return false;
      this.apply(serverOptions(this.settings, next));
      this.logger.info({ fingerprint: next.fingerprint, validTo: next.validTo.toISOString(), previous: this.current.fingerprint }, "TLS certificate reloaded");
      this.current = next;
      return true;
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, "TLS certificate files changed but cannot be used; keeping the current certificate");
      return false;
    } finally {
      this.running = false;
    }
  }
}

/**
 * The principal of a verified client certificate: `User:` + its subject as an RFC 2253
 * distinguished name (most specific first, Kafka's default mapping), or `User:` + its
 * common name with FLOE_TLS_PRINCIPAL=cn.
 */
export function principalOfCertificate(raw: Buffer, mapping: "dn" | "cn"): string | null {
  const subject = new crypto.X509Certificate(raw).subject;
  // Node prints one attribute per line, in certificate order (least specific first).
  const rdns = subject.split("\n").filter(Boolean);
  if (mapping === "cn") {
    const cn = rdns.find((r) => r.startsWith("CN="));
    return cn ? `User:${cn.slice(3)}` : null;
  }
  return rdns.length ? `User:${rdns.reverse().join(",")}` : null;
}
