// Side-by-side benchmark: Floe's broker and Apache Kafka (from Maven Central) on this
// machine, driven by Apache Kafka's own perf tools (ProducerPerformance, ConsumerPerformance)
// with identical settings. Prints a markdown table with ratios and writes it to
// bench/results/latest.md.   npm run bench [-- --records 300000 --record-size 1024]
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Kafka, logLevel } from "kafkajs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = process.env.FLOE_CACHE ?? path.join(os.homedir(), ".cache/floe");
const CP = `${path.join(CACHE, "kafka/libs")}/*`;

const argv = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const RECORDS = opt("records", 300_000);
const RECORD_SIZE = opt("record-size", 1024);
const PARTITIONS = opt("partitions", 6);
const LATENCY_RATE = opt("latency-rate", 5000);
const LATENCY_SECONDS = opt("latency-seconds", 20);

interface Target {
  name: string;
  port: number;
  process: ChildProcess;
  pid: number;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitForPort(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`port ${port} did not open`);
}

/** Peak resident set size of a process, from the kernel's own high-water mark. */
function peakRssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

async function startFloe(): Promise<Target> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-bench-"));
  const child = spawn(process.execPath, ["--import", "tsx", "broker/main.ts"], {
    cwd: REPO,
    env: { ...process.env, FLOE_HOST: "127.0.0.1", FLOE_PORT: String(port), FLOE_HTTP_PORT: "-1", FLOE_DATA_DIR: dataDir, FLOE_LOG_LEVEL: "warn", FLOE_GROUP_INITIAL_REBALANCE_DELAY_MS: "0" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitForPort(port);
  return { name: "Floe", port, process: child, pid: child.pid! };
}

async function startKafka(): Promise<Target> {
  execFileSync("bash", [path.join(REPO, "tools/kafka/install.sh")], { stdio: "inherit" });
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "kafka-bench-"));
  // start.sh execs java, so the child's pid is the broker's.
  const child = spawn("bash", [path.join(REPO, "tools/kafka/start.sh"), String(port), dataDir, "1G"], { stdio: ["ignore", "ignore", "ignore"] });
  await waitForPort(port, 120_000);
  return { name: "Apache Kafka 4.1.1", port, process: child, pid: child.pid! };
}

function java(mainClass: string, args: string[]): string {
  return execFileSync("java", ["-Xmx512m", "-cp", CP, mainClass, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "pipe"] });
}

