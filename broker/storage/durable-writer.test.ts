import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { nodeDisk } from "./disk.js";
import { durableWriter, sharedBuffer } from "./durable-writer.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "floe-durable-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function filled(bytes: number, value: number): Buffer {
  return sharedBuffer(bytes).fill(value);
}

describe("durable writer (the WAL's group commits on a thread of their own)", () => {
  it("writes each buffer at its position; commits queued together share one sync per file", async () => {
    const dir = tempDir();
    const file = await nodeDisk.open(path.join(dir, "a"));
    try {
      // Issued in one run, so the thread finds most of them queued behind the first.
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => file.writeDurably(filled(4096, i), i * 4096, null)));
      const bytes = fs.readFileSync(path.join(dir, "a"));
      expect(bytes.length).toBe(50 * 4096);
      for (let i = 0; i < 50; i++) expect(bytes.subarray(i * 4096, (i + 1) * 4096).every((b) => b === i)).toBe(true);
      const syncs = results.filter((r) => r.synced).length;
      expect(syncs).toBeGreaterThanOrEqual(1);
      expect(syncs).toBeLessThan(50);
      // The last commit is always covered by a sync of its own batch.
      expect(results[49]!.synced).toBe(true);
    } finally {
      await file.close();
    }
  });

  it("returns the probe file's fingerprint after the sync, as Disk.identity gives it; null when it is absent", async () => {
    const dir = tempDir();
    const probe = path.join(dir, "fence");
    fs.writeFileSync(probe, "1\n");
    const file = await nodeDisk.open(path.join(dir, "a"));
    try {
      const seen = await file.writeDurably(filled(10, 1), 0, probe);
      expect(seen.probe).toBe(await nodeDisk.identity(probe));
      fs.rmSync(probe);
      fs.writeFileSync(probe, "2\n");
      const after = await file.writeDurably(filled(10, 2), 10, probe);
      expect(after.probe).not.toBe(seen.probe);
      expect(after.probe).toBe(await nodeDisk.identity(probe));
      fs.rmSync(probe);
      expect((await file.writeDurably(filled(10, 3), 20, probe)).probe).toBeNull();
      expect((await file.writeDurably(filled(10, 4), 30, null)).probe).toBeNull();
    } finally {
      await file.close();
    }
  });

  it("takes a buffer that is not shared by copying it", async () => {
    const dir = tempDir();
    const file = await nodeDisk.open(path.join(dir, "a"));
    try {
      const plain = Buffer.alloc(100, 7).subarray(10, 60);
      await file.writeDurably(plain, 0, null);
      expect(fs.readFileSync(path.join(dir, "a"))).toEqual(Buffer.alloc(50, 7));
    } finally {
      await file.close();
    }
  });

  it("fails with the file system's error code, and keeps serving other commits", async () => {
    const dir = tempDir();
    const readOnly = fs.openSync(path.join(dir, "ro"), "w+");
    fs.closeSync(readOnly);
    const fd = fs.openSync(path.join(dir, "ro"), "r");
    try {
      await expect(durableWriter.write(fd, filled(10, 1), 0, null)).rejects.toMatchObject({ code: "EBADF" });
    } finally {
      fs.closeSync(fd);
    }
    const file = await nodeDisk.open(path.join(dir, "b"));
    try {
      await file.writeDurably(filled(10, 5), 0, null);
      expect(fs.readFileSync(path.join(dir, "b"))).toEqual(Buffer.alloc(10, 5));
    } finally {
      await file.close();
    }
  });

  it("syncs every commit: a file that cannot be synced fails the commit although the write went through", async () => {
    // /dev/null takes any write and refuses fdatasync (EINVAL).
    const fd = fs.openSync("/dev/null", "r+");
    try {
      await expect(durableWriter.write(fd, filled(10, 1), 0, null)).rejects.toMatchObject({ code: "EINVAL" });
    } finally {
      fs.closeSync(fd);
    }
  });

  it("does not keep a process alive once its commits are done", () => {
    const dir = tempDir();
    const script = [
      `import { nodeDisk } from ${JSON.stringify(path.resolve("broker/storage/disk.ts"))};`,
      `const f = await nodeDisk.open(${JSON.stringify(path.join(dir, "a"))});`,
      `await f.writeDurably(Buffer.from("done"), 0, null);`,
      `await f.close();`,
      `console.log("wrote");`,
    ].join("\n");
    // The child exits by itself after its last commit; a referenced idle thread would hang it until the timeout.
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { timeout: 20_000, encoding: "utf8" });
    expect(out.trim()).toBe("wrote");
    expect(fs.readFileSync(path.join(dir, "a"), "utf8")).toBe("done");
  });
});
