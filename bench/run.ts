// Side-by-side benchmark, in one run on this machine: Floe with the `file` WAL, Floe with the
// `s3` WAL (both against a real MinIO started here, so S3 requests are real and counted), and
// Apache Kafka (broker and tools from Maven Central). All three are driven by Kafka's own
// tools (ProducerPerformance, EndToEndLatency, ConsumerPerformance) with the same client
// settings. Prints a markdown table and writes it to bench/results/latest.md.
//
//   npm run bench                                   the default run (about 8 minutes)
//   npm run bench -- --records 100000 --latency-seconds 10 --e2e-records 500 --targets file,kafka
//
// Options: --records N (unthrottled produce run), --record-size B, --partitions N,
// --latency-rate R (records/s of the fixed-rate run), --latency-seconds S, --e2e-records N,
// --e2e-records-s3 N (the s3 WAL's end-to-end run), --targets file,s3,kafka (any subset, in that order;
// also kafka-fsync: Kafka syncing every append, log.flush.interval.messages=1, as Floe's WAL does),
// --data-root DIR (the brokers' data folders; default the system's temporary folder),
// --minio-data-root DIR (MinIO's data; default the system's temporary folder).
// Profiling the broker under the same load: BENCH_FLOE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
import { commandLine, listOption, numberOption, stringOption } from "./args.js";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { freePort, startMinio, type MinioServer } from "../test/s3-server.js";
import { REPO, waitForPort } from "../test/clients/harness.js";
import { BROKER_NODE_FLAGS } from "../broker/node-flags.js";

const KAFKA_VERSION = /<kafka\.version>(.+)<\/kafka\.version>/.exec(fs.readFileSync(path.join(REPO, "tools/kafka/pom.xml"), "utf8"))?.[1] ?? "?";

const RECORDS = numberOption("records", 300_000);
const RECORD_SIZE = numberOption("record-size", 1024);
const PARTITIONS = numberOption("partitions", 8);
// 20 MiB/s of 1 KiB records: the rate the issue sets the file WAL's p99 target at.
const LATENCY_RATE = numberOption("latency-rate", 20_480);
const LATENCY_SECONDS = numberOption("latency-seconds", 20);
const E2E_RECORDS = numberOption("e2e-records", 2000);
// One record at a time costs a whole WAL object flush (250 ms) on the s3 WAL: fewer, to keep the run bounded.
const E2E_RECORDS_S3 = numberOption("e2e-records-s3", 200);
const TARGETS = listOption("targets", ["file", "s3", "kafka"]);
// Where the brokers keep their data (Floe's WAL and caches, Kafka's log). `/dev/shm` (tmpfs,
// where fdatasync costs nothing) takes the shared disk out of the comparison.
const DATA_ROOT = path.resolve(stringOption("data-root", os.tmpdir()));
if (!fs.existsSync(DATA_ROOT)) throw new Error(`--data-root: ${DATA_ROOT} does not exist`);
const MINIO_DATA_ROOT = path.resolve(stringOption("minio-data-root", os.tmpdir()));
if (!fs.existsSync(MINIO_DATA_ROOT)) throw new Error(`--minio-data-root: ${MINIO_DATA_ROOT} does not exist`);
const TARGET_KEYS = ["file", "s3", "kafka", "kafka-fsync"];
for (const t of TARGETS) if (!TARGET_KEYS.includes(t)) throw new Error(`--targets: unknown target ${t} (${TARGET_KEYS.join(", ")})`);
/** The fixed-rate run's first seconds are start-up (JVM, metadata, first uploads): steady state begins after them. */
const STEADY_WARMUP_SECONDS = Math.min(5, LATENCY_SECONDS / 4);
const GiB = 2 ** 30;
const CLIENT_PROPS = ["acks=all", "linger.ms=5", "batch.size=131072", "compression.type=none"];

