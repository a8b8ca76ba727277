import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLIENTS,
  checkDelivery,
  installClient,
  partitionsUsed,
  runClient,
  startTarget,
  targetKind,
  type BrokerHandle,
  type ClientName,
  type InstallResult,
} from "./harness.js";

/**
 * Real clients, installed from their own registries by tools/clients/install.sh, with their
 * default settings, against one broker run as a separate process: Floe's (default) or
 * Apache Kafka's (FLOE_TEST_TARGET=kafka), which proves the harness itself right.
 *
 * Per client: create a 3-partition topic, produce 1,000 records, consume them with a group
 * and commit, restart the broker, produce 200 more, and the same group reads only those 200.
 * A client whose install fails fails its test with the install output; nothing is skipped.
 */
const TARGET = targetKind();
let broker: BrokerHandle | undefined;
let startError: unknown;

// A broker that does not start fails every test with its output (a throwing beforeAll
// would have vitest report the tests as skipped).
beforeAll(async () => {
  try {
    broker = await startTarget(TARGET);
  } catch (err) {
    startError = err;
  }
}, 900_000);

afterAll(async () => {
  await broker?.stop();
});

function target(): BrokerHandle {
  if (!broker) throw startError instanceof Error ? startError : new Error(`${TARGET} broker did not start: ${String(startError)}`);
  return broker;
}

/** Installs in beforeAll (minutes on a fresh machine, seconds cached); tests assert the result. */
function installed(clients: readonly ClientName[]): () => void {
  const results = new Map<ClientName, InstallResult>();
  beforeAll(async () => {
    for (const c of clients) results.set(c, await installClient(c));
  }, 1_800_000);
  return () => {
    for (const c of clients) {
      const r = results.get(c);
      if (!r?.ok) throw new Error(`installing ${c} failed:\n${r?.output ?? "install did not run"}`);
    }
  };
}

const bootstrap = () => target().bootstrap;

describe.each(CLIENTS)(`%s against ${TARGET}`, (client) => {
  const assertInstalled = installed([client]);

  it("produces, consumes with a group and commits, then resumes from the commits after a broker restart", async () => {
    assertInstalled();
    target();
    const topic = `orders-${client}`;
    const group = `group-${client}`;
    const base = ["--bootstrap", bootstrap(), "--topic", topic];
    await runClient(client, ["create-topic", ...base, "--partitions", "3"]);

    const produced = await runClient(client, ["produce", ...base, "--count", "1000"]);
    expect(produced.summary.acked).toBe(1000);
    expect(produced.records).toHaveLength(1000);
    // Keys spread over the partitions with the client's default partitioner.
    expect([...partitionsUsed(produced.records).keys()].sort()).toEqual([0, 1, 2]);

    const consumed = await runClient(client, ["consume", ...base, "--group", group, "--count", "1000", "--timeout-ms", "60000"]);
    expect(checkDelivery(produced.records, consumed.records)).toEqual([]);
    expect(consumed.records).toHaveLength(1000);

    await target().restart();

    const more = await runClient(client, ["produce", ...base, "--count", "200", "--start", "1000"]);
    expect(more.summary.acked).toBe(200);
    // New offsets continue each partition's log where it ended before the restart.
    const endBefore = endOffsets(produced.records);
    for (const [p, first] of firstOffsets(more.records)) expect(first, `partition ${p}`).toBe((endBefore.get(p) ?? -1) + 1);

    // exact: anything but the 200 new records (e.g. the old 1,000 again) is a problem.
    const resumed = await runClient(client, ["consume", ...base, "--group", group, "--count", "200", "--timeout-ms", "60000"]);
    expect(checkDelivery(more.records, resumed.records)).toEqual([]);
    expect(resumed.records).toHaveLength(200);

    // And nothing left over: the group's commits cover everything it read.
    const after = await runClient(client, ["consume", ...base, "--group", group, "--count", "1", "--timeout-ms", "8000"]);
    expect(after.records).toEqual([]);
  }, 600_000);
});

describe(`across clients against ${TARGET}`, () => {
  const readers = ["librdkafka", "franz-go", "kafkajs"] as const;
  const assertInstalled = installed(["java", ...readers]);

  it("records the Java client wrote are read back, exactly, by librdkafka, franz-go and kafkajs", async () => {
    assertInstalled();
    const base = ["--bootstrap", bootstrap(), "--topic", "mixed"];
    await runClient("java", ["create-topic", ...base, "--partitions", "4"]);
    const produced = await runClient("java", ["produce", ...base, "--count", "500"]);
    expect(produced.summary.acked).toBe(500);
    for (const reader of readers) {
      const consumed = await runClient(reader, ["consume", ...base, "--group", `mixed-${reader}`, "--count", "500", "--timeout-ms", "60000"]);
      expect(checkDelivery(produced.records, consumed.records), reader).toEqual([]);
      expect(consumed.records, reader).toHaveLength(500);
    }
  }, 600_000);
});

describe(`a crash of the ${TARGET} broker`, () => {
  const assertInstalled = installed(["java", "franz-go"]);

  it("loses no acknowledged record when the broker is killed with SIGKILL", async () => {
    assertInstalled();
    const base = ["--bootstrap", bootstrap(), "--topic", "crash"];
    await runClient("java", ["create-topic", ...base, "--partitions", "3"]);
    const produced = await runClient("java", ["produce", ...base, "--count", "2000"]);
    expect(produced.summary.acked).toBe(2000);
    await target().restart("SIGKILL");
    const consumed = await runClient("franz-go", ["consume", ...base, "--group", "crash-reader", "--count", "2000", "--timeout-ms", "60000"]);
    expect(checkDelivery(produced.records, consumed.records)).toEqual([]);
  }, 600_000);
});

function endOffsets(records: readonly { p: number; o: number }[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of records) m.set(r.p, Math.max(m.get(r.p) ?? -1, r.o));
  return m;
}

function firstOffsets(records: readonly { p: number; o: number }[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of records) m.set(r.p, Math.min(m.get(r.p) ?? Number.MAX_SAFE_INTEGER, r.o));
  return m;
}
