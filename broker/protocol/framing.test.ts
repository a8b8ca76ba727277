import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Kafka, logLevel } from "kafkajs";
import { decodeRequestHeader, encodeRequest, encodeResponse, requestHeaderVersion, responseHeaderVersion } from "./framing.js";
import { ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest } from "./messages/index.js";
import { ProtocolDecodeError, Reader, ZERO_UUID } from "./primitives.js";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));

/**
 * The frames a real kafkajs admin sends to a fresh connection. The fake broker answers
 * ApiVersions advertising Metadata v0-1 only, so the client's next request is Metadata v1.
 */
async function captureKafkajsFrames(): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  let metadataSeen!: () => void;
  const done = new Promise<void>((r) => (metadataSeen = r));
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const frame = buf.subarray(0, 4 + buf.readInt32BE(0));
        buf = buf.subarray(frame.length);
        frames.push(frame);
        const { apiKey, apiVersion, correlationId } = decodeRequestHeader(new Reader(frame, 4));
        if (apiKey === ApiKey.ApiVersions) {
          const apiKeys = [
            { apiKey: ApiKey.ApiVersions, minVersion: 0, maxVersion: 2 },
            { apiKey: ApiKey.Metadata, minVersion: 0, maxVersion: 1 },
          ];
          s.write(encodeResponse(apiKey, apiVersion, correlationId, { ...ApiVersionsResponse.defaults(), apiKeys }));
        } else if (apiKey === ApiKey.Metadata) metadataSeen();
      }
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const kafka = new Kafka({ clientId: "golden", brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 }, requestTimeout: 2000 });
  const admin = kafka.admin();
  try {
    await admin.connect();
    // One topic only: kafkajs shuffles the topic list.
    admin.fetchTopicMetadata({ topics: ["orders"] }).catch(() => {});
    await done;
  } finally {
    await admin.disconnect().catch(() => {});
    server.close();
  }
  return frames;
}

