import fs from "node:fs/promises";

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
      const s = await fs.stat(file, { bigint: true });
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
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
