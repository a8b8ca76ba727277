// Command-line Kafka client on kafkajs, for Floe's compatibility tests. Producer and
// consumer keep kafkajs's default settings (acks=-1, its default Java-compatible partitioner,
// auto-commit on); only what a test must name is set. Same interface as every client in
// tools/clients:
//   produce      --bootstrap H:P --topic T --count N [--start S] [--partitions-hint P]
//   consume      --bootstrap H:P --topic T --group G --count N [--timeout-ms X]
//   create-topic --bootstrap H:P --topic T --partitions P
// stdout: one JSON line per acknowledged or consumed record {"p","o","k","v"}, then a summary
// line {"done":true,...}. Record i has key "k-i" and value "v-i". Diagnostics (kafkajs's own
// log lines included) go to stderr. Exit code 0 only if the command fully succeeded.
// Security (every command): --security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL,
// --sasl-mechanism SCRAM-SHA-256|SCRAM-SHA-512|PLAIN, --username U --password P,
// --ca-file F (trusted CAs), --cert-file F --key-file F (client certificate).
// Exit codes: 0 success, 1 other failure, 2 usage, 3 authentication failed (SASL or TLS),
// 4 authorization failed (an ACL said no).
// Run: node --import tsx tools/clients/kafkajs/floe-client.ts produce ...
import fs from "node:fs";
import { Kafka, logLevel, Partitioners, type KafkaConfig, type SASLOptions, type LogEntry, type PartitionerArgs } from "kafkajs";

