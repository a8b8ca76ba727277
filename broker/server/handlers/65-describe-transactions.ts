// DescribeTransactions v0
// The coordinator's view of each transactional id (KIP-664). Ids the principal may not
// DESCRIBE are TRANSACTIONAL_ID_AUTHORIZATION_FAILED; topics it may not DESCRIBE are left out.
import type { DescribeTransactionsRequest, DescribeTransactionsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { AclOperation as Op, ResourceType } from "../../security/acl.js";
import { txnAccess } from "./txn-access.js";

export const describeTransactions = defineHandler<DescribeTransactionsRequest, DescribeTransactionsResponse>({
  apiKey: 65,
  minVersion: 0,
  maxVersion: 0,
  access: { kind: "per-resource", note: "each transactional id needs DESCRIBE; its topics are listed only with DESCRIBE on them" },
  handle(req, ctx) {
    const { broker } = ctx;
    const none = (transactionalId: string, errorCode: number) => ({ errorCode, transactionalId, transactionState: "", transactionTimeoutMs: 0, transactionStartTimeMs: -1n, producerId: -1n, producerEpoch: -1, topics: [] });
    return {
      throttleTimeMs: 0,
      transactionStates: req.transactionalIds.map((id) => {
        if (!ctx.authorize(ResourceType.TRANSACTIONAL_ID, id, Op.DESCRIBE)) return none(id, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
        const access = txnAccess(broker, id);
        if (access !== ErrorCode.NONE) return none(id, access);
        const t = broker.txn.coordinator.state.get(id);
        if (!t) return none(id, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
        const byTopic = new Map<string, number[]>();
        for (const p of t.partitions) {
          if (!ctx.authorize(ResourceType.TOPIC, p.topic, Op.DESCRIBE)) continue;
          const list = byTopic.get(p.topic);
          if (list) list.push(p.partition);
          else byTopic.set(p.topic, [p.partition]);
        }
        return {
          errorCode: ErrorCode.NONE,
          transactionalId: id,
          transactionState: t.status,
          transactionTimeoutMs: t.timeoutMs,
          transactionStartTimeMs: BigInt(t.startMs),
          producerId: t.producerId,
          producerEpoch: t.producerEpoch,
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        };
      }),
    };
  },
});
