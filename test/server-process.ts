import { spawn, type ChildProcess } from "node:child_process";
import { freePort } from "./ports.js";

/**
 * A test server process on a free loopback port: started, waited on until `healthy` says so,
 * and stopped (SIGTERM, then SIGKILL after 5 s). A port picked free can be taken before the
 * server binds it, so a failed start is tried again on new ports. MinIO and moto share this.
 */
export interface ServerProcessOptions {
  /** For error messages. */
  name: string;
  command: string;
  args(port: number): Promise<string[]> | string[];
  env: NodeJS.ProcessEnv;
  healthy(port: number): Promise<boolean>;
  startTimeoutMs?: number;
  /** Pipe the server's output to this process's stderr. Default: FLOE_TEST_LOGS set. */
  verbose?: boolean;
}

export interface ServerProcess {
  readonly port: number;
  readonly proc: ChildProcess;
  /** The last 8000 characters of its output. */
  output(): string;
  stop(): Promise<void>;
}

export async function startServerProcess(opts: ServerProcessOptions): Promise<ServerProcess> {
  const verbose = opts.verbose ?? Boolean(process.env.FLOE_TEST_LOGS);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    let output = "";
    const proc = spawn(opts.command, await opts.args(port), { env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    const collect = (d: Buffer) => {
      output = (output + d.toString()).slice(-8000);
      if (verbose) process.stderr.write(d);
    };
    proc.stdout!.on("data", collect);
    proc.stderr!.on("data", collect);
    let dead = false;
    proc.once("exit", () => (dead = true));
    proc.once("error", (err) => {
      dead = true;
      output += `\n${err.message}`;
    });
    let ok = false;
    while (Date.now() < deadline && !dead) {
      if (await opts.healthy(port).catch(() => false)) {
        ok = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (ok) {
      let stopped: Promise<void> | undefined;
      return {
        port,
        proc,
        output: () => output,
        stop() {
          stopped ??= (async () => {
            if (proc.exitCode === null && proc.signalCode === null) {
              const gone = new Promise<void>((r) => proc.once("exit", () => r()));
              proc.kill("SIGTERM");
              const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
              await gone;
              clearTimeout(timer);
            }
          })();
          return stopped;
        },
      };
    }
    proc.kill("SIGKILL");
    if (tries >= 2 || Date.now() >= deadline) throw new Error(`${opts.name} did not become healthy on 127.0.0.1:${port}:\n${output}`);
  }
}

