import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/common/config.js";
import { advertisedHostOf, BROKER_SETTINGS, interBrokerListenerOf, listenersOf, loadBrokerConfig } from "./config.js";

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

describe("named listeners", () => {
  const TLS = { FLOE_TLS_CERT_FILE: "/tls/tls.crt", FLOE_TLS_KEY_FILE: "/tls/tls.key" };
  const two = { FLOE_LISTENERS: "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094", FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL", ...TLS };
  const listeners = (env: Record<string, string>) => listenersOf(loadBrokerConfig(env));

  it("without FLOE_LISTENERS: one listener named after its protocol, from FLOE_HOST, FLOE_PORT and FLOE_ADVERTISED_*", () => {
    expect(listeners({})).toEqual([{ name: "PLAINTEXT", host: "0.0.0.0", port: 9092, protocol: "PLAINTEXT", advertisedHost: "localhost", advertisedPort: 0 }]);
    expect(listeners({ FLOE_HOST: "10.0.0.5", FLOE_PORT: "19092", FLOE_ADVERTISED_HOST: "b0.example.com", FLOE_ADVERTISED_PORT: "29092", FLOE_SECURITY_PROTOCOL: "SASL_SSL", ...TLS })).toEqual([
      { name: "SASL_SSL", host: "10.0.0.5", port: 19092, protocol: "SASL_SSL", advertisedHost: "b0.example.com", advertisedPort: 29092 },
    ]);
    expect(interBrokerListenerOf(loadBrokerConfig({})).name).toBe("PLAINTEXT");
  });

  it("parses listeners, their protocols and advertised addresses, in order", () => {
    expect(listeners({ ...two, FLOE_ADVERTISED_LISTENERS: "INTERNAL://floe-0.floe-headless:9092,EXTERNAL://broker0.example.com:19094" })).toEqual([
      { name: "INTERNAL", host: "0.0.0.0", port: 9092, protocol: "PLAINTEXT", advertisedHost: "floe-0.floe-headless", advertisedPort: 9092 },
      { name: "EXTERNAL", host: "0.0.0.0", port: 9094, protocol: "SASL_SSL", advertisedHost: "broker0.example.com", advertisedPort: 19094 },
    ]);
  });

  it("names are case-insensitive; a name that is a protocol needs no map entry; an empty host binds everything; IPv6 in brackets", () => {
    expect(listeners({ FLOE_LISTENERS: "plaintext://:9092,ssl://[::1]:9093,Repl://127.0.0.1:0", FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "repl:SASL_PLAINTEXT", ...TLS })).toEqual([
      { name: "PLAINTEXT", host: "0.0.0.0", port: 9092, protocol: "PLAINTEXT", advertisedHost: "localhost", advertisedPort: 0 },
      { name: "SSL", host: "::1", port: 9093, protocol: "SSL", advertisedHost: "::1", advertisedPort: 0 },
      { name: "REPL", host: "127.0.0.1", port: 0, protocol: "SASL_PLAINTEXT", advertisedHost: "127.0.0.1", advertisedPort: 0 },
    ]);
  });

  it("a listener left out of FLOE_ADVERTISED_LISTENERS advertises its bind host; port 0 there means the bound port", () => {
    const [internal, external] = listeners({ ...two, FLOE_LISTENERS: "INTERNAL://10.1.2.3:9092,EXTERNAL://0.0.0.0:9094", FLOE_ADVERTISED_LISTENERS: "EXTERNAL://broker0.example.com:0" });
    expect(internal).toMatchObject({ advertisedHost: "10.1.2.3", advertisedPort: 0 });
    expect(external).toMatchObject({ advertisedHost: "broker0.example.com", advertisedPort: 0 });
  });

  it("the inter-broker listener is FLOE_INTER_BROKER_LISTENER_NAME, else the first", () => {
    expect(interBrokerListenerOf(loadBrokerConfig(two)).name).toBe("INTERNAL");
    expect(interBrokerListenerOf(loadBrokerConfig({ ...two, FLOE_INTER_BROKER_LISTENER_NAME: "external" })).name).toBe("EXTERNAL");
  });

  it("refuses every inconsistent listener setting at start-up, naming the variable and the entry", () => {
    const bad = (env: Record<string, string>) => () => loadBrokerConfig(env);
    expect(bad({ ...two, FLOE_LISTENERS: "A://:9092,a://:9093", FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "A:PLAINTEXT" })).toThrow("FLOE_LISTENERS: listener A is given twice");
    expect(bad({ ...two, FLOE_LISTENERS: "INTERNAL://127.0.0.1:9092,EXTERNAL://0.0.0.0:9092" })).toThrow("FLOE_LISTENERS: listeners INTERNAL and EXTERNAL both use port 9092");
    expect(bad({ ...two, FLOE_LISTENERS: "INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094,ADMIN://0.0.0.0:9095" })).toThrow("listener ADMIN has no security protocol: add ADMIN:PLAINTEXT");
    expect(bad({ ...two, FLOE_ADVERTISED_LISTENERS: "INTERNAL://floe-0:9092,OUTSIDE://b0.example.com:9094" })).toThrow("FLOE_ADVERTISED_LISTENERS: OUTSIDE is not a listener in FLOE_LISTENERS");
    expect(bad({ ...two, FLOE_ADVERTISED_LISTENERS: "EXTERNAL://:9094" })).toThrow("FLOE_ADVERTISED_LISTENERS: EXTERNAL needs a host clients can reach");
    expect(bad({ ...two, FLOE_ADVERTISED_LISTENERS: "EXTERNAL://a:9094,EXTERNAL://b:9094" })).toThrow("FLOE_ADVERTISED_LISTENERS: listener EXTERNAL is given twice");
    expect(bad({ ...two, FLOE_TLS_CERT_FILE: "" })).toThrow("listener EXTERNAL (SASL_SSL) needs FLOE_TLS_CERT_FILE and FLOE_TLS_KEY_FILE");
    expect(bad({ FLOE_SECURITY_PROTOCOL: "SSL" })).toThrow("FLOE_SECURITY_PROTOCOL=SSL needs FLOE_TLS_CERT_FILE and FLOE_TLS_KEY_FILE");
    expect(bad({ ...two, FLOE_TLS_CLIENT_AUTH: "required" })).toThrow("FLOE_TLS_CLIENT_AUTH=required needs FLOE_TLS_CA_FILE");
    expect(bad({ ...two, FLOE_SASL_ENABLED_MECHANISMS: " , " })).toThrow("FLOE_SASL_ENABLED_MECHANISMS must name at least one mechanism");
    expect(bad({ ...two, FLOE_SASL_ENABLED_MECHANISMS: "GSSAPI" })).toThrow(/FLOE_SASL_ENABLED_MECHANISMS: unknown mechanism "GSSAPI"/);
    expect(bad({ ...two, FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "INTERNAL:PLAINTEXT,EXTERNAL:TLS" })).toThrow('FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "EXTERNAL:TLS" is not NAME:PROTOCOL');
    expect(bad({ ...two, FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "INTERNAL:PLAINTEXT,EXTERNAL:SSL,OUTSIDE:SSL" })).toThrow("FLOE_LISTENER_SECURITY_PROTOCOL_MAP: OUTSIDE is not a listener in FLOE_LISTENERS");
    expect(bad({ ...two, FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "INTERNAL:PLAINTEXT,EXTERNAL:SSL,internal:SSL" })).toThrow("FLOE_LISTENER_SECURITY_PROTOCOL_MAP: INTERNAL is given twice");
    for (const entry of ["INTERNAL:9092", "INTERNAL://host", "INTERNAL://host:99999", "9://host:1", "INTERNAL://a b:1"]) {
      expect(bad({ ...two, FLOE_LISTENERS: entry }), entry).toThrow(`FLOE_LISTENERS: ${JSON.stringify(entry)} is not NAME://host:port`);
    }
    expect(bad({ ...two, FLOE_INTER_BROKER_LISTENER_NAME: "REPLICATION" })).toThrow("FLOE_INTER_BROKER_LISTENER_NAME: REPLICATION is not a listener (listeners: INTERNAL, EXTERNAL)");
    expect(bad({ ...two, FLOE_PORT: "9092", FLOE_SECURITY_PROTOCOL: "SSL" })).toThrow("FLOE_PORT, FLOE_SECURITY_PROTOCOL cannot be combined with FLOE_LISTENERS");
    expect(bad({ FLOE_ADVERTISED_LISTENERS: "EXTERNAL://b0:9094" })).toThrow("FLOE_ADVERTISED_LISTENERS needs FLOE_LISTENERS");
    expect(bad({ FLOE_LISTENER_SECURITY_PROTOCOL_MAP: "EXTERNAL:SSL" })).toThrow("FLOE_LISTENER_SECURITY_PROTOCOL_MAP needs FLOE_LISTENERS");
    expect(bad({ FLOE_LISTENERS: " , " })).toThrow("FLOE_LISTENERS names no listener");
  });
});
