import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BROKER_NODE_FLAGS } from "../../broker/node-flags.js";
import { freePort } from "../ports.js";
export { freePort };

/**
 * The real-client harness: brokers as child processes (Floe's own, or Apache Kafka as the
 * reference), the command-line clients in tools/clients run as they would be by a user, and
 * a checker of what a correct broker guarantees.
 *
 * Every client CLI shares one interface (see tools/clients/*): `produce`, `consume`,
 * `create-topic`, one JSON line per acknowledged or consumed record `{p, o, k, v}`, then a
 * summary line `{done: true, ...}`. Record i has key `k-i` and value `v-i`.
 */

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CACHE = process.env.FLOE_CACHE ?? path.join(os.homedir(), ".cache/floe");

// ---------------------------------------------------------------------------------------
// Child processes

const live = new Set<ChildProcess>();
process.once("exit", () => {
  // A test that failed half-way must not leave brokers behind: kill their process groups.
  for (const child of live) killGroup(child, "SIGKILL");
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** The last `max` characters a process wrote, stdout and stderr interleaved. */
class Tail {
  private text = "";
  constructor(private readonly max = 64 * 1024) {}
  add(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
  }
  toString(): string {
    return this.text.slice(-this.max);
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

function accepts(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

/** Resolves once `port` accepts TCP connections; rejects if `child` exits first or time runs out. */
export async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess, what = `port ${port}`): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before accepting connections on ${port}`);
    }
    if (await accepts(port)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not accept connections on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------
// Brokers

export interface BrokerHandle {
  readonly kind: "floe" | "kafka";
  readonly port: number;
  /** `127.0.0.1:<port>`, what clients are given as bootstrap. */
  readonly bootstrap: string;
  readonly dataDir: string;
  /** The last 64 KiB the broker process wrote (stdout and stderr). */
  logs(): string;
  /** Signals the process (SIGTERM by default; SIGKILL for a crash) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Stops it (SIGTERM by default) and starts it again on the same port and data folder. */
  restart(signal?: NodeJS.Signals): Promise<void>;
}

interface ProcessSpec {
  kind: "floe" | "kafka";
  port: number;
  dataDir: string;
  readyTimeoutMs: number;
  /** How long a stop waits for a clean exit before SIGKILL. */
  stopTimeoutMs: number;
  spawn(): ChildProcess;
}

async function supervise(spec: ProcessSpec): Promise<BrokerHandle> {
  const tail = new Tail();
  let child: ChildProcess | undefined;

  const launch = async () => {
    const c = spec.spawn();
    live.add(c);
    c.stdout?.on("data", (d: Buffer) => tail.add(d));
    c.stderr?.on("data", (d: Buffer) => tail.add(d));
    c.once("exit", (code, signal) => {
      live.delete(c);
      tail.add(`\n[harness] ${spec.kind} exited (${code ?? signal})\n`);
    });
    child = c;
    try {
      await waitForPort(spec.port, spec.readyTimeoutMs, c, spec.kind);
    } catch (err) {
      killGroup(c, "SIGKILL");
      await exited(c);
      throw new Error(`${(err as Error).message}\n--- ${spec.kind} output (tail) ---\n${tail.toString().slice(-8000)}`);
    }
  };

  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    const c = child;
    if (!c) return;
    child = undefined;
    killGroup(c, signal);
    const timer = setTimeout(() => killGroup(c, "SIGKILL"), spec.stopTimeoutMs);
    await exited(c);
    clearTimeout(timer);
  };

  await launch();
  return {
    kind: spec.kind,
    port: spec.port,
    bootstrap: `127.0.0.1:${spec.port}`,
    dataDir: spec.dataDir,
    logs: () => tail.toString(),
    stop,
    async restart(signal: NodeJS.Signals = "SIGTERM") {
      await stop(signal);
      await launch();
    },
  };
}

export interface StartBrokerOptions {
  /** Data folder (FLOE_DATA_DIR); a fresh temporary one by default. */
  dataDir?: string;
  /** Kafka listener port (FLOE_PORT); a free one by default. */
  port?: number;
  /** More environment for the broker, e.g. FLOE_LOG_LEVEL. */
  env?: Record<string, string>;
}

/**
 * Starts Floe's broker as a user would (`node --import tsx broker/main.ts`), configured by
 * environment only (FLOE_PORT, FLOE_DATA_DIR, FLOE_HOST=127.0.0.1), and waits up to 30 s
 * for its port to accept connections.
 */
export async function startBroker(opts: StartBrokerOptions = {}): Promise<BrokerHandle> {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "floe-broker-"));
  const env = {
    ...process.env,
    FLOE_PORT: String(port),
    FLOE_DATA_DIR: dataDir,
    FLOE_HOST: "127.0.0.1",
    // Not part of the contract above, only kind to a shared machine: no fixed metrics port
    // (two brokers at once must not collide) and the same group start delay as the Kafka
    // reference below (group.initial.rebalance.delay.ms=0).
    FLOE_HTTP_PORT: "0",
    FLOE_GROUP_INITIAL_REBALANCE_DELAY_MS: "0",
    ...opts.env,
  };
  return supervise({
    kind: "floe",
    port,
    dataDir,
    readyTimeoutMs: 30_000,
    stopTimeoutMs: 20_000,
    spawn: () =>
      spawn(process.execPath, [...BROKER_NODE_FLAGS, "--import", "tsx", path.join(REPO, "broker/main.ts")], {
        cwd: REPO,
        env,
        detached: true, // own process group, so a stop reaches everything it started
        stdio: ["ignore", "pipe", "pipe"],
      }),
  });
}

export interface StartKafkaOptions {
  port?: number;
  dataDir?: string;
  /** JVM heap, e.g. "1G" (default 512M: tests share two cores with everything else). */
  heap?: string;
}

/** Runs a script to completion; rejects with its output if it fails. */
export function runScript(file: string, args: string[], timeoutMs: number): Promise<{ output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [file, ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"], detached: true });
    live.add(child);
    const tail = new Tail(256 * 1024);
    child.stdout.on("data", (d: Buffer) => tail.add(d));
    child.stderr.on("data", (d: Buffer) => tail.add(d));
    const timer = setTimeout(() => {
      tail.add(`\n[harness] killed after ${timeoutMs} ms\n`);
      killGroup(child, "SIGKILL");
    }, timeoutMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const output = tail.toString();
      if (code === 0) resolve({ output, ms: Date.now() - started });
      else reject(new Error(`${path.relative(REPO, file)} ${args.join(" ")} failed (${code ?? signal}):\n${output.slice(-16_000)}`));
    });
  });
}

/**
 * Apache Kafka (tools/kafka: installed from Maven Central, single-node KRaft, broker and
 * controller in one process on loopback). Installs it first if needed (minutes, once).
 */
export async function startKafka(opts: StartKafkaOptions = {}): Promise<BrokerHandle> {
  await runScript(path.join(REPO, "tools/kafka/install.sh"), [], 900_000);
  const port = opts.port ?? (await freePort());
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "kafka-ref-"));
  return supervise({
    kind: "kafka",
    port,
    dataDir,
    readyTimeoutMs: 90_000,
    stopTimeoutMs: 60_000,
    spawn: () =>
      spawn("bash", [path.join(REPO, "tools/kafka/start.sh"), String(port), dataDir, opts.heap ?? "512M"], {
        cwd: REPO,
        env: { ...process.env, KAFKA_CONTROLLER_PORT: String(controllerPort) },
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      }),
  });
}

export type TargetKind = "floe" | "kafka";

/** Which broker the client suite runs against: FLOE_TEST_TARGET=kafka for the reference. */
export function targetKind(): TargetKind {
  const t = process.env.FLOE_TEST_TARGET ?? "floe";
  if (t !== "floe" && t !== "kafka") throw new Error(`FLOE_TEST_TARGET must be "floe" or "kafka", not ${JSON.stringify(t)}`);
  return t;
}

export function startTarget(kind: TargetKind = targetKind()): Promise<BrokerHandle> {
  return kind === "kafka" ? startKafka() : startBroker();
}

// ---------------------------------------------------------------------------------------
// Clients

export type ClientName = "kafkajs" | "librdkafka" | "java" | "franz-go";
export const CLIENTS: readonly ClientName[] = ["kafkajs", "librdkafka", "java", "franz-go"];
/** The argument of tools/clients/install.sh that installs each client. */
export const INSTALL_TARGET: Record<ClientName, string> = { kafkajs: "kafkajs", librdkafka: "python", java: "java", "franz-go": "go" };

export interface InstallResult {
  ok: boolean;
  output: string;
  ms: number;
}

/**
 * Runs `tools/clients/install.sh <client>` (idempotent, cached under $FLOE_CACHE). Never
 * throws: a test asserts `ok` and shows `output`, so a failed install fails, never skips.
 */
export async function installClient(client: ClientName, timeoutMs = 900_000): Promise<InstallResult> {
  const started = Date.now();
  try {
    const { output, ms } = await runScript(path.join(REPO, "tools/clients/install.sh"), [INSTALL_TARGET[client]], timeoutMs);
    return { ok: true, output, ms };
  } catch (err) {
    return { ok: false, output: (err as Error).message, ms: Date.now() - started };
  }
}

/** Installs each client for a suite that cannot run without them: throws with the installer's output on the first failure. */
export async function requireClients(clients: readonly ClientName[]): Promise<void> {
  for (const c of clients) {
    const installed = await installClient(c);
    if (!installed.ok) throw new Error(`installing ${c} failed:\n${installed.output}`);
  }
}

export function clientCommand(client: ClientName, args: string[]): [string, string[]] {
  switch (client) {
    case "kafkajs":
      return [process.execPath, ["--import", "tsx", path.join(REPO, "tools/clients/kafkajs/floe-client.ts"), ...args]];
    case "librdkafka":
      return [path.join(CACHE, "venv/bin/python"), [path.join(REPO, "tools/clients/python/floe_client.py"), ...args]];
    case "java":
      // JVM flags only shorten start-up on two cores; the client's own settings stay default.
      return ["java", ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", `${path.join(CACHE, "java-classes")}${path.delimiter}${path.join(CACHE, "java-lib")}/*`, "FloeClient", ...args]];
    case "franz-go":
      return [path.join(CACHE, "bin/floe-franz"), args];
  }
}

export interface ClientRecord {
  p: number;
  o: number;
  k: string;
  v: string;
}

export interface ClientRun {
  records: ClientRecord[];
  summary: Record<string, unknown>;
  stderr: string;
  ms: number;
}

interface ClientExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

/** Runs one client command to its end (killed after `timeoutMs`); rejects only if it cannot start. */
function spawnClient(client: ClientName, args: string[], timeoutMs: number): Promise<ClientExit> {
  const [cmd, argv] = clientCommand(client, args);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    const out: Buffer[] = [];
    const err = new Tail(64 * 1024);
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.add(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`${client} ${args.join(" ")}: could not start ${cmd}: ${e.message} (is the client installed? tools/clients/install.sh ${INSTALL_TARGET[client]})`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: err.toString(), timedOut, ms: Date.now() - started });
    });
  });
}

