import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBroker, type TestBroker } from "./broker-fixture.js";
import { FaultProxy } from "./fault-proxy.js";
import { checkDelivery, runClient } from "./clients/run-client.js";

/**
 * Exactly once per offset under retries: a proxy cuts connections after the broker wrote
 * a batch but before the producer heard back, so the Java producer (idempotent by default)
 * sends the same batch again. The broker must recognise the retry and answer with the
 * original offset: every record once, in order per partition, none lost.
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
let broker: TestBroker;
let proxy: FaultProxy;
let produceResponses = 0;
const DROPS_MAX = 8;

beforeAll(async () => {
  execFileSync("bash", [path.join(REPO, "tools/clients/install.sh"), "java"], { stdio: "inherit", timeout: 900_000 });
  execFileSync("bash", [path.join(REPO, "tools/clients/install.sh"), "go"], { stdio: "inherit", timeout: 900_000 });
  proxy = new FaultProxy({
    // Drop every 2nd Produce response, a bounded number of times. The Java producer packs a
    // whole run into very few requests when the machine is fast, so a sparser rule can
    // let every run through without a single drop.
    dropResponse: (apiKey) => apiKey === 0 && ++produceResponses % 2 === 0 && proxy.dropped < DROPS_MAX,
  });
  const proxyPort = await proxy.listen();
  broker = await startTestBroker({ advertisedPort: proxyPort });
  proxy.target = broker.port;
}, 1_000_000);

afterAll(async () => {
  await proxy?.close();
  await broker?.close();
});

describe("idempotent producer retries", () => {
  it("writes each retried batch once and answers with its original offset", async () => {
    const b = ["--bootstrap", `127.0.0.1:${proxy.port}`, "--topic", "retried"];
    await runClient("java", ["create-topic", ...b, "--partitions", "3"]);
    // Several runs so the producer has many batches in flight when connections drop.
    const acked = [];
    for (let run = 0; run < 4; run++) {
      const produced = await runClient("java", ["produce", ...b, "--count", "1500", "--start", String(run * 1500)]);
      expect(produced.summary.acked).toBe(1500);
      acked.push(...produced.records);
    }
    expect(proxy.dropped).toBeGreaterThan(0);
    // The drops really made the producer resend batches the broker had already written.
    const duplicates = (await broker.running.broker.metrics.duplicateBatches.get()).values[0]?.value ?? 0;
    expect(duplicates).toBeGreaterThan(0);
    const consumed = await runClient("franz-go", ["consume", "--bootstrap", broker.bootstrap, "--topic", "retried", "--group", "checker", "--count", String(acked.length), "--timeout-ms", "60000"]);
    expect(checkDelivery(acked, consumed.records)).toEqual([]);
    expect(consumed.records).toHaveLength(6000);
  }, 300_000);
});
