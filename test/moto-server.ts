import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServerProcess } from "./server-process.js";

/**
 * moto's server (an emulator of the AWS APIs, installed from PyPI by tools/moto/install.sh)
 * on a free loopback port, for the operator's S3 and EC2 calls. One process serves every
 * service; its state lives in memory and dies with it.
 *
 *   const moto = await startMoto();
 *   awsClientFactory({ endpointOverride: moto.endpoint, credentials: moto.credentials });
 *   await moto.stop();
 *
 * Cross-account access to buckets is off, as in AWS: a bucket made by another account (the
 * `x-moto-account-id` header) answers this account's HeadBucket with 403.
 */
export interface MotoServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** The account the credentials act as. */
  readonly accountId: string;
  stop(): Promise<void>;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export function motoBinary(): string {
  const cache = process.env.FLOE_CACHE || path.join(os.homedir(), ".cache", "floe");
  return path.join(cache, "moto", "bin", "moto_server");
}

/** Installs moto if it is not there yet (idempotent; a no-op once installed). */
export function ensureMoto(): string {
  const bin = motoBinary();
  const res = spawnSync("bash", [path.join(repoRoot, "tools", "moto", "install.sh")], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (res.status !== 0 || !fs.existsSync(bin)) {
    throw new Error(`could not install moto with tools/moto/install.sh (exit ${res.status}):\n${(res.stdout ?? "") + (res.stderr ?? "")}`.slice(0, 8000));
  }
  return bin;
}

export async function startMoto(opts: { startTimeoutMs?: number; verbose?: boolean } = {}): Promise<MotoServer> {
  const bin = ensureMoto();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "floe-moto-"));
  const server = await startServerProcess({
    name: "moto_server",
    command: bin,
    args: (port) => ["-H", "127.0.0.1", "-p", String(port)],
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS: "false",
      // Never reach out to AWS for anything (moto can fetch some data on demand).
      AWS_ACCESS_KEY_ID: "moto",
      AWS_SECRET_ACCESS_KEY: "moto",
    },
    healthy: async (port) => (await fetch(`http://127.0.0.1:${port}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) })).ok,
    startTimeoutMs: opts.startTimeoutMs ?? 60_000,
    verbose: opts.verbose,
  });
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    port: server.port,
    region: "us-east-1",
    credentials: { accessKeyId: "floe-operator", secretAccessKey: "moto-secret" },
    accountId: "123456789012",
    async stop() {
      await server.stop();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
