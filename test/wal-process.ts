import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BROKER_NODE_FLAGS } from "../broker/node-flags.js";
import { freePort } from "./ports.js";
export { freePort };

/** Broker child processes for WAL tests (crash, disk full): start, wait for ready, kill. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface BrokerProc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export async function startBrokerProcess(env: Record<string, string>, children: ChildProcess[]): Promise<BrokerProc> {
  const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, "--import", "tsx", "broker/main.ts"], {
    cwd: REPO,
    env: { ...process.env, FLOE_HOST: "127.0.0.1", FLOE_GROUP_INITIAL_REBALANCE_DELAY_MS: "0", FLOE_HTTP_PORT: "-1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const deadline = Date.now() + 30_000;
  while (!out.includes('"broker ready"')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`broker did not start:\n${out.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => out, exited };
}
