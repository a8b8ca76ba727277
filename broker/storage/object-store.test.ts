import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LocalObjectStore } from "./local-object-store.js";
import { MemoryObjectStore } from "./memory-object-store.js";
import { objectStoreConformance } from "./object-store.conformance.js";

objectStoreConformance("memory", async () => ({ store: new MemoryObjectStore() }));

objectStoreConformance("local folder", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-objects-"));
  return { store: new LocalObjectStore(dir), cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
});

describe("LocalObjectStore specifics", () => {
  it("keeps every object under its root, whatever the key", async () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), "floe-objects-"));
    const root = path.join(parent, "root");
    const store = new LocalObjectStore(root);
    await store.put("../../outside", Buffer.from("x"));
    await store.put("./.tmp", Buffer.from("y"));
    expect(fs.readdirSync(parent)).toEqual(["root"]);
    expect((await store.get("./.tmp"))?.body.toString()).toBe("y");
    fs.rmSync(parent, { recursive: true, force: true });
  });

  it("leaves no temporary files behind after refused writes", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "floe-objects-"));
    const store = new LocalObjectStore(root);
    await store.put("k", Buffer.from("1"), { ifNoneMatch: "*" });
    await expect(store.put("k", Buffer.from("2"), { ifNoneMatch: "*" })).rejects.toThrow();
    await expect(store.put("k", Buffer.from("2"), { ifMatch: "nope" })).rejects.toThrow();
    expect(fs.readdirSync(path.join(root, ".tmp"))).toEqual([]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("a second instance over the same folder sees the objects (restart)", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "floe-objects-"));
    await new LocalObjectStore(root).put("p/q", Buffer.from("persisted"));
    expect((await new LocalObjectStore(root).get("p/q"))?.body.toString()).toBe("persisted");
    fs.rmSync(root, { recursive: true, force: true });
  });
});
