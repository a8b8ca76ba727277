import fs from "node:fs/promises";
import { durableWriter, statIdentity } from "./durable-writer.js";

/**
 * The few file operations the WAL needs, behind an interface so tests (and a future
 * seeded simulator) can count syncs and inject ENOSPC/EIO or torn writes.
 */
export interface Disk {
  mkdirp(dir: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  readFile(file: string): Promise<Buffer>;
  /** Opens for read+write, creating the file if needed; never truncates. */
  open(file: string): Promise<DiskFile>;
  unlink(file: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Makes created/removed/renamed names in `dir` durable. */
  syncDir(dir: string): Promise<void>;
  /**
   * A fingerprint of the file at `file` (inode, size, modification time), null if absent:
   * one cheap call that changes whenever the file is replaced or written.
   */
  identity(file: string): Promise<string | null>;
}

export interface DiskFile {
  /** Writes the whole buffer at `position` (looping over short writes). */
  write(buf: Buffer, position: number): Promise<void>;
  datasync(): Promise<void>;
  /**
   * write() + datasync(), then `Disk.identity(probe)` taken after the sync (null when no
   * probe is named): a WAL group commit and its fence check as one call. `buf` is read in
   * place until the promise settles; give it from `sharedBuffer()` to spare a copy.
   * `synced` is false when a later commit's sync covered this one (counted once).
   */
  writeDurably(buf: Buffer, position: number, probe: string | null): Promise<{ probe: string | null; synced: boolean }>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export const nodeDisk: Disk = {
  async mkdirp(dir) {
    await fs.mkdir(dir, { recursive: true });
  },
  readdir: (dir) => fs.readdir(dir),
  readFile: (file) => fs.readFile(file),
  async identity(file) {
    try {
      return statIdentity(await fs.stat(file, { bigint: true }));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  },
  async open(file) {
    const fh = await fs.open(file, fs.constants.O_RDWR | fs.constants.O_CREAT);
    return {
      async write(buf, position) {
        let done = 0;
        while (done < buf.length) {
          const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
          if (bytesWritten === 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
          done += bytesWritten;
        }
      },
      datasync: () => fh.datasync(),
      // On the writer thread: one hand-off instead of three trips through the thread pool.
      writeDurably: (buf, position, probe) => durableWriter.write(fh.fd, buf, position, probe),
      truncate: (length) => fh.truncate(length),
      size: async () => (await fh.stat()).size,
      close: () => fh.close(),
    };
  },
  unlink: (file) => fs.unlink(file),
  rename: (from, to) => fs.rename(from, to),
  async syncDir(dir) {
    const fh = await fs.open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};

/** DiskFile.writeDurably as its separate steps, for Disks (such as tests' wrappers) that have no faster way. */
export async function writeDurablyInSteps(
  file: Pick<DiskFile, "write" | "datasync">,
  disk: Pick<Disk, "identity">,
  buf: Buffer,
  position: number,
  probe: string | null,
): Promise<{ probe: string | null; synced: boolean }> {
  await file.write(buf, position);
  await file.datasync();
  return { probe: probe === null ? null : await disk.identity(probe), synced: true };
}
