import net from "node:net";
import { API_SPECS } from "../broker/protocol/messages/index.js";
import { Reader, Writer } from "../broker/protocol/primitives.js";
import { requestHeaderVersion, responseHeaderVersion } from "../broker/protocol/framing.js";

/**
 * A bare Kafka client for tests that need exact bytes on the wire: malformed frames,
 * unsupported versions, and requests no library would send.
 */
export class RawClient {
  private buf = Buffer.alloc(0);
  private waiters: ((frame: Buffer) => void)[] = [];
  readonly closed: Promise<void>;
  private correlationId = 1;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readInt32BE(0)) {
        const size = this.buf.readInt32BE(0);
        const frame = this.buf.subarray(4, 4 + size);
        this.buf = this.buf.subarray(4 + size);
        this.waiters.shift()?.(frame);
      }
    });
    socket.on("error", () => {});
    this.closed = new Promise((r) => socket.on("close", () => r()));
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawClient(socket);
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Encodes a request with the generated codec, sends it and decodes the response. */
  async request<T = any>(apiKey: number, version: number, body: object): Promise<T> {
    const spec = API_SPECS.get(apiKey)!;
    const w = new Writer();
    const correlationId = this.correlationId++;
    w.int16(apiKey);
    w.int16(version);
    w.int32(correlationId);
    w.nullableString("raw-client");
    if (requestHeaderVersion(apiKey, version) >= 2) w.uvarint(0);
    spec.request.encode(w, version, { ...spec.request.defaults(), ...body });
    const payload = w.toBuffer();
    const size = Buffer.alloc(4);
    size.writeInt32BE(payload.length);
    const response = this.nextFrame();
    this.socket.write(Buffer.concat([size, payload]));
    const frame = await response;
    const r = new Reader(frame);
    if (r.int32() !== correlationId) throw new Error("correlation id mismatch");
    if (responseHeaderVersion(apiKey, version) >= 1) skipTags(r);
    return spec.response.decode(r, version) as T;
  }

  nextFrame(): Promise<Buffer> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    this.socket.destroy();
  }
}

function skipTags(r: Reader): void {
  const n = r.uvarint();
  for (let i = 0; i < n; i++) {
    r.uvarint();
    const size = r.uvarint();
    r.raw(size);
  }
}
