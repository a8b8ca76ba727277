// Issue 4's scale-out proof as a benchmark: a multi-broker cluster of real processes (file
// WAL, one MinIO bucket) under a fixed produce load from the Java client (acks=all,
// idempotent: its defaults), scaled out 3 → 6 brokers and back in 6 → 3 by draining. It
// measures how long leaders take to balance, what the client saw (errors, retries, ack
// latency before and during each move), how many bytes the old leaders uploaded while
// releasing (pending WAL data only: no partition data is copied), drain times and each
// broker's peak RSS; then reads everything back and checks that every acknowledged record
// is there exactly once. Prints a markdown report and writes bench/results/cluster-latest.md.
//
//   npm run bench:cluster                               1,000 partitions, 2,000 records/s of 1 KiB
//   npm run bench:cluster -- --partitions 200 --rate 1000 --seconds 90
//
// Options: --partitions N, --rate R (records/s), --record-size B, --seconds S (how long the
// producer runs; the scale-out and the drains must fit in it), --warmup-seconds S (load
// before the scale-out; the "before" latency window), --consume-seconds S (bound on reading
// everything back).
import { commandLine, numberOption } from "./args.js";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { Kafka, logLevel, type Admin } from "kafkajs";
import { startMinio, type MinioServer } from "../test/s3-server.js";
import { TestCluster, waitFor, type ClusterBroker } from "../test/cluster-process.js";
import { CACHE, REPO, checkDelivery, type ClientRecord } from "../test/clients/harness.js";


const PARTITIONS = numberOption("partitions", 1000);
const RATE = numberOption("rate", 2000);
const RECORD_SIZE = numberOption("record-size", 1024);
const SECONDS = numberOption("seconds", 100);
const CONSUME_SECONDS = numberOption("consume-seconds", 200);
const WARMUP_SECONDS = numberOption("warmup-seconds", 15);
const TOPIC = "bench-scale";
const FIRST = [1, 2, 3];
const ADDED = [4, 5, 6];

const log = (what: string) => process.stderr.write(`  ${new Date().toISOString().slice(11, 19)} ${what}\n`);

/**
 * The Java client CLI compiled into a folder of this run's own: the shared cache's classes
 * are rebuilt by whichever worktree installs last, and this run needs the --latency option.
 */
function compileJavaClient(): string {
  const lib = path.join(CACHE, "java-lib");
  if (!fs.existsSync(lib)) {
    const r = spawnSync("bash", [path.join(REPO, "tools/clients/install.sh"), "java"], { stdio: "inherit" });
    if (r.status !== 0) throw new Error("tools/clients/install.sh java failed");
  }
  const classes = fs.mkdtempSync(path.join(os.tmpdir(), "floe-bench-java-"));
  const src = path.join(REPO, "tools/clients/java/src");
  const files = fs.readdirSync(src).filter((f) => f.endsWith(".java")).map((f) => path.join(src, f));
  const r = spawnSync("javac", ["-Xlint:none", "-d", classes, "-cp", `${lib}/*`, ...files], { stdio: "inherit" });
  if (r.status !== 0) throw new Error("javac failed on tools/clients/java/src");
  return classes;
}

interface TimedRecord extends ClientRecord {
  /** Send time, epoch ms. */
  t: number;
  /** Send to acknowledgement, ms. */
  ms: number;
}

interface JavaRun<R> {
  records: R[];
  summary: Record<string, unknown>;
  stderr: string;
  code: number | null;
}

/** Java clients still running: killed when the run ends early, so none outlives it. */
const javaChildren = new Set<ChildProcess>();

/** Runs the Java CLI, parsing its JSON lines as they come (a long run prints hundreds of thousands). */
function runJava<R>(classes: string, args: string[], timeoutMs: number): Promise<JavaRun<R>> {
  const cp = `${classes}${path.delimiter}${path.join(CACHE, "java-lib")}/*`;
  const child = spawn("java", ["-XX:+UseSerialGC", "-Xmx768m", "-cp", cp, "FloeClient", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  javaChildren.add(child);
  child.once("exit", () => javaChildren.delete(child));
  const records: R[] = [];
  let summary: Record<string, unknown> = {};
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 4 << 20) stderr = stderr.slice(-(2 << 20));
  });
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    if (!line.trim()) return;
    const parsed = JSON.parse(line) as Record<string, unknown>;
    if (parsed.done === true) summary = parsed;
    else records.push(parsed as R);
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ records, summary, stderr, code });
    });
  });
}

async function leaderCounts(admin: Admin): Promise<Map<number, number>> {
  const md = await admin.fetchTopicMetadata({ topics: [TOPIC] });
  const out = new Map<number, number>();
  for (const p of md.topics[0]!.partitions) out.set(p.leader, (out.get(p.leader) ?? 0) + 1);
  return out;
}

