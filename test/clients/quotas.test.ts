import { execFile, execFileSync } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../ports.js";
import { requireClients, REPO, runClient, startBroker, type BrokerHandle } from "./harness.js";

/**
 * Client quotas as a platform team sets them: Apache Kafka's own `kafka-configs` tool
 * (ConfigCommand, from Maven Central) alters and describes them on Floe, and the Java
 * producer it names is held to its byte rate by throttle_time_ms, losing nothing.
 * Quota samples are 200 ms here (a 2.2 s window) so the test takes seconds.
 */
const CLIENT = "floe-java-producer";
const RATE = 256 * 1024;
let broker: BrokerHandle | undefined;
let httpPort = 0;
let kafkaLibs = "";

beforeAll(async () => {
  await requireClients(["java"]);
  kafkaLibs = execFileSync("bash", [path.join(REPO, "tools/kafka/install.sh"), "--libs"], { stdio: ["ignore", "pipe", "inherit"] }).toString().trim();
  httpPort = await freePort();
  broker = await startBroker({ env: { FLOE_HTTP_PORT: String(httpPort), FLOE_QUOTA_WINDOW_SAMPLE_MS: "200" } });
}, 1_800_000);

afterAll(async () => {
  await broker?.stop();
});

/** `kafka-configs.sh` with these arguments; resolves with its stdout. */
function kafkaConfigs(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("java", ["-Xmx256m", "-cp", `${kafkaLibs}/*`, "kafka.admin.ConfigCommand", "--bootstrap-server", broker!.bootstrap, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kafka-configs ${args.join(" ")}: ${err.message}\n${stderr}\n${stdout}`));
      else resolve(stdout);
    });
  });
}

async function throttledSeconds(quota = "producer_byte_rate"): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(new RegExp(`^floe_broker_quota_throttle_seconds_total\\{quota="${quota}"[^}]*\\} ([\\d.e+]+)$`, "m").exec(text)?.[1] ?? 0);
}

describe("client quotas with Kafka's tools", () => {
  it("kafka-configs sets a producer byte rate for a client id; the producer is held to it and loses nothing; deleting the quota lifts it", async () => {
    const entity = ["--entity-type", "clients", "--entity-name", CLIENT];
    await kafkaConfigs(["--alter", "--add-config", `producer_byte_rate=${RATE}`, ...entity]);
    expect(await kafkaConfigs(["--describe", ...entity])).toMatch(new RegExp(`producer_byte_rate=${RATE}`));
    // Refused with the broker's reason, and nothing stored.
    await expect(kafkaConfigs(["--alter", "--add-config", "request_percentage=50", ...entity])).rejects.toThrow(/request_percentage is not supported/);

    // 3 MiB at 256 KiB/s: about 12 s once the first window's allowance is used (it takes under 2 s unthrottled).
    const count = 3072;
    const throttled = await runClient("java", ["produce", "--bootstrap", broker!.bootstrap, "--topic", "quota-orders", "--count", String(count), "--record-bytes", "1024"], 120_000);
    expect(throttled.summary).toMatchObject({ acked: count, failed: 0 });
    const seconds = await throttledSeconds();
    expect(seconds).toBeGreaterThan(3);
    const mibPerSec = (count / 1024) / (throttled.ms / 1000);
    expect(mibPerSec).toBeLessThan(0.5);

    await kafkaConfigs(["--alter", "--delete-config", "producer_byte_rate", ...entity]);
    expect(await kafkaConfigs(["--describe", ...entity])).not.toMatch(/producer_byte_rate/);
    const free = await runClient("java", ["produce", "--bootstrap", broker!.bootstrap, "--topic", "quota-orders", "--count", String(count), "--start", String(count), "--record-bytes", "1024"], 120_000);
    expect(free.summary).toMatchObject({ acked: count, failed: 0 });
    expect(await throttledSeconds()).toBe(seconds);
    console.log(`quota ${RATE / 1024} KiB/s: 3 MiB produced in ${(throttled.ms / 1000).toFixed(1)} s (${mibPerSec.toFixed(2)} MiB/s, throttle times answered ${seconds.toFixed(1)} s); without it in ${(free.ms / 1000).toFixed(1)} s`);
  }, 300_000);

  it("a consumer byte rate for the default client id holds a consumer group's reads to it, and it still reads everything", async () => {
    // The 6 MiB the test above wrote, at 1 MiB/s.
    await kafkaConfigs(["--alter", "--add-config", `consumer_byte_rate=${1024 * 1024}`, "--entity-type", "clients", "--entity-default"]);
    expect(await kafkaConfigs(["--describe", "--entity-type", "clients", "--entity-default"])).toMatch(/consumer_byte_rate=1048576/);
    const consumed = await runClient("java", ["consume", "--bootstrap", broker!.bootstrap, "--topic", "quota-orders", "--group", "quota-readers", "--count", "6144", "--timeout-ms", "60000"], 120_000);
    expect(consumed.records).toHaveLength(6144);
    expect(await throttledSeconds("consumer_byte_rate")).toBeGreaterThan(1);
    const mibPerSec = 6 / (consumed.ms / 1000);
    expect(mibPerSec).toBeLessThan(2);
    await kafkaConfigs(["--alter", "--delete-config", "consumer_byte_rate", "--entity-type", "clients", "--entity-default"]);
    console.log(`consumer quota 1 MiB/s: 6 MiB read in ${(consumed.ms / 1000).toFixed(1)} s (${mibPerSec.toFixed(2)} MiB/s)`);
  }, 300_000);
});