const OPTIONS = new Set([
  "bootstrap", "topic", "count", "start", "partitions-hint", "group", "timeout-ms", "partitions",
  "security-protocol", "sasl-mechanism", "username", "password", "ca-file", "cert-file", "key-file",
]);
const EXIT_AUTHENTICATION = 3;
const EXIT_AUTHORIZATION = 4;

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: floe-client.ts produce|consume|create-topic --bootstrap H:P --topic T ...\n`);
  process.exit(2);
}

const [command, ...rest] = process.argv.slice(2);
const opts = new Map<string, string>();
for (let i = 0; i < rest.length; i += 2) {
  const name = rest[i]!.startsWith("--") ? rest[i]!.slice(2) : "";
  if (!OPTIONS.has(name)) usage(`unknown option ${rest[i]}`);
  if (i + 1 >= rest.length) usage(`option ${rest[i]} needs a value`);
  opts.set(name, rest[i + 1]!);
}
function str(name: string): string {
  const v = opts.get(name);
  if (v === undefined) usage(`--${name} is required`);
  return v;
}
function int(name: string, fallback?: number): number {
  const raw = opts.get(name);
  if (raw === undefined && fallback !== undefined) return fallback;
  const v = Number(str(name));
  if (!Number.isInteger(v)) usage(`--${name} must be an integer`);
  return v;
}

const lines: string[] = [];
function out(o: object): void {
  lines.push(JSON.stringify(o));
  if (lines.length >= 256) flushOut();
}
function flushOut(): void {
  if (lines.length) process.stdout.write(lines.join("\n") + "\n");
  lines.length = 0;
}

// kafkajs's default logger prints JSON to stdout; keep stdout for records only.
const toStderr = () => (entry: LogEntry) => {
  const { message, ...extra } = entry.log;
  process.stderr.write(`kafkajs ${entry.label} [${entry.namespace}] ${message} ${JSON.stringify(extra)}\n`);
};
function security(): Pick<KafkaConfig, "ssl" | "sasl"> {
  const protocol = opts.get("security-protocol") ?? "PLAINTEXT";
  if (!["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].includes(protocol)) usage(`--security-protocol ${protocol} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL`);
  const config: Pick<KafkaConfig, "ssl" | "sasl"> = {};
  if (protocol.endsWith("SSL")) {
    const read = (name: string) => (opts.has(name) ? fs.readFileSync(str(name), "utf8") : undefined);
    config.ssl = { ca: read("ca-file"), cert: read("cert-file"), key: read("key-file") };
  }
  if (protocol.startsWith("SASL")) {
    const mechanism = (opts.get("sasl-mechanism") ?? "SCRAM-SHA-512").toLowerCase();
    if (mechanism !== "plain" && mechanism !== "scram-sha-256" && mechanism !== "scram-sha-512") usage(`--sasl-mechanism ${mechanism} is not supported`);
    config.sasl = { mechanism, username: str("username"), password: str("password") } as SASLOptions;
  }
  return config;
}

const kafka = new Kafka({ clientId: "floe-kafkajs", brokers: [str("bootstrap")], logLevel: logLevel.WARN, logCreator: toStderr, ...security() });

/** kafkajs wraps the error that decided a failure (retries, connection errors); this walks the chain. */
function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e: unknown = err; e && out.length < 16; e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

function exitCodeOf(err: unknown): number {
  for (const e of causes(err)) {
    const name = (e as Error).name ?? "";
    const type = (e as { type?: string }).type ?? "";
    const message = (e as Error).message ?? "";
    if (/AUTHORIZATION_FAILED/.test(type)) return EXIT_AUTHORIZATION;
    if (name === "KafkaJSSASLAuthenticationError" || type === "SASL_AUTHENTICATION_FAILED") return EXIT_AUTHENTICATION;
    // A refused TLS handshake: certificate problems on either side.
    const code = (e as { code?: unknown }).code;
    if ((typeof code === "string" && code.startsWith("ERR_SSL")) || /certificate|alert|SSL routines|self.signed|UNABLE_TO_VERIFY/i.test(message)) return EXIT_AUTHENTICATION;
  }
  return 1;
}

async function createTopic(topic: string, partitions: number, existOk: boolean): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    if (!created && !existOk) throw new Error(`topic ${topic} already exists`);
  } finally {
    await admin.disconnect();
  }
}

async function produce(): Promise<number> {
  const topic = str("topic");
  const start = int("start", 0);
  const count = int("count");
  if (opts.has("partitions-hint")) await createTopic(topic, int("partitions-hint"), true);
  // kafkajs's own default partitioner picks every partition; the wrapper only notes its
  // choice, because a send's response names one base offset per partition, not per record.
  const chosen = new Map<string, number>();
  const createPartitioner = () => {
    const partition = Partitioners.DefaultPartitioner();
    return (args: PartitionerArgs) => {
      const p = partition(args);
      chosen.set(String(args.message.key), p);
      return p;
    };
  };
  const producer = kafka.producer({ createPartitioner });
  await producer.connect();
  let acked = 0;
  try {
    for (let first = start; first < start + count; first += 100) {
      const ids = Array.from({ length: Math.min(100, start + count - first) }, (_, j) => first + j);
      const result = await producer.send({ topic, messages: ids.map((i) => ({ key: `k-${i}`, value: `v-${i}` })) });
      // One send writes one batch per partition, records in the order given.
      const next = new Map(result.map((r) => [r.partition, Number(r.baseOffset)]));
      for (const i of ids) {
        const p = chosen.get(`k-${i}`);
        const o = p === undefined ? undefined : next.get(p);
        if (p === undefined || o === undefined) throw new Error(`no acknowledgement for k-${i} (partition ${p})`);
        next.set(p, o + 1);
        out({ p, o, k: `k-${i}`, v: `v-${i}` });
        acked++;
      }
    }
  } finally {
    out({ done: true, acked, failed: count - acked });
    flushOut();
    await producer.disconnect();
  }
  return 0;
}

async function consume(): Promise<number> {
  const topic = str("topic");
  const count = int("count");
  const consumer = kafka.consumer({ groupId: str("group") });
  await consumer.connect();
  // A new group reads the topic from its start; an existing group resumes from its commits.
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  const next = new Map<number, string>(); // partition -> offset to commit (last printed + 1)
  let finish!: () => void;
  let crash!: (err: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => ((finish = resolve), (crash = reject)));
  const timer = setTimeout(finish, int("timeout-ms", 60_000));
  // A consumer that kafkajs will not restart (e.g. GROUP_AUTHORIZATION_FAILED) fails the command.
  consumer.on(consumer.events.CRASH, (event) => {
    if (!event.payload.restart) crash(event.payload.error);
  });
  await consumer.run({
    // Resolve by hand so that kafkajs's auto-commit never covers a record not printed.
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      for (const m of batch.messages) {
        if (seen >= count) break;
        out({ p: batch.partition, o: Number(m.offset), k: m.key?.toString() ?? null, v: m.value?.toString() ?? null });
        resolveOffset(m.offset);
        next.set(batch.partition, String(BigInt(m.offset) + 1n));
        if (++seen >= count) finish();
      }
      await heartbeat();
    },
  });
  try {
    await finished;
  } finally {
    clearTimeout(timer);
  }
  flushOut();
  // Synchronous commit of exactly what was printed, while still a member of the group.
  if (next.size) await consumer.commitOffsets([...next].map(([partition, offset]) => ({ topic, partition, offset })));
  await consumer.disconnect();
  out({ done: true, consumed: seen });
  flushOut();
  return 0;
}

async function main(): Promise<number> {
  switch (command) {
    case "produce":
      return produce();
    case "consume":
      return consume();
    case "create-topic":
      await createTopic(str("topic"), int("partitions"), false);
      out({ done: true });
      flushOut();
      return 0;
    default:
      usage(`unknown command ${command}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    flushOut();
    process.stderr.write(`${command}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(exitCodeOf(err));
  },
);
