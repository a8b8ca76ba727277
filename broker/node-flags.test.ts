import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { BROKER_NODE_FLAGS } from "./node-flags.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

describe("the broker's node flags", () => {
  it("npm start passes the flags the StatefulSet and the benchmark use", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${BROKER_NODE_FLAGS.join(" ")} --import tsx broker/main.ts`);
  });

  it("this Node accepts every flag on the command line", () => {
    // Node exits with "bad option" on a flag it does not know, so the broker would not start.
    const out = execFileSync(process.execPath, [...BROKER_NODE_FLAGS, "-e", "process.stdout.write('ok')"], { stdio: ["ignore", "pipe", "pipe"] });
    expect(out.toString()).toBe("ok");
  });
});
