import { describe, expect, it } from "vitest";
import { ALL_ERRORS, ErrorCode, errorInfo } from "./errors.js";

describe("error table", () => {
  it("covers every code from -1 to 133 once", () => {
    const codes = ALL_ERRORS.map((e) => e.code);
    expect(codes).toEqual(Array.from({ length: 135 }, (_, i) => i - 1));
    expect(new Set(ALL_ERRORS.map((e) => e.name)).size).toBe(ALL_ERRORS.length);
  });

  it("spells the codes the broker relies on as Kafka does", () => {
    expect(ErrorCode).toMatchObject({
      UNKNOWN_SERVER_ERROR: -1, NONE: 0, OFFSET_OUT_OF_RANGE: 1, CORRUPT_MESSAGE: 2, UNKNOWN_TOPIC_OR_PARTITION: 3,
      NOT_LEADER_OR_FOLLOWER: 6, MESSAGE_TOO_LARGE: 10, NOT_COORDINATOR: 16, ILLEGAL_GENERATION: 22, UNKNOWN_MEMBER_ID: 25,
      REBALANCE_IN_PROGRESS: 27, UNSUPPORTED_VERSION: 35, TOPIC_ALREADY_EXISTS: 36, INVALID_CONFIG: 40, INVALID_REQUEST: 42,
      OUT_OF_ORDER_SEQUENCE_NUMBER: 45, INVALID_PRODUCER_EPOCH: 47, KAFKA_STORAGE_ERROR: 56, UNKNOWN_PRODUCER_ID: 59,
      NON_EMPTY_GROUP: 68, GROUP_ID_NOT_FOUND: 69, FETCH_SESSION_ID_NOT_FOUND: 70, FENCED_LEADER_EPOCH: 74, MEMBER_ID_REQUIRED: 79,
      FENCED_INSTANCE_ID: 82, GROUP_SUBSCRIBED_TO_TOPIC: 86, THROTTLING_QUOTA_EXCEEDED: 89, PRODUCER_FENCED: 90,
      UNKNOWN_TOPIC_ID: 100, INCONSISTENT_TOPIC_ID: 103, TRANSACTION_ABORTABLE: 120, SHARE_SESSION_LIMIT_REACHED: 133,
    });
  });

  it("knows which errors a client retries", () => {
    expect(errorInfo(ErrorCode.NOT_LEADER_OR_FOLLOWER).retriable).toBe(true);
    expect(errorInfo(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS).retriable).toBe(true);
    expect(errorInfo(ErrorCode.UNKNOWN_TOPIC_ID).retriable).toBe(true);
    expect(errorInfo(ErrorCode.INVALID_PRODUCER_EPOCH).retriable).toBe(false);
    expect(errorInfo(ErrorCode.REBALANCE_IN_PROGRESS).retriable).toBe(false);
    expect(errorInfo(ErrorCode.DUPLICATE_SEQUENCE_NUMBER).retriable).toBe(false);
  });

  it("reports an unknown code without throwing", () => {
    expect(errorInfo(9999)).toMatchObject({ code: 9999, name: "UNKNOWN_SERVER_ERROR", retriable: false });
  });
});
