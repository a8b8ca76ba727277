// AddOffsetsToTxn v0-4
// v1: same as v0.  v2: PRODUCER_FENCED.  v3: flexible.  v4: TRANSACTION_ABORTABLE.
// The group joins the transaction; its offsets (TxnOffsetCommit) become visible on commit.
import type { AddOffsetsToTxnRequest, AddOffsetsToTxnResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck, transactionalIdCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { coordinatorCall, fencedCodeFor, txnAccess } from "./txn-access.js";

export const addOffsetsToTxn = defineHandler<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse>({
  apiKey: 25,
  minVersion: 0,
  maxVersion: 4,
  access: {
    kind: "needs",
    needs: (req) => [transactionalIdCheck(req.transactionalId, Op.WRITE), groupCheck(req.groupId, Op.READ)],
    denied: (_req, errorCode) => ({ throttleTimeMs: 0, errorCode }),
  },
  async handle(req, ctx) {
    const { broker, apiVersion } = ctx;
    const access = txnAccess(broker, req.transactionalId);
    if (access !== ErrorCode.NONE) return { throttleTimeMs: 0, errorCode: access };
    if (!req.groupId) return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_GROUP_ID };
    const who = { producerId: req.producerId, producerEpoch: req.producerEpoch };
    const r = await coordinatorCall(broker, "AddOffsetsToTxn", req.transactionalId, () => broker.txn.coordinator.addOffsets(req.transactionalId, who, req.groupId, fencedCodeFor(apiVersion, 2)));
    return { throttleTimeMs: 0, errorCode: r.errorCode };
  },
});
