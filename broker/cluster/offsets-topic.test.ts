import { describe, expect, it } from "vitest";
import { javaStringHash, offsetsPartitionFor } from "./offsets-topic.js";

describe("group placement", () => {
  it("matches Java's String.hashCode", () => {
    expect(javaStringHash("")).toBe(0);
    expect(javaStringHash("hello")).toBe(99162322);
    expect(javaStringHash("polygenelubricants")).toBe(-2147483648);
  });

  it("maps Integer.MIN_VALUE to partition 0 like Kafka's Utils.abs", () => {
    expect(offsetsPartitionFor("polygenelubricants", 50)).toBe(0);
    expect(offsetsPartitionFor("hello", 50)).toBe(99162322 % 50);
  });
});
