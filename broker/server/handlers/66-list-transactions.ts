// ListTransactions v0-1
// v1: DurationFilter (KIP-994): only transactions running longer than it (ms).
// Lists the transactional ids this broker coordinates that the principal may DESCRIBE
// (KIP-664). Kafka's state names; an unknown state filter is echoed in UnknownStateFilters.
import type { ListTransactionsRequest, ListTransactionsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { AclOperation as Op, ResourceType } from "../../security/acl.js";
import { COORDINATOR_KEY_TRANSACTION } from "./group-access.js";

const STATES = new Set(["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"]);

export const listTransactions = defineHandler<ListTransactionsRequest, ListTransactionsResponse>({
  apiKey: 66,
  minVersion: 0,
  maxVersion: 1,
  access: { kind: "per-resource", note: "lists only the transactional ids the principal may DESCRIBE" },
  handle(req, ctx) {
    const { broker } = ctx;
    const unknownStateFilters = req.stateFilters.filter((s) => !STATES.has(s));
    const states = new Set(req.stateFilters);
    const pids = new Set(req.producerIdFilters);
    const now = Date.now();
    const minDurationMs = ctx.apiVersion >= 1 && req.durationFilter >= 0n ? Number(req.durationFilter) : -1;
    const transactionStates = broker.txn.coordinator.state
      .all()
      .filter((t) => states.size === 0 || states.has(t.status))
      .filter((t) => pids.size === 0 || pids.has(t.producerId))
      .filter((t) => minDurationMs < 0 || (t.startMs >= 0 && now - t.startMs > minDurationMs))
      .filter((t) => broker.coordinatorFor(COORDINATOR_KEY_TRANSACTION, t.transactionalId)?.nodeId === broker.self.nodeId)
      .filter((t) => ctx.authorize(ResourceType.TRANSACTIONAL_ID, t.transactionalId, Op.DESCRIBE))
      .map((t) => ({ transactionalId: t.transactionalId, producerId: t.producerId, transactionState: t.status }));
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, unknownStateFilters, transactionStates };
  },
});