/**
 * Runs one client command and parses its JSON lines. Rejects, with the client's stderr,
 * if it exits non-zero, prints no summary, prints a line that is not JSON, or runs past
 * `timeoutMs`.
 */
export async function runClient(client: ClientName, args: string[], timeoutMs = 180_000): Promise<ClientRun> {
  const what = `${client} ${args.join(" ")}`;
  const r = await spawnClient(client, args, timeoutMs);
  const fail = (why: string) => new Error(`${what}: ${why}\n--- stderr (tail) ---\n${r.stderr.slice(-6000)}\n--- stdout (tail) ---\n${r.stdout.slice(-1000)}`);
  if (r.timedOut) throw fail(`no exit within ${timeoutMs} ms`);
  const records: ClientRecord[] = [];
  let summary: Record<string, unknown> | undefined;
  for (const line of r.stdout.split("\n")) {
    if (!line.trim()) continue;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw fail(`stdout line is not JSON: ${line.slice(0, 200)}`);
    }
    if (parsed.done === true) summary = parsed;
    else if (summary) throw fail(`record printed after the summary: ${line}`);
    else records.push(parsed as unknown as ClientRecord);
  }
  if (r.code !== 0) throw fail(`exited ${r.code ?? r.signal}`);
  if (!summary) throw fail("printed no summary line");
  return { records, summary, stderr: r.stderr, ms: r.ms };
}

