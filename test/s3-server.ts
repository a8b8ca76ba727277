import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";

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
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-minio-"));
  const accessKey = "floe-test";
  const secretKey = "floe-test-secret-" + Math.random().toString(36).slice(2, 10);
  const region = "us-east-1";
  const bucket = opts.bucket ?? "floe-test";
  const verbose = opts.verbose ?? Boolean(process.env.FLOE_TEST_LOGS);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);

  let child: ChildProcess | undefined;
  let port = 0;
  let output = "";
  // A port picked free can be taken before MinIO binds it: try again with new ports.
  for (let tries = 0; ; tries++) {
    port = await freePort();
    const consolePort = await freePort();
    output = "";
    const proc = spawn(bin, ["server", path.join(dataDir, "data"), "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`, "--certs-dir", path.join(dataDir, "certs"), "--quiet"], {
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
      stdio: ["ignore", "pipe", "pipe"],
    });
    const collect = (d: Buffer) => {
      output = (output + d.toString()).slice(-8000);
      if (verbose) process.stderr.write(d);
    };
    proc.stdout!.on("data", collect);
    proc.stderr!.on("data", collect);
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    const healthy = await waitHealthy(port, deadline, exited);
    if (healthy) {
      child = proc;
      break;
    }
    proc.kill("SIGKILL");
    if (tries >= 2 || Date.now() >= deadline) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`MinIO did not become healthy on 127.0.0.1:${port}:\n${output}`);
    }
  }

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ region, endpoint, forcePathStyle: true, credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } });
  const createBucket = async (name: string) => {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  };
  const proc = child;
  try {
    await createBucket(bucket);
  } catch (err) {
    proc.kill("SIGKILL");
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
        if (proc.exitCode === null && proc.signalCode === null) {
          const gone = new Promise<void>((r) => proc.once("exit", () => r()));
          proc.kill("SIGTERM");
          const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
          await gone;
          clearTimeout(timer);
        }
        fs.rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

async function waitHealthy(port: number, deadline: number, exited: Promise<number | null>): Promise<boolean> {
  let dead = false;
  void exited.then(() => (dead = true));
  while (Date.now() < deadline && !dead) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/minio/health/live`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) {
        // live means the process is up; ready means it serves S3 requests.
        const ready = await fetch(`http://127.0.0.1:${port}/minio/health/ready`, { signal: AbortSignal.timeout(1000) });
        if (ready.ok) return true;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
