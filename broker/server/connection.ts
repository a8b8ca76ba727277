import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { SaslConnectionState } from "../security/sasl.js";

/** What a request handler may know about the connection it came from. */
export interface ConnectionInfo {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The listener the client connected through (e.g. `INTERNAL`): Metadata gives it addresses on this listener only. */
  readonly listener: string;
  /** Set from ApiVersions v3+ (KIP-511). */
  clientSoftwareName: string;
  clientSoftwareVersion: string;
  /**
   * Who the client is: `User:<name>` once SASL authentication succeeded, `User:ANONYMOUS`
   * on a listener that does not authenticate. Authorization decides by this alone.
   */
  principal: string;
  /** SASL progress on a SASL listener; null on a listener without SASL. */
  sasl: SaslConnectionState | null;
}

/**
 * The result of dispatching one frame: bytes to write (a whole response frame including
 * its size prefix), nothing (acks=0 produce), or an instruction to close the connection
 * after the responses before it have been written (the request could not be understood).
 * `thenClose` closes the connection right after writing that response (failed authentication).
 * `muteMs`: read nothing more from the connection for that long after this (a client over its quota).
 */
export type DispatchResult = { kind: "respond"; frame: Buffer; thenClose?: string; muteMs?: number } | { kind: "none"; muteMs?: number } | { kind: "close"; reason: string };

export type Dispatch = (frame: Buffer, conn: ConnectionInfo) => Promise<DispatchResult>;

export interface ConnectionLimits {
  maxRequestBytes: number;
  maxInFlight: number;
  /** Frame bound while a SASL connection has not authenticated (Kafka's sasl.server.max.receive.size). */
  maxUnauthenticatedRequestBytes?: number;
}

/**
 * One client connection: splits the byte stream into size-prefixed frames, runs up to
 * `maxInFlight` requests at once (clients pipeline), and writes responses strictly in
 * request order, as the Kafka protocol requires. Reading pauses while the in-flight
 * window is full, so a fast client cannot make the broker buffer without bound.
 */
export class Connection {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly pending: { done: boolean; result?: DispatchResult }[] = [];
  private closed = false;
  private paused = false;
  /** Until when requests are not read (a throttled client); 0 when not muted. */
  private mutedUntil = 0;
  private muteTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly socket: Socket,
    readonly info: ConnectionInfo,
    private readonly dispatch: Dispatch,
    private readonly limits: ConnectionLimits,
    private readonly logger: Logger,
    private readonly onClose: () => void,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (data: Buffer) => this.onData(data));
    socket.on("error", (err) => this.logger.debug({ err, conn: info.id }, "connection error"));
    socket.on("close", () => {
      this.closed = true;
      if (this.muteTimer) clearTimeout(this.muteTimer);
      this.pending.length = 0;
      this.onClose();
    });
  }

  get inFlight(): number {
    return this.pending.length;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.logger.info({ conn: this.info.id, remote: `${this.info.remoteAddress}:${this.info.remotePort}`, reason }, "closing connection");
    this.socket.end();
    this.socket.destroySoon?.();
  }

  private onData(data: Buffer): void {
    if (this.closed) return;
    this.chunks.push(data);
    this.buffered += data.length;
    this.drainFrames();
  }

  private drainFrames(): void {
    const mutedFor = this.mutedUntil - Date.now();
    if (mutedFor > 0) {
      if (!this.paused) {
        this.paused = true;
        this.socket.pause();
      }
      this.muteTimer ??= setTimeout(() => {
        this.muteTimer = null;
        this.drainFrames();
      }, mutedFor);
      return;
    }
    while (!this.closed && this.pending.length < this.limits.maxInFlight && this.buffered >= 4) {
      const head = this.peek(4);
      const size = head.readInt32BE(0);
      // Before authentication a client is a stranger: it gets the small bound, so it cannot make us buffer 100 MiB.
      const unauthenticated = this.info.sasl !== null && this.info.sasl.user === null && this.limits.maxUnauthenticatedRequestBytes !== undefined;
      const limit = unauthenticated ? Math.min(this.limits.maxUnauthenticatedRequestBytes!, this.limits.maxRequestBytes) : this.limits.maxRequestBytes;
      if (size < 8 || size > limit) {
        // The size is read before any allocation, so an absurd prefix cannot make us allocate it.
        this.close(size < 8 ? `request frame of ${size} bytes is too small for a header` : `request frame of ${size} bytes exceeds the ${limit}-byte limit${unauthenticated ? " before authentication" : ""}`);
        return;
      }
      if (this.buffered < 4 + size) break;
      const frame = this.take(4 + size).subarray(4);
      this.startRequest(frame);
    }
    const shouldPause = this.pending.length >= this.limits.maxInFlight;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private startRequest(frame: Buffer): void {
    const slot: { done: boolean; result?: DispatchResult } = { done: false };
    this.pending.push(slot);
    this.dispatch(frame, this.info).then(
      (result) => this.complete(slot, result),
      (err: unknown) => {
        this.logger.warn({ err, conn: this.info.id }, "request failed; closing connection");
        this.complete(slot, { kind: "close", reason: err instanceof Error ? err.message : String(err) });
      },
    );
  }

  private complete(slot: { done: boolean; result?: DispatchResult }, result: DispatchResult): void {
    slot.done = true;
    slot.result = result;
    if (this.closed) return;
    // Flush every finished response at the head of the queue, in order.
    while (this.pending.length > 0 && this.pending[0]!.done) {
      const head = this.pending.shift()!;
      const r = head.result!;
      if (r.kind !== "close" && r.muteMs) this.mutedUntil = Math.max(this.mutedUntil, Date.now() + r.muteMs);
      if (r.kind === "respond") {
        this.socket.write(r.frame);
        if (r.thenClose !== undefined) {
          this.close(r.thenClose);
          return;
        }
      } else if (r.kind === "close") {
        this.close(r.reason);
        return;
      }
    }
    this.drainFrames();
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  /**
   * The next `n` buffered bytes. Inside one chunk they are a view of it; across chunks they
   * are copied into a buffer of their own, and only they: a produced batch kept by the log
   * then holds on to its own request's memory, not to whatever arrived after it.
   */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const chunk = this.chunks[0]!;
        const used = Math.min(chunk.length, n - at);
        chunk.copy(out, at, 0, used);
        at += used;
        if (used === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(used);
      }
    }
    this.buffered -= n;
    return out;
  }
}
