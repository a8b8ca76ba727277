import { Worker } from "node:worker_threads";

/**
 * Write + fdatasync (+ a stat of a probe file) as one call on a thread of its own.
 *
 * Why: through `fs.promises` a WAL group commit is three trips through libuv's thread pool
 * (write, fdatasync, the fence stat), and each trip's completion waits for the main thread
 * to come round to it. With the event loop busy parsing produce requests, each wait is
 * several milliseconds at p99 even where the I/O itself takes microseconds. Here the three
 * run back to back on one thread and the main thread hears once, when the group is durable.
 *
 * Commits queued while the thread was busy are taken together: every write first, then
 * one fdatasync per file for all of them (a group commit of group commits).
 *
 * The buffer is shared with the thread, not copied: it must lie in a SharedArrayBuffer
 * (`sharedBuffer()`); any other buffer is copied into one first. The caller must not touch
 * it until the returned promise settles.
 */

/** Identity of a file as `Disk.identity` gives it: changes whenever the file is replaced or written. */
export function statIdentity(s: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** A buffer the writer thread can read in place. */
export function sharedBuffer(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}

export interface DurableWriteResult {
  /** Identity of the probe file after the sync; null if it is absent or none was named. */
  probe: string | null;
  /** True for the commit whose fdatasync covered it (the last of its file in a batch). */
  synced: boolean;
}

interface Request {
  id: number;
  fd: number;
  buffer: SharedArrayBuffer;
  offset: number;
  length: number;
  position: number;
  probe: string | null;
}

// The thread's code, as a string: it must run without the TypeScript loader the broker may
// be started with (tests, `npm start`), and it is small. Errors go back with their code
// (ENOSPC, EIO, ...) so the WAL reports them as it would from fs.
const THREAD_SOURCE = `
const { parentPort, receiveMessageOnPort } = require("node:worker_threads");
const fs = require("node:fs");
const identity = (s) => s.dev + ":" + s.ino + ":" + s.size + ":" + s.mtimeNs + ":" + s.ctimeNs;
const failure = (err) => ({ message: String(err && err.message || err), code: err && err.code });
function commit(batch) {
  const byFd = new Map();
  for (const r of batch) { let list = byFd.get(r.fd); if (!list) byFd.set(r.fd, (list = [])); list.push(r); }
  const replies = [];
  for (const [fd, list] of byFd) {
    let error = null;
    try {
      for (const r of list) {
        const buf = Buffer.from(r.buffer, r.offset, r.length);
        let done = 0;
        while (done < r.length) {
          const n = fs.writeSync(fd, buf, done, r.length - done, r.position + done);
          if (n === 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
          done += n;
        }
      }
      fs.fdatasyncSync(fd);
    } catch (err) {
      error = failure(err);
    }
    list.forEach((r, i) => {
      if (error) return replies.push({ id: r.id, error });
      let probe = null;
      try {
        if (r.probe !== null) { const s = fs.statSync(r.probe, { bigint: true, throwIfNoEntry: false }); probe = s ? identity(s) : null; }
      } catch (err) {
        return replies.push({ id: r.id, error: failure(err) });
      }
      replies.push({ id: r.id, probe, synced: i === list.length - 1 });
    });
  }
  parentPort.postMessage(replies);
}
parentPort.on("message", (first) => {
  const batch = [first];
  for (let m; (m = receiveMessageOnPort(parentPort)); ) batch.push(m.message);
  commit(batch);
});
`;

interface Waiter {
  resolve(result: DurableWriteResult): void;
  reject(err: Error): void;
}

/** One writer thread per process, started on first use. */
class DurableWriter {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiter>();

  write(fd: number, buf: Buffer, position: number, probe: string | null): Promise<DurableWriteResult> {
    let shared = buf;
    if (!(buf.buffer instanceof SharedArrayBuffer)) {
      shared = sharedBuffer(buf.length);
      buf.copy(shared);
    }
    const request: Request = { id: this.nextId++, fd, buffer: shared.buffer as SharedArrayBuffer, offset: shared.byteOffset, length: shared.length, position, probe };
    return new Promise<DurableWriteResult>((resolve, reject) => {
      const thread = this.thread();
      // Referenced only while a commit is pending: an idle WAL does not keep the process up,
      // and a pending one is not dropped by an exit.
      if (this.waiting.size === 0) thread.ref();
      this.waiting.set(request.id, { resolve, reject });
      thread.postMessage(request);
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    // No execArgv: the broker's loader flags (tsx) are not needed by plain JavaScript.
    const worker = new Worker(THREAD_SOURCE, { eval: true, execArgv: [], name: "floe-wal-writer" });
    worker.unref();
    worker.on("message", (replies: { id: number; probe?: string | null; synced?: boolean; error?: { message: string; code?: string } }[]) => {
      for (const r of replies) {
        const w = this.waiting.get(r.id);
        if (!w) continue;
        this.waiting.delete(r.id);
        if (r.error) w.reject(Object.assign(new Error(r.error.message), r.error.code ? { code: r.error.code } : {}));
        else w.resolve({ probe: r.probe ?? null, synced: r.synced ?? false });
      }
      if (this.waiting.size === 0) worker.unref();
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      // Nothing in flight is known durable: fail it, as a failed write would.
      const cause = Object.assign(new Error(`WAL writer thread stopped: ${err.message}`), { code: "EIO" });
      for (const w of this.waiting.values()) w.reject(cause);
      this.waiting.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`exit code ${code}`)));
    this.worker = worker;
    return worker;
  }
}

export const durableWriter = new DurableWriter();
