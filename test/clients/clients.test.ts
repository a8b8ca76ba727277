import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, type TestBroker } from "../broker-fixture.js";
import { checkDelivery, runClient, type ClientName } from "./run-client.js";

/**
 * Real clients from their own registries, default settings, against one Floe broker:
 * produce, consume with a group, commit, restart the broker, resume from the committed
 * offsets. Every client is installed by tools/clients/install.sh (cached); a failed
 * install fails the test, it never skips it.
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const INSTALL_NAME: Record<ClientName, string> = { kafkajs: "kafkajs", librdkafka: "python", java: "java", "franz-go": "go" };
const CLIENTS: ClientName[] = ["kafkajs", "librdkafka", "java", "franz-go"];

let broker: TestBroker;

beforeAll(async () => {
  for (const c of CLIENTS) execFileSync("bash", [path.join(REPO, "tools/clients/install.sh"), INSTALL_NAME[c]], { stdio: "inherit", timeout: 900_000 });
  broker = await startTestBroker();
}, 1_000_000);

afterAll(async () => {
  await broker?.close();
});

describe.each(CLIENTS)("%s", (client) => {
  it("produces, consumes with a group and commits, then resumes after a broker restart", async () => {
    const topic = `orders-${client}`;
    const group = `group-${client}`;
    const b = () => ["--bootstrap", broker.bootstrap, "--topic", topic];
    await runClient(client, ["create-topic", ...b(), "--partitions", "3"]);

    const produced = await runClient(client, ["produce", ...b(), "--count", "1000"]);
    expect(produced.summary.acked).toBe(1000);
    expect(new Set(produced.records.map((r) => r.p)).size).toBeGreaterThan(1);
    const consumed = await runClient(client, ["consume", ...b(), "--group", group, "--count", "1000", "--timeout-ms", "60000"]);
    expect(checkDelivery(produced.records, consumed.records)).toEqual([]);
    expect(consumed.records).toHaveLength(1000);

    await broker.restart();

    const more = await runClient(client, ["produce", ...b(), "--count", "200", "--start", "1000"]);
    expect(more.summary.acked).toBe(200);
    const resumed = await runClient(client, ["consume", ...b(), "--group", group, "--count", "200", "--timeout-ms", "60000"]);
    expect(checkDelivery(more.records, resumed.records)).toEqual([]);
    // Only the new records: the group resumed from the offsets it committed before the restart.
    expect(resumed.records.every((r) => Number(r.v.slice(2)) >= 1000)).toBe(true);
    expect(resumed.records).toHaveLength(200);
  }, 300_000);
});

describe("across clients", () => {
  it("records produced by the Java client are read back by librdkafka and franz-go", async () => {
    const b = ["--bootstrap", broker.bootstrap, "--topic", "mixed"];
    await runClient("java", ["create-topic", ...b, "--partitions", "4"]);
    const produced = await runClient("java", ["produce", ...b, "--count", "500"]);
    for (const reader of ["librdkafka", "franz-go"] as const) {
      const consumed = await runClient(reader, ["consume", ...b, "--group", `mixed-${reader}`, "--count", "500", "--timeout-ms", "60000"]);
      expect(checkDelivery(produced.records, consumed.records), reader).toEqual([]);
    }
  }, 300_000);
});
