import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../protocol/errors.js";
import { InternalCallError } from "../cluster/internal-http.js";
import { txnCalls, txnRoutes, type MarkerCall, type TxnCallHandlers } from "./txn-rpc.js";
import type { TxnOffset } from "./txn-state.js";

describe("transaction calls between brokers", () => {
  it("carry markers, offsets (64-bit), verifications and forwarded commits; 421 when not the owner, 400 with the reason for a bad body, 503 when the owner fails", async () => {
    const markers: MarkerCall[] = [];
    const committed: { groupId: string; offsets: TxnOffset[] }[] = [];
    let own = true;
    const handlers: TxnCallHandlers = {
      marker: (c) => (own ? (markers.push(c), Promise.resolve()) : null),
      offsets: (groupId, offsets) => (own ? (committed.push({ groupId, offsets }), Promise.resolve()) : null),
      verify: (c) => (!own ? "not-owner" : c.partition === 0 ? null : { errorCode: ErrorCode.INVALID_TXN_STATE, message: "not in the transaction" }),
      offsetCommit: (c) => (own ? Promise.resolve({ errorCode: c.offsetsDecoded[0]!.offset === 2n ** 62n ? ErrorCode.NONE : ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: null }) : null),
      pendingOffsets: (groupId) => (groupId === "g" ? ["in\u00000"] : []),
    };
    const app = Fastify();
    txnRoutes(app, handlers);
    await app.listen({ host: "127.0.0.1", port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      const marker = { topic: "out", partition: 3, producerId: "9007199254740993", producerEpoch: 2, commit: true, coordinatorEpoch: 4 };
      await txnCalls.marker(url, marker, 2000);
      expect(markers).toEqual([marker]);
      const big: TxnOffset = { groupId: "g", topic: "in", partition: 0, offset: 2n ** 62n, leaderEpoch: 1, metadata: null };
      await txnCalls.offsets(url, "g", [big], 2000);
      expect(committed).toEqual([{ groupId: "g", offsets: [big] }]);
      const verify = { transactionalId: "t", producerId: "5", producerEpoch: 0, topic: "out", partition: 0 };
      expect(await txnCalls.verify(url, verify, 2000)).toBeNull();
      expect(await txnCalls.verify(url, { ...verify, partition: 1 }, 2000)).toEqual({ errorCode: ErrorCode.INVALID_TXN_STATE, message: "not in the transaction" });
      expect(await txnCalls.offsetCommit(url, { transactionalId: "t", producerId: "5", producerEpoch: 0, offsets: [big], fencedCode: ErrorCode.PRODUCER_FENCED }, 2000)).toEqual({ errorCode: ErrorCode.NONE, errorMessage: null });
      expect(await txnCalls.pendingOffsets(url, "g", 2000)).toEqual(["in\u00000"]);

      own = false;
      for (const call of [() => txnCalls.marker(url, marker, 2000), () => txnCalls.verify(url, verify, 2000), () => txnCalls.offsets(url, "g", [big], 2000)]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InternalCallError);
        expect((err as InternalCallError).status).toBe(421);
      }
      await expect(txnCalls.marker(url, { ...marker, producerId: "12x" }, 2000)).rejects.toThrow(/HTTP 400: invalid call: needs topic, partition, producerId/);
      await expect(txnCalls.offsets(url, "g", [{ ...big, partition: 0.5 }], 2000)).rejects.toThrow(/HTTP 400: invalid call: each offset needs/);

      own = true;
      handlers.marker = () => Promise.reject(new Error("WAL full"));
      await expect(txnCalls.marker(url, marker, 2000)).rejects.toThrow(/HTTP 503: WAL full/);
    } finally {
      await app.close();
    }
  });
});
