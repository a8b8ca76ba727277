import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { freePort } from "./ports.js";
import { startServerProcess, type ServerProcess } from "./server-process.js";

/**
 * A real S3-compatible server (MinIO, built from source by tools/minio/install.sh) on a free
 * loopback port with a throwaway data folder, for tests that need real S3 semantics.
 *
 *   const s3 = await startMinio();            // bucket created, server healthy
 *   new S3ObjectStore({ endpoint: s3.endpoint, bucket: s3.bucket, forcePathStyle: true,
 *                       credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey } });
 *   await s3.stop();                          // kills the server, removes its data
 *
 * The first call on a machine without the binary builds it (several minutes): give the
 * hook that calls it a long timeout, or run tools/minio/install.sh beforehand.
 */
export interface MinioServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  readonly accessKey: string;
  readonly secretKey: string;
  /** A bucket created for this server. */
  readonly bucket: string;
  readonly region: string;
  readonly dataDir: string;
  /** Creates another bucket. */
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartMinioOptions {
  bucket?: string;
  /** Fail if MinIO is not healthy within this time. Default 60 s. */
  startTimeoutMs?: number;
  /** Pipe MinIO's output to this process's stderr (debugging). Default: FLOE_TEST_LOGS set. */
  verbose?: boolean;
  /** Folder to keep MinIO's data in (a temporary folder under it). Default: the system's temporary folder. */
  dataRoot?: string;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Where tools/minio/install.sh puts the binary. */
export function minioBinary(): string {
  const cache = process.env.FLOE_CACHE || path.join(os.homedir(), ".cache", "floe");
  return path.join(cache, "bin", "minio");
}

/** Builds MinIO if it is not there yet (idempotent; a no-op once built). */
export function ensureMinio(): string {
  const bin = minioBinary();
  const res = spawnSync("bash", [path.join(repoRoot, "tools", "minio", "install.sh")], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (res.status !== 0 || !fs.existsSync(bin)) {
    throw new Error(`could not build MinIO with tools/minio/install.sh (exit ${res.status}):\n${(res.stdout ?? "") + (res.stderr ?? "")}`.slice(0, 8000));
  }
  return bin;
}

export async function startMinio(opts: StartMinioOptions = {}): Promise<MinioServer> {
  const bin = ensureMinio();
  const dataDir = fs.mkdtempSync(path.join(opts.dataRoot ?? os.tmpdir(), "floe-minio-"));
  const accessKey = "floe-test";
  const secretKey = "floe-test-secret-" + Math.random().toString(36).slice(2, 10);
  const region = "us-east-1";
  const bucket = opts.bucket ?? "floe-test";

  let server: ServerProcess;
  try {
    server = await startServerProcess({
      name: "MinIO",
      command: bin,
      args: async (port) => ["server", path.join(dataDir, "data"), "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${await freePort()}`, "--certs-dir", path.join(dataDir, "certs"), "--quiet"],
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: dataDir,
        MINIO_ROOT_USER: accessKey,
        MINIO_ROOT_PASSWORD: secretKey,
        MINIO_REGION: region,
        MINIO_BROWSER: "off",
        MINIO_UPDATE: "off",
        MINIO_CI_CD: "1",
      },
      healthy: minioHealthy,
      startTimeoutMs: opts.startTimeoutMs,
      verbose: opts.verbose,
    });
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const port = server.port;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ region, endpoint, forcePathStyle: true, credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } });
  const createBucket = async (name: string) => {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  };
  try {
    await createBucket(bucket);
  } catch (err) {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    port,
    accessKey,
    secretKey,
    bucket,
    region,
    dataDir,
    createBucket,
    stop() {
      stopped ??= (async () => {
        client.destroy();
        await server.stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

async function minioHealthy(port: number): Promise<boolean> {
  // live means the process is up; ready means it serves S3 requests.
  const live = await fetch(`http://127.0.0.1:${port}/minio/health/live`, { signal: AbortSignal.timeout(1000) });
  if (!live.ok) return false;
  const ready = await fetch(`http://127.0.0.1:${port}/minio/health/ready`, { signal: AbortSignal.timeout(1000) });
  return ready.ok;
}

// Kept here too: other tests import it from this file.
export { freePort };
