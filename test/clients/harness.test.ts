import { describe, expect, it } from "vitest";
import { checkDelivery, freePort, runScript, waitForPort, REPO, type ClientRecord } from "./harness.js";
import net from "node:net";
import path from "node:path";

/** The checker must catch each way a broker can get delivery wrong, or the client suite proves nothing. */
const rec = (i: number, p: number, o: number): ClientRecord => ({ p, o, k: `k-${i}`, v: `v-${i}` });
const acked = [rec(0, 0, 0), rec(1, 1, 0), rec(2, 0, 1), rec(3, 1, 1), rec(4, 0, 2)];

describe("checkDelivery", () => {
  it("accepts every acknowledged record consumed once, in order per partition, partitions interleaved", () => {
    const consumed = [rec(1, 1, 0), rec(0, 0, 0), rec(3, 1, 1), rec(2, 0, 1), rec(4, 0, 2)];
    expect(checkDelivery(acked, consumed)).toEqual([]);
  });

  it("reports a lost record", () => {
    expect(checkDelivery(acked, acked.filter((r) => r.v !== "v-3"))).toEqual(["1 acknowledged records never consumed, e.g. v-3@1/1"]);
  });

  it("reports a record consumed twice", () => {
    expect(checkDelivery(acked, [...acked, rec(4, 0, 2)]).join("\n")).toMatch(/0\/2 consumed twice/);
  });

  it("reports a value duplicated at another offset (a retried batch written twice)", () => {
    const problems = checkDelivery(acked, [...acked, rec(4, 0, 3)]).join("\n");
    expect(problems).toMatch(/v-4 consumed twice \(again at 0\/3\)/);
  });

  it("reports offsets going backwards within a partition", () => {
    const consumed = [rec(0, 0, 0), rec(2, 0, 1), rec(1, 1, 0), rec(3, 1, 1), rec(4, 0, 2)];
    expect(checkDelivery(acked, consumed)).toEqual([]);
    const backwards = [rec(2, 0, 1), rec(0, 0, 0), rec(1, 1, 0), rec(3, 1, 1), rec(4, 0, 2)];
    expect(checkDelivery(acked, backwards)).toContain("partition 0: offset 0 consumed after 1");
  });

  it("reports a record consumed at another offset than acknowledged", () => {
    const consumed = [rec(0, 0, 0), rec(1, 1, 0), rec(2, 0, 1), rec(3, 1, 1), { ...rec(4, 0, 2), v: "v-9", k: "k-9" }];
    const problems = checkDelivery(acked, consumed).join("\n");
    expect(problems).toMatch(/0\/2: acknowledged k-4=v-4, consumed k-9=v-9/);
  });

  it("reports old records re-read by a group that should have resumed, unless not exact", () => {
    const consumed = [rec(99, 0, 0), ...acked.map((r) => ({ ...r, o: r.o + 1 }))];
    const newAcks = acked.map((r) => ({ ...r, o: r.o + 1 }));
    expect(checkDelivery(newAcks, consumed).join("\n")).toMatch(/v-99 consumed at 0\/0 but not acknowledged there/);
    expect(checkDelivery(newAcks, consumed, { exact: false })).toEqual([]);
  });

  it("reports two records acknowledged at one offset", () => {
    expect(checkDelivery([...acked, rec(7, 1, 1)], acked).join("\n")).toMatch(/v-7 and v-3 both acknowledged at 1\/1/);
  });
});

describe("process helpers", () => {
  it("waitForPort resolves once a listener appears and times out without one", async () => {
    const port = await freePort();
    await expect(waitForPort(port, 300)).rejects.toThrow(/did not accept connections/);
    const server = net.createServer().listen(port, "127.0.0.1");
    try {
      await waitForPort(port, 5000);
    } finally {
      server.close();
    }
  });

  it("runScript rejects with the script's output when it fails", async () => {
    await expect(runScript(path.join(REPO, "tools/clients/install.sh"), ["no-such-client"], 30_000)).rejects.toThrow(/usage: .*install\.sh \[kafkajs\|python\|java\|go\|all\]/);
  });
});