const balanced = (counts: Map<number, number>, ids: number[]) =>
  counts.size === ids.length && ids.every((id) => counts.has(id)) && Math.max(...counts.values()) - Math.min(...counts.values()) <= 1;


/** Peak resident set size of a process, from the kernel's own high-water mark. */
function peakRssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024);
}

/** A broker's JSON log lines with this message (pino: one object a line). */
function logLines(cluster: TestCluster, id: number, msg: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of cluster.output(id).split("\n")) {
    if (!line.includes(`"${msg}"`)) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by a restart marker
    }
  }
  return out;
}

function percentiles(ms: number[]): { n: number; p50: number; p99: number; max: number } {
  if (ms.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN };
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1]! };
}

interface Releases {
  calls: number;
  partitions: number;
  bytes: number;
  uploadMsMax: number;
}

function releasesSince(cluster: TestCluster, ids: number[], fromMs: number, toMs: number): Releases {
  const r: Releases = { calls: 0, partitions: 0, bytes: 0, uploadMsMax: 0 };
  for (const id of ids) {
    for (const l of logLines(cluster, id, "released partitions for a move")) {
      const t = Date.parse(String(l.time));
      if (t < fromMs || t > toMs) continue;
      r.calls++;
      r.partitions += Number(l.partitions);
      r.bytes += Number(l.bytes ?? NaN);
      r.uploadMsMax = Math.max(r.uploadMsMax, Number(l.uploadMs));
    }
  }
  return r;
}

/** The controller's "moved partition leaders" rounds in a window, from every broker's log. */
function controllerRounds(cluster: TestCluster, ids: number[], fromMs: number, toMs: number): { rounds: number; moves: number } {
  let rounds = 0;
  let moves = 0;
  for (const id of ids) {
    for (const l of logLines(cluster, id, "moved partition leaders")) {
      const t = Date.parse(String(l.time));
      if (t < fromMs || t > toMs) continue;
      rounds++;
      moves += Number(l.moves);
    }
  }
  return { rounds, moves };
}