interface Target {
  name: string;
  port: number;
  pid: number;
  /** Floe only: its /metrics port. */
  metricsPort: number | null;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * What a WAL group commit costs on this disk right now: 1 MiB written and fdatasync'ed,
 * 30 times, in the folder the broker keeps its data in. The disk is shared with whatever
 * else runs on the machine, so this is measured before each target, beside its figures.
 */
async function diskSyncProbe(dir: string): Promise<{ p50Ms: number; p90Ms: number }> {
  const file = path.join(dir, "sync-probe.bin");
  const fh = await fs.promises.open(file, "w+");
  const buf = Buffer.alloc(1 << 20, 0x5a);
  const ms: number[] = [];
  try {
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      await fh.write(buf, 0, buf.length, i * buf.length);
      await fh.datasync();
      ms.push(performance.now() - t0);
    }
  } finally {
    await fh.close();
    fs.rmSync(file, { force: true });
  }
  ms.sort((a, b) => a - b);
  return { p50Ms: ms[15]!, p90Ms: ms[27]! };
}

/** Peak resident set size of a process, from the kernel's own high-water mark. */
function peakRssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round(kb / 1024);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return gone.then(() => clearTimeout(timer));
}

async function startFloe(walType: "file" | "s3", minio: MinioServer): Promise<Target> {
  const port = await freePort();
  const metricsPort = await freePort();
  const dataDir = fs.mkdtempSync(path.join(DATA_ROOT, `floe-bench-${walType}-`));
  const bucket = `floe-bench-${walType}`;
  await minio.createBucket(bucket);
  // BENCH_FLOE_NODE_ARGS: extra node flags for the broker, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_FLOE_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, ...nodeArgs, "--import", "tsx", "broker/main.ts"], {
    cwd: REPO,
    env: {
      ...process.env,
      FLOE_HOST: "127.0.0.1",
      FLOE_PORT: String(port),
      FLOE_HTTP_PORT: String(metricsPort),
      FLOE_DATA_DIR: dataDir,
      FLOE_LOG_LEVEL: "warn",
      FLOE_GROUP_INITIAL_REBALANCE_DELAY_MS: "0",
      FLOE_WAL_TYPE: walType,
      FLOE_OBJECT_STORE: "s3",
      FLOE_S3_ENDPOINT: minio.endpoint,
      FLOE_S3_BUCKET: bucket,
      FLOE_S3_REGION: minio.region,
      FLOE_S3_FORCE_PATH_STYLE: "true",
      FLOE_S3_ACCESS_KEY_ID: minio.accessKey,
      FLOE_S3_SECRET_ACCESS_KEY: minio.secretKey,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitForPort(port, 60_000);
  return {
    name: `Floe, ${walType} WAL`,
    port,
    pid: child.pid!,
    metricsPort,
    dataDir,
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

let kafkaLibsFolder: string | undefined;
/** Apache Kafka's jars (installed on first use): its broker, and the tools that drive every target. */
function kafkaLibs(): string {
  kafkaLibsFolder ??= execFileSync("bash", [path.join(REPO, "tools/kafka/install.sh"), "--libs"], { stdio: ["ignore", "pipe", "inherit"] }).toString().trim();
  return kafkaLibsFolder;
}

/** `syncEveryAppend`: Kafka acknowledges only after fsyncing each append, the durability Floe's WAL gives. */
async function startKafka(syncEveryAppend: boolean): Promise<Target> {
  kafkaLibs();
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(DATA_ROOT, "kafka-bench-"));
  // start.sh execs java, so the child's pid is the broker's. Full JIT, as Kafka runs in production.
  const child = spawn("bash", [path.join(REPO, "tools/kafka/start.sh"), String(port), dataDir, "1G"], {
    env: {
      ...process.env,
      KAFKA_FULL_JIT: "1",
      KAFKA_CONTROLLER_PORT: String(await freePort()),
      KAFKA_EXTRA_PROPERTIES: syncEveryAppend ? "log.flush.interval.messages=1" : "",
    },
    stdio: ["ignore", "ignore", "ignore"],
  });
  await waitForPort(port, 120_000);
  return {
    name: syncEveryAppend ? `Apache Kafka ${KAFKA_VERSION}, fsync per append` : `Apache Kafka ${KAFKA_VERSION}`,
    port,
    pid: child.pid!,
    metricsPort: null,
    dataDir,
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs one of Kafka's tools (asynchronously, so counters can be sampled meanwhile); resolves with its stdout. */
function java(mainClass: string, args: string[]): Promise<string> {
  const cp = `${kafkaLibs()}/*`;
  return new Promise((resolve, reject) => {
    const child = spawn("java", ["-Xmx512m", "-cp", cp, mainClass, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${mainClass} exited with ${code}:\n${err}\n${out.slice(-2000)}`))));
  });
}

interface ProducerFigures {
  recordsPerSec: number;
  mibPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

/**
 * Parses one of ProducerPerformance's summary lines: the whole run's (`records sent`) or,
 * with --warmup-records, the one over the records after the warm-up (`steady state records sent`).
 */
function producerSummary(out: string, which: "whole run" | "steady state" = "whole run"): ProducerFigures {
  const line = out.trim().split("\n").filter((l) => / records sent, /.test(l) && l.includes("steady state") === (which === "steady state")).pop() ?? "";
  const num = (re: RegExp) => Number(re.exec(line)?.[1] ?? NaN);
  return {
    recordsPerSec: num(/([\d.]+) records\/sec/),
    // ProducerPerformance's "MB" is 1024 * 1024 bytes.
    mibPerSec: num(/\(([\d.]+) MB\/sec\)/),
    p50Ms: num(/(\d+) ms 50th/),
    p99Ms: num(/(\d+) ms 99th/),
    p999Ms: num(/(\d+) ms 99.9th/),
  };
}

/** Parses EndToEndLatency's summary: "Avg latency: x ms" and "Percentiles: 50th = a, 99th = b, 99.9th = c". */
function endToEndSummary(out: string): { avgMs: number; p50Ms: number; p99Ms: number; p999Ms: number } {
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return { avgMs: num(/Avg latency: ([\d.]+)/), p50Ms: num(/50th = (\d+)/), p99Ms: num(/99th = (\d+)/), p999Ms: num(/99\.9th = (\d+)/) };
}

/** Floe's own counters from /metrics: S3 requests by operation, bytes produced, the s3 WAL's object puts, and the broker's major garbage collections. */
interface FloeCounters {
  majorGcs: number;
  majorGcSeconds: number;
  puts: number;
  gets: number;
  producedBytes: number;
  walObjects: number;
  walObjectBytes: number;
  walPutSeconds: number;
}

// PUT-class requests that write objects (S3 bills multipart create/part/complete as PUTs too).
const PUT_OPERATIONS = ["PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload"];

async function floeCounters(t: Target): Promise<FloeCounters | null> {
  if (t.metricsPort === null) return null;
  const text = await (await fetch(`http://127.0.0.1:${t.metricsPort}/metrics`)).text();
  let puts = 0;
  let gets = 0;
  let producedBytes = 0;
  const wal = { walObjects: 0, walObjectBytes: 0, walPutSeconds: 0 };
  const walGauges: Record<string, keyof typeof wal> = { floe_wal_object_put_seconds_count: "walObjects", floe_wal_object_bytes_put: "walObjectBytes", floe_wal_object_put_seconds_sum: "walPutSeconds" };
  const gc = { majorGcs: 0, majorGcSeconds: 0 };
  for (const line of text.split("\n")) {
    const major = /^floe_nodejs_gc_duration_seconds_(count|sum)\{[^}]*kind="major"[^}]*\} ([\d.e+-]+)$/.exec(line);
    if (major) gc[major[1] === "count" ? "majorGcs" : "majorGcSeconds"] = Number(major[2]);
    const gauge = /^(\w+)(?:\{[^}]*\})? ([\d.e+]+)$/.exec(line);
    if (gauge && walGauges[gauge[1]!]) wal[walGauges[gauge[1]!]!] = Number(gauge[2]);
    const op = /^floe_s3_operation_requests\{[^}]*operation="(\w+)"[^}]*\} ([\d.e+]+)$/.exec(line);
    if (op) {
      if (PUT_OPERATIONS.includes(op[1]!)) puts += Number(op[2]);
      else if (op[1] === "GetObject") gets += Number(op[2]);
    }
    const produced = /^floe_broker_produce_bytes_total(?:\{[^}]*\})? ([\d.e+]+)$/.exec(line);
    if (produced) producedBytes = Number(produced[1]);
  }
  return { puts, gets, producedBytes, ...wal, ...gc };
}

async function benchTarget(t: Target, e2eRecords: number) {
  const bootstrap = `127.0.0.1:${t.port}`;
  const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({
    topics: ["bench-throughput", "bench-latency", "bench-e2e"].map((topic) => ({ topic, numPartitions: PARTITIONS })),
    waitForLeaders: true,
  });
  await admin.disconnect();
  const props = ["--producer-props", `bootstrap.servers=${bootstrap}`, ...CLIENT_PROPS];
  const log = (what: string) => process.stderr.write(`  ${new Date().toISOString().slice(11, 19)} ${t.name}: ${what}\n`);

  const disk = await diskSyncProbe(t.dataDir);
  const c0 = await floeCounters(t);
  log(`throughput (${RECORDS} x ${RECORD_SIZE} B, acks=all, unthrottled)`);
  const throughput = producerSummary(await java("org.apache.kafka.tools.ProducerPerformance", ["--topic", "bench-throughput", "--num-records", String(RECORDS), "--record-size", String(RECORD_SIZE), "--throughput", "-1", ...props]));

  log(`latency at ${LATENCY_RATE} records/s for ${LATENCY_SECONDS} s`);
  // The S3 counters once at the end of the warm-up and once after the run: the PUT rate
  // between them is the steady-state figure. Only two scrapes: rendering /metrics costs the
  // broker 5-14 ms of its event loop, and one a second (a Prometheus scrape is every 15-30 s)
  // had put that in front of 1% of its requests.
  let warmedUp: { atMs: number; puts: number } | null = null;
  const sampler = setTimeout(() => {
    void floeCounters(t).then((c) => c && (warmedUp = { atMs: Date.now(), puts: c.puts }), () => undefined);
  }, STEADY_WARMUP_SECONDS * 1000);
  // The tool's own warm-up option gives the percentiles over the records after the first
  // seconds as well as over the whole run: every target's first second holds the producer's
  // start (JIT, metadata, first connections), whose sends wait up to ~300 ms anywhere.
  const warmupRecords = Math.round(LATENCY_RATE * STEADY_WARMUP_SECONDS);
  const latencyRun = java("org.apache.kafka.tools.ProducerPerformance", ["--topic", "bench-latency", "--num-records", String(LATENCY_RATE * LATENCY_SECONDS), "--record-size", String(RECORD_SIZE), "--throughput", String(LATENCY_RATE), "--warmup-records", String(warmupRecords), ...props]);
  const latencyStartMs = Date.now();
  const latencyBefore = await floeCounters(t);
  const latencyOut = await latencyRun.finally(() => clearTimeout(sampler));
  const latency = producerSummary(latencyOut);
  const steadyLatency = producerSummary(latencyOut, "steady state");
  const latencyAfter = await floeCounters(t);
  const latencyAfterMs = Date.now();
  const latencySeconds = (Date.now() - latencyStartMs) / 1000;
  const from = warmedUp as { atMs: number; puts: number } | null;
  const steadyPutsPerSec = from && latencyAfter ? (latencyAfter.puts - from.puts) / ((latencyAfterMs - from.atMs) / 1000) : NaN;

  log(`end-to-end latency, ${e2eRecords} records one at a time`);
  const configFile = path.join(os.tmpdir(), `bench-e2e-${process.pid}.properties`);
  fs.writeFileSync(configFile, "linger.ms=5\n");
  const e2e = endToEndSummary(await java("org.apache.kafka.tools.EndToEndLatency", [bootstrap, "bench-e2e", String(e2eRecords), "all", String(RECORD_SIZE), configFile]));
  fs.rmSync(configFile, { force: true });

  // Everything produced so far has had time to upload: PUTs per GiB cover all of it.
  const c1 = await floeCounters(t);
  log(`catch-up consume of ${RECORDS} records from offset 0`);
  const consumerOut = await java("org.apache.kafka.tools.ConsumerPerformance", ["--bootstrap-server", bootstrap, "--topic", "bench-throughput", "--messages", String(RECORDS), "--timeout", "60000"]);
  const c2 = await floeCounters(t);
  const row = consumerOut.trim().split("\n").pop()!.split(",").map((s) => s.trim());
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
  const consume = { mib: Number(row[2]), mibPerSec: Number(row[3]), recordsPerSec: Number(row[5]) };

  const s3 =
    c0 && c1 && c2
      ? {
          putsPerGiBProduced: (c1.puts - c0.puts) / ((c1.producedBytes - c0.producedBytes) / GiB),
          getsPerGiBRead: (c2.gets - c1.gets) / ((consume.mib * 2 ** 20) / GiB),
          steadyPutsPerSec,
        }
      : null;
  // The s3 WAL's own puts during the fixed-rate run: what its acknowledgements wait on.
  const walObjects = latencyBefore && latencyAfter ? latencyAfter.walObjects - latencyBefore.walObjects : 0;
  const walPuts =
    walObjects > 0
      ? {
          perSec: walObjects / latencySeconds,
          meanKiB: (latencyAfter!.walObjectBytes - latencyBefore!.walObjectBytes) / walObjects / 1024,
          meanPutMs: ((latencyAfter!.walPutSeconds - latencyBefore!.walPutSeconds) / walObjects) * 1000,
        }
      : null;
  const majorGcs = latencyBefore && latencyAfter ? latencyAfter.majorGcs - latencyBefore.majorGcs : 0;
  const gc =
    latencyBefore && latencyAfter
      ? { majorPerSec: majorGcs / latencySeconds, meanMajorMs: majorGcs > 0 ? ((latencyAfter.majorGcSeconds - latencyBefore.majorGcSeconds) / majorGcs) * 1000 : 0 }
      : undefined;
  return { throughput, latency, steadyLatency, e2e: { ...e2e, records: e2eRecords }, consume, s3, walPuts, gc, disk, peakRssMiB: peakRssMiB(t.pid) };
}

type Result = Awaited<ReturnType<typeof benchTarget>>;

function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return "n/a";
  return Number.isInteger(x) ? String(x) : x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a !== undefined && b !== undefined && Number.isFinite(a / b) && b !== 0 ? `${(a / b).toFixed(2)}×` : "n/a";
}

async function main(): Promise<void> {
  const started = new Date();
  const results: { key: string; name: string; r: Result }[] = [];
  let minio: MinioServer | null = null;
  let running: Target | null = null;
  // Ctrl-C: stop what this run started (brokers, MinIO) instead of leaving them behind.
  const interrupted = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal}: stopping the benchmark's processes\n`);
    void Promise.allSettled([running?.stop(), minio?.stop()]).then(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    if (TARGETS.includes("file") || TARGETS.includes("s3")) {
      process.stderr.write("starting MinIO (tools/minio/install.sh builds it the first time)\n");
      minio = await startMinio({ bucket: "floe-bench", dataRoot: MINIO_DATA_ROOT });
    }
    for (const key of TARGET_KEYS.filter((k) => TARGETS.includes(k))) {
      const t = key === "kafka" || key === "kafka-fsync" ? await startKafka(key === "kafka-fsync") : await startFloe(key as "file" | "s3", minio!);
      running = t;
      try {
        results.push({ key, name: t.name, r: await benchTarget(t, key === "s3" ? E2E_RECORDS_S3 : E2E_RECORDS) });
      } finally {
        await t.stop();
        running = null;
      }
    }
  } finally {
    await minio?.stop();
  }

  const kafka = results.find((x) => x.key === "kafka");
  const floes = results.filter((x) => x.key !== "kafka");
  const rows: [string, (x: Result) => number | undefined, "higher" | "lower" | "—"][] = [
    ["produce throughput, records/s (unthrottled)", (x) => x.throughput.recordsPerSec, "higher"],
    ["produce throughput, MiB/s (unthrottled)", (x) => x.throughput.mibPerSec, "higher"],
    [`produce latency p50, ms (at ${LATENCY_RATE} records/s, after the first ${STEADY_WARMUP_SECONDS} s)`, (x) => x.steadyLatency.p50Ms, "lower"],
    [`produce latency p99, ms (at ${LATENCY_RATE} records/s, after the first ${STEADY_WARMUP_SECONDS} s)`, (x) => x.steadyLatency.p99Ms, "lower"],
    [`produce latency p99.9, ms (at ${LATENCY_RATE} records/s, after the first ${STEADY_WARMUP_SECONDS} s)`, (x) => x.steadyLatency.p999Ms, "lower"],
    [`produce latency p99, ms (at ${LATENCY_RATE} records/s, whole run)`, (x) => x.latency.p99Ms, "lower"],
    [`produce latency p99.9, ms (at ${LATENCY_RATE} records/s, whole run)`, (x) => x.latency.p999Ms, "lower"],
    [`throughput reached in the fixed-rate run, records/s`, (x) => x.latency.recordsPerSec, "higher"],
    ["end-to-end latency records (one at a time)", (x) => x.e2e.records, "—"],
    ["end-to-end latency p50, ms (produce → consume)", (x) => x.e2e.p50Ms, "lower"],
    ["end-to-end latency p99, ms", (x) => x.e2e.p99Ms, "lower"],
    ["end-to-end latency p99.9, ms", (x) => x.e2e.p999Ms, "lower"],
    ["catch-up consume, MiB/s", (x) => x.consume.mibPerSec, "higher"],
    ["catch-up consume, records/s", (x) => x.consume.recordsPerSec, "higher"],
    ["S3 PUTs per GiB produced", (x) => x.s3?.putsPerGiBProduced, "lower"],
    ["S3 GETs per GiB read (catch-up)", (x) => x.s3?.getsPerGiBRead, "lower"],
    [`S3 PUTs per second, steady state (at ${LATENCY_RATE} records/s)`, (x) => x.s3?.steadyPutsPerSec, "lower"],
    [`s3 WAL objects put per second (at ${LATENCY_RATE} records/s)`, (x) => x.walPuts?.perSec, "—"],
    ["s3 WAL object size, mean KiB", (x) => x.walPuts?.meanKiB, "—"],
    ["s3 WAL object PUT (without its fence check), mean ms", (x) => x.walPuts?.meanPutMs, "lower"],
    [`broker major garbage collections per second (at ${LATENCY_RATE} records/s)`, (x) => x.gc?.majorPerSec, "lower"],
    ["broker major garbage collection, mean pause ms", (x) => x.gc?.meanMajorMs, "lower"],
    ["broker peak RSS (VmHWM), MiB", (x) => x.peakRssMiB, "lower"],
    ["disk before the run: 1 MiB write + fdatasync p50, ms", (x) => x.disk.p50Ms, "—"],
    ["disk before the run: 1 MiB write + fdatasync p90, ms", (x) => x.disk.p90Ms, "—"],
  ];
  const head = ["measure", ...results.map((x) => x.name), ...(kafka ? floes.map((f) => `${f.name} / Kafka`) : []), "better"];
  const table = [
    `| ${head.join(" | ")} |`,
    `|---|${head.slice(1, -1).map(() => "---:").join("|")}|---|`,
    ...rows.map(([label, f, better]) => `| ${[label, ...results.map((x) => fmt(f(x.r))), ...(kafka ? floes.map((x) => (better === "—" ? "" : ratio(f(x.r), f(kafka.r)))) : []), better].join(" | ")} |`),
  ].join("\n");
  const command = commandLine("bench");
  const report = [
    `# Benchmark ${started.toISOString()}`,
    "",
    `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / GiB)} GiB, Node ${process.version}; ${(Date.now() - started.getTime()) / 60_000 < 1 ? "<1" : Math.round((Date.now() - started.getTime()) / 60_000)} min.`,
    `Brokers on loopback, one at a time, data in ${DATA_ROOT} for all of them, MinIO as the S3 store of both Floe runs (its data in ${MINIO_DATA_ROOT}); driven by Apache Kafka ${KAFKA_VERSION}'s ProducerPerformance, EndToEndLatency and ConsumerPerformance:`,
    `${RECORDS} records of ${RECORD_SIZE} B unthrottled, then ${LATENCY_RATE} records/s for ${LATENCY_SECONDS} s, into ${PARTITIONS} partitions; ${CLIENT_PROPS.join(", ")}; end-to-end: records one at a time, linger.ms=5; Kafka with a 1 GiB heap.`,
    "",
    table,
    "",
    `Command: \`${command}\``,
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
