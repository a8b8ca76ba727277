import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkDelivery, installClient, runClient, startTarget, targetKind, type BrokerHandle, type ClientName, type ClientRecord, type InstallResult } from "./harness.js";

/**
 * Transactions with real clients (Java, librdkafka, franz-go), against one broker process:
 * - a transactional producer commits some transactions and aborts others; read_committed
 *   consumers of both clients see exactly the committed records, while read_uncommitted
 *   shows the aborted ones were really written;
 * - a zombie instance with the old epoch is fenced and its open transaction never shows;
 * - a Java read-process-write loop (consume, produce, sendOffsetsToTransaction, commit)
 *   runs while the broker is SIGKILLed and restarted; the output read with read_committed
 *   holds every input exactly once.
 */
const CLIENTS: readonly ClientName[] = ["java", "librdkafka", "franz-go"];
let broker: BrokerHandle | undefined;
let startError: unknown;
const installs = new Map<ClientName, InstallResult>();

beforeAll(async () => {
  for (const c of CLIENTS) installs.set(c, await installClient(c));
  try {
    broker = await startTarget(targetKind());
  } catch (err) {
    startError = err;
  }
}, 1_800_000);

afterAll(async () => {
  await broker?.stop();
});

function target(): BrokerHandle {
  const r = [...installs].find(([, i]) => !i.ok);
  if (r) throw new Error(`installing ${r[0]} failed:\n${r[1].output}`);
  if (!broker) throw startError instanceof Error ? startError : new Error(`broker did not start: ${String(startError)}`);
  return broker;
}

const values = (records: readonly ClientRecord[]) => records.map((r) => r.v).sort();

describe.each(CLIENTS)("%s transactions", (client) => {
  it("read_committed sees exactly the committed transactions, never the aborted ones", async () => {
    const b = target();
    const topic = `txn-${client}`;
    await runClient(client, ["create-topic", "--bootstrap", b.bootstrap, "--topic", topic, "--partitions", "3"]);
    // 30 transactions of 10 records; every third is aborted: 200 committed, 100 aborted.
    const produced = await runClient(client, ["txn-produce", "--bootstrap", b.bootstrap, "--topic", topic, "--transactional-id", `tp-${client}`, "--count", "300", "--txn-size", "10", "--abort-every", "3"]);
    expect(produced.summary).toMatchObject({ committed: 200, aborted: 100 });
    expect(produced.records).toHaveLength(200);

    for (const reader of CLIENTS) {
      const consumed = await runClient(reader, ["consume", "--bootstrap", b.bootstrap, "--topic", topic, "--group", `rc-${client}-${reader}`, "--count", "200", "--timeout-ms", "60000", "--isolation", "read_committed"]);
      expect(checkDelivery(produced.records, consumed.records), `${reader} read_committed`).toEqual([]);
    }
    // The aborted records are in the log: read_uncommitted returns all 300 (and no marker as a record).
    const all = await runClient("java", ["consume", "--bootstrap", b.bootstrap, "--topic", topic, "--group", `ru-${client}`, "--count", "300", "--timeout-ms", "60000", "--isolation", "read_uncommitted"]);
    expect(values(all.records)).toEqual(Array.from({ length: 300 }, (_, i) => `v-${i}`).sort());
  }, 300_000);

  it("fences a zombie producer with the old epoch; its open transaction is aborted", async () => {
    const b = target();
    const topic = `zombie-${client}`;
    await runClient(client, ["create-topic", "--bootstrap", b.bootstrap, "--topic", topic, "--partitions", "1"]);
    const run = await runClient(client, ["zombie", "--bootstrap", b.bootstrap, "--topic", topic, "--transactional-id", `zombie-${client}`]);
    expect(run.summary).toMatchObject({ fenced: true });
    const consumed = await runClient("java", ["consume", "--bootstrap", b.bootstrap, "--topic", topic, "--group", `zc-${client}`, "--count", "1", "--timeout-ms", "30000", "--isolation", "read_committed"]);
    expect(checkDelivery(run.records, consumed.records)).toEqual([]);
    expect(values(consumed.records)).toEqual(["v-0"]);
  }, 300_000);
});

describe("exactly-once read-process-write (Java)", () => {
  it("copies every input record exactly once while the broker is SIGKILLed and restarted", async () => {
    const b = target();
    const input = "eos-in";
    const output = "eos-out";
    const count = 20_000;
    const produced = await runClient("java", ["produce", "--bootstrap", b.bootstrap, "--topic", input, "--count", String(count), "--partitions-hint", "3"]);
    expect(produced.records).toHaveLength(count);
    await runClient("java", ["create-topic", "--bootstrap", b.bootstrap, "--topic", output, "--partitions", "3"]);

    const loop = runClient("java", ["eos", "--bootstrap", b.bootstrap, "--topic", input, "--output", output, "--group", "eos", "--transactional-id", "eos-1", "--count", String(count), "--timeout-ms", "240000"], 300_000);
    let loopDone = false;
    void loop.then(() => (loopDone = true), () => (loopDone = true));
    // Up to three crashes, each only while the loop is still copying.
    let kills = 0;
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      if (loopDone) break;
      await b.restart("SIGKILL");
      kills++;
    }
    const run = await loop;
    expect(run.summary).toMatchObject({ finished: true });
    expect(kills, "the loop finished before the first crash: raise the count").toBeGreaterThan(0);

    const consumed = await runClient("java", ["consume", "--bootstrap", b.bootstrap, "--topic", output, "--group", "eos-check", "--count", String(count), "--timeout-ms", "120000", "--isolation", "read_committed"]);
    const seen = new Map<string, number>();
    for (const r of consumed.records) seen.set(r.v, (seen.get(r.v) ?? 0) + 1);
    const dupes = [...seen].filter(([, n]) => n > 1).map(([v]) => v);
    const missing = produced.records.filter((r) => !seen.has(r.v)).map((r) => r.v);
    expect({ dupes: dupes.slice(0, 10), missing: missing.slice(0, 10), total: consumed.records.length }).toEqual({ dupes: [], missing: [], total: count });
    // Every record the loop reported committed is in the output, at the offset it reported.
    expect(checkDelivery(run.records, consumed.records, { exact: false })).toEqual([]);
  }, 600_000);
});