/** Kafka error names in the client's warnings (what it retried), with counts. */
function clientErrorNames(stderr: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of stderr.split("\n")) {
    if (!/WARN|ERROR/.test(line)) continue;
    for (const m of line.matchAll(/\b(NOT_LEADER_OR_FOLLOWER|LEADER_NOT_AVAILABLE|UNKNOWN_TOPIC_OR_PARTITION|REQUEST_TIMED_OUT|NETWORK_EXCEPTION|NOT_ENOUGH_REPLICAS\w*|OUT_OF_ORDER_SEQUENCE_NUMBER|INVALID_PRODUCER_EPOCH|UNKNOWN_PRODUCER_ID|FENCED_LEADER_EPOCH|KAFKA_STORAGE_ERROR|TimeoutException)\b/g)) {
      out.set(m[1]!, (out.get(m[1]!) ?? 0) + 1);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const started = new Date();
  const classes = compileJavaClient();
  log("starting MinIO (tools/minio/install.sh builds it the first time)");
  const minio: MinioServer = await startMinio({ bucket: "floe-bench-cluster" });
  const cluster = new TestCluster({ minio, prefix: `scale-${randomBytes(3).toString("hex")}/`, env: { FLOE_LOG_LEVEL: "info" } });
  const stopAll = async () => {
    for (const c of javaChildren) c.kill("SIGKILL");
    await cluster.stopAll();
    await minio.stop();
    fs.rmSync(classes, { recursive: true, force: true });
  };
  const interrupted = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal}: stopping the benchmark's processes\n`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  const rss = new Map<number, number>();
  const pids = new Map<number, number>();
  const remember = (b: ClusterBroker) => pids.set(b.id, b.proc.child.pid!);
  try {
    log(`starting brokers ${FIRST.join(", ")}`);
    for (const id of FIRST) remember(await cluster.start(id));
    const kafka = new Kafka({ clientId: "bench-cluster", brokers: () => cluster.bootstrap(), logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 } });
    const admin = kafka.admin();
    await admin.connect();
    const topicAt = Date.now();
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS }] });
    await waitFor("leaders spread over three brokers", 60_000, async () => (balanced(await leaderCounts(admin), FIRST) ? true : null), 250);
    const topicReadyMs = Date.now() - topicAt;
    log(`topic of ${PARTITIONS} partitions created and spread in ${topicReadyMs} ms`);

    const count = RATE * SECONDS;
    log(`producing ${count} records of ${RECORD_SIZE} B at ${RATE}/s (Java client, acks=all, idempotent)`);
    const producing = runJava<TimedRecord>(classes, ["produce", "--bootstrap", cluster.bootstrap().join(","), "--topic", TOPIC, "--count", String(count), "--rate", String(RATE), "--record-bytes", String(RECORD_SIZE), "--latency", "true"], (SECONDS + 180) * 1000);
    const produceAt = Date.now();
    let producerDone = false;
    void producing.then(() => (producerDone = true));
    await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000));

    // Scale out: three brokers join at once; the controller moves leaders to them (releases first).
    log(`scale-out: starting brokers ${ADDED.join(", ")}`);
    const outAt = Date.now();
    for (const b of await Promise.all(ADDED.map((id) => cluster.start(id)))) remember(b);
    const registeredAt = ADDED.map((id) => Date.parse(String(logLines(cluster, id, "registered with the controller")[0]?.time)));
    const all = [...FIRST, ...ADDED];
    const balancedAt = await waitFor("leaders balanced over six brokers", 120_000, async () => (balanced(await leaderCounts(admin), all) ? Date.now() : null));
    const outCounts = await leaderCounts(admin);
    const outReleases = releasesSince(cluster, FIRST, outAt, balancedAt);
    const outRounds = controllerRounds(cluster, all, outAt, balancedAt);
    log(`balanced ${balancedAt - Math.max(...registeredAt)} ms after the last new broker registered`);
    await new Promise((r) => setTimeout(r, 5000));

    // Scale in: the three new brokers drain one at a time (preStop: POST /admin/v1/drain), then exit.
    const drains: { id: number; ms: number; status: number; body: Record<string, unknown>; releases: Releases }[] = [];
    const inAt = Date.now();
    for (const id of ADDED) {
      const b = cluster.brokers.get(id)!;
      log(`scale-in: draining broker ${id}`);
      const t0 = Date.now();
      const res = await fetch(`http://127.0.0.1:${b.httpPort}/admin/v1/drain`, { method: "POST", signal: AbortSignal.timeout(120_000) });
      const body = (await res.json()) as Record<string, unknown>;
      const ms = Date.now() - t0;
      rss.set(id, peakRssMiB(b.proc.child.pid!));
      b.proc.child.kill("SIGTERM");
      await b.proc.exited;
      drains.push({ id, ms, status: res.status, body, releases: releasesSince(cluster, [id], t0, Date.now()) });
    }
    const inDoneAt = Date.now();
    const inCounts = await waitFor("leaders back on three brokers", 30_000, async () => {
      const c = await leaderCounts(admin);
      return balanced(c, FIRST) ? c : null;
    });
    const loadCoveredDrains = !producerDone;

    const produced = await producing;
    const producedDoneAt = Date.now();
    log(`producer finished: ${JSON.stringify(produced.summary)}`);
    // The partitions' log end offsets, from the leaders: with idempotence on a fresh topic they
    // must add up to the records acknowledged, and cover each acknowledged offset.
    const ends = await admin.fetchTopicOffsets(TOPIC);
    const endSum = ends.reduce((n, e) => n + Number(e.high), 0);
    const endOf = new Map(ends.map((e) => [e.partition, Number(e.high)]));
    const beyondEnd = produced.records.filter((r) => r.o >= (endOf.get(r.p) ?? 0)).length;
    log(`consuming ${produced.records.length} records back`);
    const consumeAt = Date.now();
    const consumed = await runJava<ClientRecord>(classes, ["consume", "--bootstrap", cluster.bootstrap().join(","), "--topic", TOPIC, "--group", "bench-readers", "--count", String(produced.records.length), "--timeout-ms", String(CONSUME_SECONDS * 1000)], (CONSUME_SECONDS + 60) * 1000);
    const consumeMs = Date.now() - consumeAt;
    const problems = checkDelivery(produced.records, consumed.records);
    for (const id of FIRST) rss.set(id, peakRssMiB(cluster.brokers.get(id)!.proc.child.pid!));
    await admin.disconnect();

    // ---- figures ----
    const recs = produced.records;
    const window = (from: number, to: number) => percentiles(recs.filter((r) => r.t >= from && r.t < to).map((r) => r.ms));
    const before = window(produceAt + 5000, outAt);
    const moving = window(outAt, balancedAt);
    const draining = window(inAt, inDoneAt);
    const overall = percentiles(recs.map((r) => r.ms));
    const errors = clientErrorNames(produced.stderr);
    const lastRegistered = Math.max(...registeredAt);
    const firstRegistered = Math.min(...registeredAt);
    const mib = (b: number) => (b / 2 ** 20).toFixed(2);
    const f = (x: number) => (Number.isFinite(x) ? (Number.isInteger(x) ? String(x) : x.toFixed(1)) : "n/a");
    const countsOf = (c: Map<number, number>) => [...c].sort((a, b) => a[0] - b[0]).map(([id, n]) => `${id}:${n}`).join(" ");
    const command = commandLine("bench:cluster");
    const lines = [
      `# Multi-broker scale-out and drain, ${started.toISOString()}`,
      "",
      `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; run took ${Math.round((Date.now() - started.getTime()) / 1000)} s.`,
      `Broker processes on loopback, file WAL, one MinIO bucket; session timeout 3 s, heartbeats 300 ms, metadata poll 100 ms, upload interval 300 ms (test/cluster-process.ts).`,
      `Load: the Java client (kafka-clients, its defaults: acks=all, idempotent), ${RATE} records/s of ${RECORD_SIZE} B for ${SECONDS} s into one topic of ${PARTITIONS} partitions, keyed (k-i).`,
      "",
      "| measure | value |",
      "|---|---:|",
      `| topic created → leaders spread over 3 brokers, ms | ${topicReadyMs} |`,
      `| scale-out 3 → 6: new broker processes started (all three at once) → balanced, ms | ${balancedAt - outAt} |`,
      `| scale-out 3 → 6: first new broker registered → balanced (±1 per broker, Metadata), ms | ${balancedAt - firstRegistered} |`,
      `| scale-out 3 → 6: last new broker registered → balanced, ms | ${balancedAt - lastRegistered} |`,
      `| scale-out: leaders per broker after | ${countsOf(outCounts)} |`,
      `| scale-out: controller rounds that moved leaders / moves written | ${outRounds.rounds} / ${outRounds.moves} |`,
      `| scale-out: release calls on the old leaders / partitions released | ${outReleases.calls} / ${outReleases.partitions} |`,
      `| scale-out: bytes the old leaders uploaded while releasing (pending WAL data), MiB | ${mib(outReleases.bytes)} |`,
      `| scale-out: slowest release (wait for appends + WAL upload), ms | ${outReleases.uploadMsMax} |`,
      ...drains.map((d) => `| drain of broker ${d.id} (POST /admin/v1/drain → answer), ms | ${d.ms} (${d.status} ${JSON.stringify(d.body)}) |`),
      ...drains.map((d) => `| drain of broker ${d.id}: partitions released / bytes uploaded while releasing, MiB | ${d.releases.partitions} / ${mib(d.releases.bytes)} |`),
      `| scale-in: leaders per broker after | ${countsOf(inCounts)} |`,
      `| load still running when the last drain finished | ${loadCoveredDrains ? "yes" : "NO (raise --seconds)"} |`,
      `| records acknowledged / failed (client summary) | ${produced.summary.acked} / ${produced.summary.failed} |`,
      `| client retries (record-retry-total) / errors (record-error-total) | ${produced.summary.retries} / ${produced.summary.errors} |`,
      `| errors named in the client's warnings | ${errors.size ? [...errors].map(([k, n]) => `${k} ×${n}`).join(", ") : "none"} |`,
      `| produce ack latency before the scale-out (n, p50 / p99 / max ms) | ${before.n}: ${f(before.p50)} / ${f(before.p99)} / ${f(before.max)} |`,
      `| produce ack latency during the scale-out (join → balanced) | ${moving.n}: ${f(moving.p50)} / ${f(moving.p99)} / ${f(moving.max)} |`,
      `| produce ack latency during the drains | ${draining.n}: ${f(draining.p50)} / ${f(draining.p99)} / ${f(draining.max)} |`,
      `| produce ack latency, whole run | ${overall.n}: ${f(overall.p50)} / ${f(overall.p99)} / ${f(overall.max)} |`,
      `| log end offsets summed over the partitions (Metadata leaders) / acknowledged offsets at or past their partition's end | ${endSum} / ${beyondEnd} |`,
      `| consumed back / time, ms | ${consumed.records.length} / ${consumeMs} |`,
      `| delivery check (every ack read back once, where acknowledged; no duplicates) | ${problems.length === 0 ? "passed" : `FAILED: ${problems.slice(0, 5).join("; ")}`} |`,
      ...[...all].map((id) => `| broker ${id} peak RSS (VmHWM), MiB | ${rss.get(id) ?? "n/a"} |`),
      "",
      `Command: \`${command}\``,
      "",
    ];
    void producedDoneAt;
    const report = lines.join("\n");
    fs.mkdirSync(path.join(REPO, "bench/results"), { recursive: true });
    fs.writeFileSync(path.join(REPO, "bench/results/cluster-latest.md"), report);
    fs.mkdirSync(path.join(REPO, "bench/results/cluster-logs"), { recursive: true });
    fs.writeFileSync(path.join(REPO, "bench/results/cluster-logs/producer.stderr"), produced.stderr);
    console.log(report);
    if (problems.length || produced.code !== 0) process.exitCode = 1;
  } finally {
    // Broker logs beside the report (also when the run failed), to see where the time went.
    const logDir = path.join(REPO, "bench/results/cluster-logs");
    fs.mkdirSync(logDir, { recursive: true });
    for (const id of cluster.brokers.keys()) fs.writeFileSync(path.join(logDir, `broker-${id}.log`), cluster.output(id));
    await stopAll();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