/** Exit codes every client CLI shares (tools/clients/*): failed authentication and failed authorization are told apart. */
export const EXIT_AUTHENTICATION_FAILED = 3;
export const EXIT_AUTHORIZATION_FAILED = 4;

/**
 * Runs a client command that should fail; resolves with its exit code and stderr. A run
 * past `timeoutMs` rejects, unless `untilKilled` says the client is expected to retry
 * forever (then it is killed and resolves with `timedOut`).
 */
export async function runClientExpectingFailure(client: ClientName, args: string[], timeoutMs = 120_000, untilKilled = false): Promise<{ code: number | null; stderr: string; stdout: string; timedOut: boolean }> {
  const r = await spawnClient(client, args, timeoutMs);
  if (r.timedOut && !untilKilled) throw new Error(`${client} ${args.join(" ")}: no exit within ${timeoutMs} ms\n${r.stderr.slice(-4000)}`);
  return { code: r.code, stderr: r.stderr, stdout: r.stdout, timedOut: r.timedOut };
}

// ---------------------------------------------------------------------------------------
// Checker

export interface CheckOptions {
  /** Also fail on consumed records that were not acknowledged in `acked` (default true). */
  exact?: boolean;
}

/**
 * What a correct broker guarantees, as a list of problems (empty: all good):
 * - acknowledgements are unique: no two records acknowledged at one partition/offset;
 * - completeness: every acknowledged record is consumed, at the partition and offset it was
 *   acknowledged with, with its key;
 * - no duplicates: no partition/offset and no value consumed twice;
 * - order: offsets rise strictly per partition in the order the consumer saw them;
 * - with `exact`: nothing consumed that was not acknowledged (e.g. old records re-read by a
 *   group that should have resumed from its commits).
 */
