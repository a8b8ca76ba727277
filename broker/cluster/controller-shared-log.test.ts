import { describe, expect, it } from "vitest";
import { ErrorCode } from "../protocol/errors.js";
import { MemoryObjectStore } from "../storage/memory-object-store.js";
import { MetadataLog } from "../storage/metadata-log.js";
import { Controller, type ControllerRecord } from "./controller.js";
import { TopicRegistry } from "./topics.js";

/** Two brokers change topics through one metadata log: racing changes cannot both win, and each sees the other's. */
async function controllerOn(store: MemoryObjectStore): Promise<{ controller: Controller; log: MetadataLog }> {
  const log = await MetadataLog.open({ store });
  const controller = new Controller(new TopicRegistry(), {
    async appendChecked(build) {
      return ((await log.appendChecked(build))?.record as ControllerRecord | undefined) ?? null;
    },
  });
  for (const r of log.records()) controller.replay(r);
  controller.follow(log);
  return { controller, log };
}

describe("controllers of several brokers on one metadata log", () => {
  it("one CreateTopics of a name wins, the other gets TOPIC_ALREADY_EXISTS, and both know the topic", async () => {
    const store = new MemoryObjectStore();
    const a = await controllerOn(store);
    const b = await controllerOn(store);
    const [ra, rb] = await Promise.all([a.controller.createTopic("orders", 3, {}), b.controller.createTopic("orders", 5, {})]);
    expect([ra.errorCode, rb.errorCode].sort()).toEqual([ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS].sort());
    await a.log.catchUp();
    await b.log.catchUp();
    const winner = ra.errorCode === ErrorCode.NONE ? ra.topic! : rb.topic!;
    expect(a.controller.topics.byTopicName("orders")?.topicId).toBe(winner.topicId);
    expect(b.controller.topics.byTopicName("orders")?.topicId).toBe(winner.topicId);
    expect(a.log.records().filter((r) => r.type === "topic-created")).toHaveLength(1);
  });

  it("both brokers agree on one cluster id and hand out disjoint producer ids", async () => {
    const store = new MemoryObjectStore();
    const a = await controllerOn(store);
    const b = await controllerOn(store);
    const [ida, idb] = await Promise.all([a.controller.ensureClusterId(), b.controller.ensureClusterId()]);
    expect(ida).toBe(idb);
    const ids = await Promise.all([...Array(3)].flatMap(() => [a.controller.allocateProducerId(), b.controller.allocateProducerId()]));
    expect(new Set(ids.map(String)).size).toBe(ids.length);
    // Blocks come one after another in the log, whichever broker took them.
    await a.log.catchUp();
    const blocks = a.log.records().filter((r) => r.type === "producer-ids-allocated").map((r) => BigInt(r.nextProducerId as string));
    expect(blocks).toEqual([1000n, 2000n]);
  });
});