interface ProducerFigures {
  recordsPerSec: number;
  mibPerSec: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

/** Parses ProducerPerformance's final summary line. */
function producerSummary(out: string): ProducerFigures {
  const line = out.trim().split("\n").filter((l) => l.includes("records sent")).pop() ?? "";
  const num = (re: RegExp) => Number(re.exec(line)?.[1] ?? NaN);
  return {
    recordsPerSec: num(/([\d.]+) records\/sec/),
    mibPerSec: num(/\(([\d.]+) MB\/sec\)/),
    avgMs: num(/([\d.]+) ms avg latency/),
    p50Ms: num(/(\d+) ms 50th/),
    p99Ms: num(/(\d+) ms 99th/),
    p999Ms: num(/(\d+) ms 99.9th/),
  };
}

async function benchTarget(t: Target) {
  const bootstrap = `127.0.0.1:${t.port}`;
  const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "bench-throughput", numPartitions: PARTITIONS }, { topic: "bench-latency", numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();
  const props = ["--producer-props", `bootstrap.servers=${bootstrap}`, "acks=all", "linger.ms=5", "batch.size=131072", "compression.type=none"];
  process.stderr.write(`  ${t.name}: throughput (${RECORDS} x ${RECORD_SIZE} B, acks=all)\n`);
  const throughput = producerSummary(java("org.apache.kafka.tools.ProducerPerformance", ["--topic", "bench-throughput", "--num-records", String(RECORDS), "--record-size", String(RECORD_SIZE), "--throughput", "-1", ...props]));
  process.stderr.write(`  ${t.name}: latency at ${LATENCY_RATE} records/s for ${LATENCY_SECONDS} s\n`);
  const latency = producerSummary(java("org.apache.kafka.tools.ProducerPerformance", ["--topic", "bench-latency", "--num-records", String(LATENCY_RATE * LATENCY_SECONDS), "--record-size", String(RECORD_SIZE), "--throughput", String(LATENCY_RATE), ...props]));
  process.stderr.write(`  ${t.name}: consume ${RECORDS} records from offset 0\n`);
  const consumerOut = java("org.apache.kafka.tools.ConsumerPerformance", ["--bootstrap-server", bootstrap, "--topic", "bench-throughput", "--messages", String(RECORDS), "--timeout", "60000"]);
  const row = consumerOut.trim().split("\n").pop()!.split(",").map((s) => s.trim());
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
  const consume = { mibPerSec: Number(row[3]), recordsPerSec: Number(row[5]) };
  return { throughput, latency, consume, peakRssMiB: peakRssMiB(t.pid) };
}

function round(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : "n/a";
}

async function main(): Promise<void> {
  const started = new Date();
  const results: { name: string; r: Awaited<ReturnType<typeof benchTarget>> }[] = [];
  for (const start of [startFloe, startKafka]) {
    const t = await start();
    try {
      results.push({ name: t.name, r: await benchTarget(t) });
    } finally {
      t.process.kill("SIGTERM");
      await new Promise((r) => t.process.once("exit", r));
    }
  }
  const [floe, kafka] = results as [(typeof results)[0], (typeof results)[0]];
  const rows: [string, (x: (typeof results)[0]["r"]) => number, "higher" | "lower"][] = [
    ["produce throughput, records/s (acks=all, unthrottled)", (x) => x.throughput.recordsPerSec, "higher"],
    ["produce throughput, MiB/s", (x) => x.throughput.mibPerSec, "higher"],
    [`produce latency p50, ms (${LATENCY_RATE} records/s)`, (x) => x.latency.p50Ms, "lower"],
    [`produce latency p99, ms (${LATENCY_RATE} records/s)`, (x) => x.latency.p99Ms, "lower"],
    [`produce latency p99.9, ms (${LATENCY_RATE} records/s)`, (x) => x.latency.p999Ms, "lower"],
    ["catch-up consume, records/s", (x) => x.consume.recordsPerSec, "higher"],
    ["catch-up consume, MiB/s", (x) => x.consume.mibPerSec, "higher"],
    ["broker peak RSS, MiB", (x) => x.peakRssMiB, "lower"],
  ];
  const table = [
    `| measure | ${floe.name} | ${kafka.name} | Floe / Kafka | better |`,
    "|---|---:|---:|---:|---|",
    ...rows.map(([label, f, better]) => `| ${label} | ${round(f(floe.r))} | ${round(f(kafka.r))} | ${ratio(f(floe.r), f(kafka.r))} | ${better} |`),
  ].join("\n");
  const report = [
    `# Benchmark ${started.toISOString()}`,
    "",
    `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}.`,
    `Both brokers on loopback, one at a time, data on the same disk; driven by Apache Kafka's ProducerPerformance and ConsumerPerformance 4.1.1,`,
    `${RECORDS} records of ${RECORD_SIZE} B into ${PARTITIONS} partitions, acks=all, linger.ms=5, batch.size=128 KiB, no compression. Kafka runs with a 1 GiB heap.`,
    "",
    table,
    "",
    "Durability differs in Floe's favour: Floe answers acks=all only after its WAL group commit has been `fdatasync`ed; a single Kafka broker answers once the write is in the page cache (Kafka relies on replication, not fsync).",
    "",
    "Reproduce: `npm run bench` (options: `--records`, `--record-size`, `--partitions`, `--latency-rate`, `--latency-seconds`).",
    "",
  ].join("\n");
  fs.mkdirSync(path.join(REPO, "bench/results"), { recursive: true });
  fs.writeFileSync(path.join(REPO, "bench/results/latest.md"), report);
  console.log(report);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