describe("request framing", () => {
  it("decodes the frames kafkajs sends (saved fixtures) and re-encodes them byte for byte", async () => {
    const [apiVersions, metadata] = await captureKafkajsFrames();
    expect(apiVersions).toEqual(fixture("api-versions/v2_request.bin"));
    expect(metadata).toEqual(fixture("metadata/v1_request.bin"));

    let r = new Reader(apiVersions!, 4);
    expect(decodeRequestHeader(r)).toEqual({ apiKey: 18, apiVersion: 2, correlationId: 0, clientId: "golden" });
    const body = ApiVersionsRequest.decode(r, 2);
    expect(r.remaining).toBe(0);
    expect(encodeRequest(18, 2, 0, "golden", body)).toEqual(apiVersions);

    // Metadata v1: header v1, then a classic array of classic strings.
    r = new Reader(metadata!, 4);
    expect(decodeRequestHeader(r)).toEqual({ apiKey: 3, apiVersion: 1, correlationId: 1, clientId: "golden" });
    const request = MetadataRequest.decode(r, 1);
    expect(r.remaining).toBe(0);
    expect(request).toEqual({ ...MetadataRequest.defaults(), topics: [{ topicId: ZERO_UUID, name: "orders" }] });
    expect(encodeRequest(3, 1, 1, "golden", request)).toEqual(metadata);
  });

  it("decodes a flexible ApiVersions v3 request as the Java client sends it (hand-assembled fixture)", () => {
    // size 0000002e (46)
    // header v2: api key 0012, version 0003, correlation id 00000001,
    //            client id as a classic nullable string 000a "producer-1", no tags 00
    // body:      compact strings 12 "apache-kafka-java" (17 bytes + 1) and 06 "4.1.1" (5 + 1), no tags 00
    const bytes = fixture("api-versions/v3_request.bin");
    const assembled = Buffer.concat([
      Buffer.from("0000002e" + "0012" + "0003" + "00000001" + "000a", "hex"),
      Buffer.from("producer-1"),
      Buffer.from("00" + "12", "hex"),
      Buffer.from("apache-kafka-java"),
      Buffer.from("06", "hex"),
      Buffer.from("4.1.1"),
      Buffer.from("00", "hex"),
    ]);
    expect(bytes).toEqual(assembled);
    const r = new Reader(bytes, 4);
    expect(decodeRequestHeader(r)).toEqual({ apiKey: 18, apiVersion: 3, correlationId: 1, clientId: "producer-1" });
    const body = ApiVersionsRequest.decode(r, 3);
    expect(body).toEqual({ clientSoftwareName: "apache-kafka-java", clientSoftwareVersion: "4.1.1" });
    expect(r.remaining).toBe(0);
    expect(encodeRequest(18, 3, 1, "producer-1", body)).toEqual(bytes);
  });

  it("reads a null client id, and request header v0 (ControlledShutdown v0) without one", () => {
    const v1 = new Reader(Buffer.from("0003000100000005ffff", "hex"));
    expect(decodeRequestHeader(v1)).toEqual({ apiKey: 3, apiVersion: 1, correlationId: 5, clientId: null });
    expect(v1.remaining).toBe(0);
    const v0 = new Reader(Buffer.from("0007000000000009" + "00000001", "hex"));
    expect(decodeRequestHeader(v0)).toEqual({ apiKey: 7, apiVersion: 0, correlationId: 9, clientId: null });
    expect(v0.int32()).toBe(1); // the body's broker id follows at once
  });

  it("skips the tagged fields of a request header v2", () => {
    // Metadata v9, correlation 2, client id "a", one tag (1, 3 bytes "abc"), then a body byte.
    const r = new Reader(Buffer.from("00030009000000020001610101036162" + "63" + "ee", "hex"));
    expect(decodeRequestHeader(r)).toEqual({ apiKey: 3, apiVersion: 9, correlationId: 2, clientId: "a" });
    expect(r.int8()).toBe(-18);
  });

  it("uses header v0 for every ApiVersions response and flexible headers elsewhere", () => {
    expect(responseHeaderVersion(ApiKey.ApiVersions, 3)).toBe(0);
    expect(responseHeaderVersion(ApiKey.Metadata, 9)).toBe(1);
    expect(responseHeaderVersion(ApiKey.Metadata, 8)).toBe(0);
    expect(requestHeaderVersion(ApiKey.Metadata, 9)).toBe(2);
    expect(requestHeaderVersion(ApiKey.Metadata, 8)).toBe(1);
    expect(requestHeaderVersion(ApiKey.ControlledShutdown, 0)).toBe(0);
    expect(requestHeaderVersion(ApiKey.SaslHandshake, 1)).toBe(1);
    const frame = encodeResponse(ApiKey.ApiVersions, 3, 42, { ...ApiVersionsResponse.defaults(), apiKeys: [{ apiKey: 0, minVersion: 0, maxVersion: 11 }] });
    expect(frame.readInt32BE(0)).toBe(frame.length - 4);
    expect(frame.readInt32BE(4)).toBe(42);
    expect(frame.readInt16BE(8)).toBe(0); // error code right after the v0 header
  });

  it("writes response header v1 with an empty tag section for flexible versions", () => {
    const frame = encodeResponse(ApiKey.Heartbeat, 4, 77, { throttleTimeMs: 0, errorCode: 27 });
    expect(frame.toString("hex")).toBe("0000000c" + "0000004d" + "00" + "00000000" + "001b" + "00");
  });

  it("reads only the fixed part of a header for an unknown API key or version", () => {
    const r = new Reader(Buffer.from("03e70000000000070005616263", "hex"));
    expect(decodeRequestHeader(r)).toEqual({ apiKey: 999, apiVersion: 0, correlationId: 7, clientId: null });
    expect(r.offset).toBe(8);
    // ApiVersions v99 from a newer client: still answerable (with UNSUPPORTED_VERSION).
    const newer = new Reader(Buffer.from("00120063000000080003616263", "hex"));
    expect(decodeRequestHeader(newer)).toEqual({ apiKey: 18, apiVersion: 99, correlationId: 8, clientId: null });
    expect(() => decodeRequestHeader(new Reader(Buffer.from("001200", "hex")))).toThrow(ProtocolDecodeError);
  });
});
