import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Runs one of the command-line clients in tools/clients (all share one interface) and
 * parses its JSON lines. Each client uses its library's default settings.
 */
export type ClientName = "kafkajs" | "librdkafka" | "java" | "franz-go";

export interface ClientRecord {
  p: number;
  o: number;
  k: string;
  v: string;
}

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CACHE = process.env.FLOE_CACHE ?? path.join(os.homedir(), ".cache/floe");

function commandFor(client: ClientName, args: string[]): [string, string[]] {
  switch (client) {
    case "kafkajs":
      return [process.execPath, ["--import", "tsx", path.join(REPO, "tools/clients/kafkajs/floe-client.ts"), ...args]];
    case "librdkafka":
      return [path.join(CACHE, "venv/bin/python"), [path.join(REPO, "tools/clients/python/floe_client.py"), ...args]];
    case "java":
      return ["java", ["-cp", `${path.join(CACHE, "java-classes")}:${path.join(CACHE, "java-lib")}/*`, "FloeClient", ...args]];
    case "franz-go":
      return [path.join(CACHE, "bin/floe-franz"), args];
  }
}

export interface ClientRun {
  records: ClientRecord[];
  summary: Record<string, unknown>;
  stderr: string;
}

export function runClient(client: ClientName, args: string[], timeoutMs = 120_000): Promise<ClientRun> {
  const [cmd, argv] = commandFor(client, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${client} ${args.join(" ")} timed out after ${timeoutMs} ms\nstderr: ${err.slice(-2000)}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const lines = out.split("\n").filter((l) => l.startsWith("{"));
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const summary = parsed.find((l) => l.done === true);
      if (code !== 0 || !summary) {
        reject(new Error(`${client} ${args.join(" ")} exited ${code}\nstderr: ${err.slice(-3000)}\nstdout tail: ${out.slice(-500)}`));
        return;
      }
      resolve({ records: parsed.filter((l) => l.done === undefined) as unknown as ClientRecord[], summary, stderr: err });
    });
  });
}

/**
 * What a correct broker guarantees: every acknowledged record comes back exactly once,
 * at the partition and offset it was acknowledged with, in offset order per partition.
 */
export function checkDelivery(acked: ClientRecord[], consumed: ClientRecord[]): string[] {
  const problems: string[] = [];
  const byValue = new Map(consumed.map((r) => [r.v, r]));
  if (byValue.size !== consumed.length) problems.push(`${consumed.length - byValue.size} duplicate records consumed`);
  for (const a of acked) {
    const c = byValue.get(a.v);
    if (!c) problems.push(`acknowledged ${a.v} at ${a.p}/${a.o} never consumed`);
    else if (c.p !== a.p || c.o !== a.o) problems.push(`${a.v} acknowledged at ${a.p}/${a.o} but consumed at ${c.p}/${c.o}`);
    if (problems.length > 10) break;
  }
  const lastOffset = new Map<number, number>();
  for (const c of consumed) {
    const prev = lastOffset.get(c.p);
    if (prev !== undefined && c.o <= prev) problems.push(`partition ${c.p}: offset ${c.o} after ${prev}`);
    lastOffset.set(c.p, c.o);
  }
  return problems.slice(0, 20);
}
