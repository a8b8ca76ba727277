import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/common/config.js";
import { advertisedHostOf, BROKER_SETTINGS, loadBrokerConfig } from "./config.js";

describe("broker config", () => {
  it("uses the documented defaults with an empty environment", () => {
    const c = loadBrokerConfig({});
    expect(c.port).toBe(9092);
    expect(c.host).toBe("0.0.0.0");
    expect(c.dataDir).toBe("./data");
    expect(c.autoCreateTopics).toBe(true);
    expect(advertisedHostOf(c)).toBe("localhost");
    for (const [key, s] of Object.entries(BROKER_SETTINGS)) expect((c as Record<string, unknown>)[key]).toBe(s.default);
  });

  it("parses typed values", () => {
    const c = loadBrokerConfig({ FLOE_PORT: "19092", FLOE_AUTO_CREATE_TOPICS: "false", FLOE_HOST: "127.0.0.1", FLOE_LOG_LEVEL: "warn" });
    expect(c.port).toBe(19092);
    expect(c.autoCreateTopics).toBe(false);
    expect(advertisedHostOf(c)).toBe("127.0.0.1");
    expect(c.logLevel).toBe("warn");
  });

  it("derives the broker id from the zone base and the pod index the operator sets", () => {
    expect(loadBrokerConfig({ FLOE_NODE_ID_BASE: "2000", FLOE_POD_INDEX: "3" }).nodeId).toBe(2003);
    expect(loadBrokerConfig({ FLOE_NODE_ID: "7" }).nodeId).toBe(7);
  });

  it("names the variable at fault", () => {
    expect(() => loadBrokerConfig({ FLOE_PORT: "ninety" })).toThrow(/FLOE_PORT must be an integer/);
    expect(() => loadBrokerConfig({ FLOE_PORT: "70000" })).toThrow(/FLOE_PORT must be between 0 and 65535/);
    expect(() => loadBrokerConfig({ FLOE_AUTO_CREATE_TOPICS: "maybe" })).toThrow(ConfigError);
    expect(() => loadBrokerConfig({ FLOE_WAL_TYPE: "tape" })).toThrow(/FLOE_WAL_TYPE must be one of/);
    expect(() => loadBrokerConfig({ FLOE_GROUP_MIN_SESSION_TIMEOUT_MS: "10", FLOE_GROUP_MAX_SESSION_TIMEOUT_MS: "5" })).toThrow(/must not exceed/);
  });
});
