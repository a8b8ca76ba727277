// InitProducerId v0-5
// v2: flexible.  v3: ProducerId/ProducerEpoch let a producer ask again after an error (KIP-360).
// v4: PRODUCER_FENCED.  v5: TRANSACTION_ABORTABLE.
// Idempotent producers (no transactional id) always get a fresh producer id at epoch 0,
// as Kafka does. With a transactional id the transaction coordinator bumps the epoch (which
// fences every older instance of the producer) and aborts a transaction left open; the
// client then gets CONCURRENT_TRANSACTIONS once and retries.
import type { InitProducerIdRequest, InitProducerIdResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { clusterCheck, topicCheck, topicsNamedAnywhere, transactionalIdCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsInitProducerIdResponse } from "../../protocol/messages/index.js";
import { coordinatorCall, fencedCodeFor, txnAccess } from "./txn-access.js";

export const initProducerId = defineHandler<InitProducerIdRequest, InitProducerIdResponse>({
  apiKey: 22,
  minVersion: 0,
  maxVersion: 5,
  access: {
    kind: "needs",
    // Without a transactional id: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic (KIP-679).
    needs: (req, ctx) =>
      req.transactionalId
        ? [transactionalIdCheck(req.transactionalId, Op.WRITE)]
        : [[...topicsNamedAnywhere(ctx).map((name) => topicCheck(name, Op.WRITE)), clusterCheck(Op.IDEMPOTENT_WRITE)]],
    denied: (_req, errorCode) => ({ ...defaultsInitProducerIdResponse(), errorCode, producerId: -1n, producerEpoch: -1 }),
  },
  async handle(req, ctx) {
    const { broker, apiVersion } = ctx;
    const failed = (errorCode: number): InitProducerIdResponse => ({ throttleTimeMs: 0, errorCode, producerId: -1n, producerEpoch: -1 });
    if (req.transactionalId === null) {
      const producerId = await broker.controller.allocateProducerId();
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
    }
    const access = txnAccess(broker, req.transactionalId);
    if (access !== ErrorCode.NONE) return failed(access);
    const expected = apiVersion >= 3 && req.producerId >= 0n ? { producerId: req.producerId, producerEpoch: req.producerEpoch } : null;
    const r = await coordinatorCall(broker, "InitProducerId", req.transactionalId, () =>
      broker.txn.coordinator.initProducerId(req.transactionalId!, req.transactionTimeoutMs, expected, fencedCodeFor(apiVersion, 4)),
    );
    if (r.errorCode !== ErrorCode.NONE || !("producerId" in r)) return failed(r.errorCode);
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId: r.producerId, producerEpoch: r.producerEpoch };
  },
});
