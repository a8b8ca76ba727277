// EndTxn v0-4
// v1: same as v0.  v2: PRODUCER_FENCED.  v3: flexible.  v4: TRANSACTION_ABORTABLE.
// v5 (KIP-890 part 2: a new epoch per transaction) is not served.
// Answered once the decision (Prepare*) is durable, a marker is durable in every partition
// of the transaction, the offsets are committed and the Complete* record is durable: a
// read_committed consumer sees a committed transaction as soon as the producer hears so.
import type { EndTxnRequest, EndTxnResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { transactionalIdCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { coordinatorCall, fencedCodeFor, txnAccess } from "./txn-access.js";

export const endTxn = defineHandler<EndTxnRequest, EndTxnResponse>({
  apiKey: 26,
  minVersion: 0,
  maxVersion: 4,
  access: {
    kind: "needs",
    needs: (req) => [transactionalIdCheck(req.transactionalId, Op.WRITE)],
    denied: (_req, errorCode) => ({ throttleTimeMs: 0, errorCode, producerId: -1n, producerEpoch: -1 }),
  },
  async handle(req, ctx) {
    const { broker, apiVersion } = ctx;
    const access = txnAccess(broker, req.transactionalId);
    if (access !== ErrorCode.NONE) return { throttleTimeMs: 0, errorCode: access, producerId: -1n, producerEpoch: -1 };
    const who = { producerId: req.producerId, producerEpoch: req.producerEpoch };
    const r = await coordinatorCall(broker, "EndTxn", req.transactionalId, () => broker.txn.coordinator.endTxn(req.transactionalId, who, req.committed, fencedCodeFor(apiVersion, 2)));
    return { throttleTimeMs: 0, errorCode: r.errorCode, producerId: -1n, producerEpoch: -1 };
  },
});
