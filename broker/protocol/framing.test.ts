import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Kafka, logLevel } from "kafkajs";
import { decodeRequestHeader, encodeRequest, encodeResponse, requestHeaderVersion, responseHeaderVersion } from "./framing.js";
import { API_SPECS, ApiKey } from "./messages/index.js";
import { Reader } from "./primitives.js";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

/** The first frame a real kafkajs client sends to a fresh connection. */
async function captureKafkajsFirstFrame(): Promise<Buffer> {
  let resolveFrame!: (b: Buffer) => void;
  const frame = new Promise<Buffer>((r) => (resolveFrame = r));
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) resolveFrame(buf.subarray(0, 4 + buf.readInt32BE(0)));
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const admin = new Kafka({ clientId: "golden", brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 }, requestTimeout: 1000 }).admin();
  admin.connect().catch(() => {});
  const bytes = await frame;
  await admin.disconnect().catch(() => {});
  server.close();
  return bytes;
}

describe("request framing", () => {
  it("decodes kafkajs's ApiVersions v2 request (saved fixture) and re-encodes it byte for byte", async () => {
    const fixture = fs.readFileSync(path.join(FIXTURES, "api-versions/v2_request.bin"));
    expect(await captureKafkajsFirstFrame()).toEqual(fixture);
    const r = new Reader(fixture, 4);
    const header = decodeRequestHeader(r);
    expect(header).toEqual({ apiKey: 18, apiVersion: 2, correlationId: 0, clientId: "golden" });
    const body = API_SPECS.get(18)!.request.decode(r, 2);
    expect(r.remaining).toBe(0);
    expect(encodeRequest(18, 2, 0, "golden", body)).toEqual(fixture);
  });

  it("decodes a flexible ApiVersions v3 request as librdkafka and the Java client send it", () => {
    // header v2: key 18, version 3, correlation 1, client id "rdkafka" (classic string), no tags;
    // body: compact strings "librdkafka" and "2.6.0", no tags.
    const payload = Buffer.from("00120003000000010007" + Buffer.from("rdkafka").toString("hex") + "00" + "0b" + Buffer.from("librdkafka").toString("hex") + "06" + Buffer.from("2.6.0").toString("hex") + "00", "hex");
    const r = new Reader(payload);
    expect(decodeRequestHeader(r)).toEqual({ apiKey: 18, apiVersion: 3, correlationId: 1, clientId: "rdkafka" });
    expect(API_SPECS.get(18)!.request.decode(r, 3)).toEqual({ clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.6.0" });
    expect(r.remaining).toBe(0);
  });

  it("uses header v0 for every ApiVersions response and flexible headers elsewhere", () => {
    expect(responseHeaderVersion(ApiKey.ApiVersions, 3)).toBe(0);
    expect(responseHeaderVersion(ApiKey.Metadata, 9)).toBe(1);
    expect(responseHeaderVersion(ApiKey.Metadata, 8)).toBe(0);
    expect(requestHeaderVersion(ApiKey.Metadata, 9)).toBe(2);
    expect(requestHeaderVersion(ApiKey.ControlledShutdown, 0)).toBe(0);
    const frame = encodeResponse(ApiKey.ApiVersions, 3, 42, { ...API_SPECS.get(18)!.response.defaults(), apiKeys: [{ apiKey: 0, minVersion: 0, maxVersion: 11 }] });
    expect(frame.readInt32BE(0)).toBe(frame.length - 4);
    expect(frame.readInt32BE(4)).toBe(42);
    expect(frame.readInt16BE(8)).toBe(0); // error code right after the v0 header
  });

  it("reads only the fixed part of a header for an unknown API key", () => {
    const r = new Reader(Buffer.from("03e70000000000070005616263", "hex"));
    expect(decodeRequestHeader(r)).toEqual({ apiKey: 999, apiVersion: 0, correlationId: 7, clientId: null });
  });
});
