import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/common/config.js";
import { silentLogger } from "../../src/common/logger.js";
import { Controller, memoryJournal, type ControllerRecord } from "../cluster/controller.js";
import { TopicRegistry } from "../cluster/topics.js";
import { loadBrokerConfig, saslMechanismsOf } from "../config.js";
import { passwordMatches } from "./scram.js";
import { bootstrapUsers, parseUsersFile } from "./users-file.js";

function controller(journal: ControllerRecord[] = []): Controller {
  return new Controller(new TopicRegistry(), memoryJournal((r) => journal.push(r)));
}

describe("FLOE_SASL_USERS_FILE", () => {
  it("parses user:password lines, passwords with ':' included, and never echoes a bad line", () => {
    expect(parseUsersFile("# admins\nadmin:pa:ss\n\n  ops:x  \n", "f")).toEqual([
      { user: "admin", password: "pa:ss" },
      { user: "ops", password: "x" },
    ]);
    expect(() => parseUsersFile("admin\n", "f")).toThrow(new ConfigError("f:1: expected user:password"));
    expect(() => parseUsersFile("a:1\nb:secretvalue\nb:2", "f")).toThrow(/f:3: user "b" is listed twice/);
    expect(() => parseUsersFile(":secretvalue", "f")).toThrow(ConfigError);
    try {
      parseUsersFile("nocolon-secretvalue", "f");
    } catch (err) {
      expect((err as Error).message).not.toContain("secretvalue");
    }
  });

  it("stores salted credentials for both mechanisms once, and again only when a password changes", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-users-"));
    const file = path.join(dir, "users");
    fs.writeFileSync(file, "admin:first-pw\n");
    const journal: ControllerRecord[] = [];
    const c = controller(journal);
    expect(await bootstrapUsers(c, file, 4096, silentLogger())).toBe(2);
    expect(await bootstrapUsers(c, file, 4096, silentLogger())).toBe(0);
    expect(passwordMatches(c.scram.get("admin", "SCRAM-SHA-512")!, "first-pw")).toBe(true);
    fs.writeFileSync(file, "admin:second-pw\n");
    expect(await bootstrapUsers(c, file, 4096, silentLogger())).toBe(2);
    expect(passwordMatches(c.scram.get("admin", "SCRAM-SHA-256")!, "second-pw")).toBe(true);
    expect(JSON.stringify(journal)).not.toMatch(/first-pw|second-pw/);
    await expect(bootstrapUsers(c, path.join(dir, "missing"), 4096, silentLogger())).rejects.toThrow(/cannot read .*missing: ENOENT/);
  });

  it("settings: mechanisms and super users are checked at start-up", () => {
    expect(saslMechanismsOf(loadBrokerConfig({}))).toEqual(["SCRAM-SHA-256", "SCRAM-SHA-512"]);
    expect(saslMechanismsOf(loadBrokerConfig({ FLOE_SASL_ENABLED_MECHANISMS: "PLAIN, SCRAM-SHA-512" }))).toEqual(["PLAIN", "SCRAM-SHA-512"]);
    expect(() => loadBrokerConfig({ FLOE_SASL_ENABLED_MECHANISMS: "GSSAPI" })).toThrow(/unknown mechanism "GSSAPI"/);
    expect(() => loadBrokerConfig({ FLOE_SUPER_USERS: "admin" })).toThrow(/not a principal like User:admin/);
    expect(loadBrokerConfig({ FLOE_SECURITY_PROTOCOL: "SASL_PLAINTEXT" }).securityProtocol).toBe("SASL_PLAINTEXT");
  });
});