export function checkDelivery(acked: readonly ClientRecord[], consumed: readonly ClientRecord[], opts: CheckOptions = {}): string[] {
  const exact = opts.exact ?? true;
  const problems: string[] = [];
  const at = (r: ClientRecord) => `${r.p}/${r.o}`;
  const byPosition = new Map<string, ClientRecord>();
  const byValue = new Map<string, ClientRecord>();
  for (const a of acked) {
    if (byPosition.has(at(a))) problems.push(`${a.v} and ${byPosition.get(at(a))!.v} both acknowledged at ${at(a)}`);
    if (byValue.has(a.v)) problems.push(`${a.v} acknowledged twice (${at(byValue.get(a.v)!)} and ${at(a)})`);
    if (a.k !== `k-${a.v.slice(2)}`) problems.push(`acknowledged ${a.v} with key ${a.k}`);
    byPosition.set(at(a), a);
    byValue.set(a.v, a);
  }
  const seenPosition = new Set<string>();
  const seenValue = new Set<string>();
  const lastOffset = new Map<number, number>();
  for (const c of consumed) {
    if (seenPosition.has(at(c))) problems.push(`${at(c)} consumed twice`);
    else if (seenValue.has(c.v)) problems.push(`${c.v} consumed twice (again at ${at(c)})`);
    seenPosition.add(at(c));
    seenValue.add(c.v);
    const prev = lastOffset.get(c.p);
    if (prev !== undefined && c.o <= prev) problems.push(`partition ${c.p}: offset ${c.o} consumed after ${prev}`);
    lastOffset.set(c.p, Math.max(prev ?? -1, c.o));
    const a = byPosition.get(at(c));
    if (a && (a.v !== c.v || a.k !== c.k)) problems.push(`${at(c)}: acknowledged ${a.k}=${a.v}, consumed ${c.k}=${c.v}`);
    else if (!a && exact) problems.push(`${c.v} consumed at ${at(c)} but not acknowledged there${byValue.has(c.v) ? ` (acknowledged at ${at(byValue.get(c.v)!)})` : ""}`);
  }
  let missing = 0;
  for (const a of acked) if (!seenPosition.has(at(a))) missing++;
  if (missing) {
    const first = acked.filter((a) => !seenPosition.has(at(a))).slice(0, 5);
    problems.push(`${missing} acknowledged records never consumed, e.g. ${first.map((a) => `${a.v}@${at(a)}`).join(", ")}`);
  }
  return problems.length > 25 ? [...problems.slice(0, 25), `... and ${problems.length - 25} more`] : problems;
}

/** Records per partition, e.g. to check that a keyed producer used more than one. */
export function partitionsUsed(records: readonly ClientRecord[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of records) m.set(r.p, (m.get(r.p) ?? 0) + 1);
  return m;
}
