// A command-line Kafka client on kafkajs, with its default settings, for Floe's
// compatibility tests. Same interface as the other clients in tools/clients:
//   produce --bootstrap B --topic T --count N [--start S]
//   consume --bootstrap B --topic T --group G --count N --timeout-ms X
//   create-topic --bootstrap B --topic T --partitions P
import { Kafka, logLevel } from "kafkajs";

const [command, ...rest] = process.argv.slice(2);
const args = new Map<string, string>();
for (let i = 0; i + 1 < rest.length; i += 2) args.set(rest[i]!.replace(/^--/, ""), rest[i + 1]!);
const need = (k: string) => {
  const v = args.get(k);
  if (v === undefined) throw new Error(`--${k} is required`);
  return v;
};
const emit = (o: object) => process.stdout.write(JSON.stringify(o) + "\n");

const kafka = new Kafka({ clientId: "floe-kafkajs", brokers: [need("bootstrap")], logLevel: logLevel.ERROR });

async function produce(): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  const topic = need("topic");
  const start = Number(args.get("start") ?? 0);
  const count = Number(need("count"));
  let acked = 0;
  for (let i = start; i < start + count; i += 100) {
    const ids = Array.from({ length: Math.min(100, start + count - i) }, (_, j) => i + j);
    // kafkajs reports one base offset per partition per send, so each record names its
    // partition (round robin) and offsets follow send order within it.
    const results = await producer.send({ topic, messages: ids.map((id) => ({ key: `k-${id}`, value: `v-${id}`, partition: id % partitionCount })) });
    const next = new Map(results.map((r) => [r.partition, Number(r.baseOffset)]));
    for (const id of ids) {
      const p = id % partitionCount;
      const o = next.get(p)!;
      next.set(p, o + 1);
      emit({ p, o, k: `k-${id}`, v: `v-${id}` });
      acked++;
    }
  }
  await producer.disconnect();
  emit({ done: true, acked });
}

let partitionCount = 1;

async function consume(): Promise<void> {
  const consumer = kafka.consumer({ groupId: need("group") });
  await consumer.connect();
  await consumer.subscribe({ topic: need("topic"), fromBeginning: true });
  const count = Number(need("count"));
  let seen = 0;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Number(args.get("timeout-ms") ?? 60000));
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        emit({ p: partition, o: Number(message.offset), k: message.key?.toString(), v: message.value?.toString() });
        if (++seen >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.commitOffsets([]);
  await consumer.disconnect();
  emit({ done: true, consumed: seen });
}

async function createTopic(): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: need("topic"), numPartitions: Number(need("partitions")) }], waitForLeaders: true });
  await admin.disconnect();
  emit({ done: true });
}

async function main(): Promise<void> {
  if (command === "produce") {
    const admin = kafka.admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [need("topic")] });
    partitionCount = meta.topics[0]!.partitions.length;
    await admin.disconnect();
    await produce();
  } else if (command === "consume") await consume();
  else if (command === "create-topic") await createTopic();
  else throw new Error(`unknown command ${command}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
