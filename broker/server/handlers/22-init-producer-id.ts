// InitProducerId v0-5
// v2: flexible.  v3: ProducerId/ProducerEpoch let a producer ask again after an error (KIP-360).
// v4: PRODUCER_FENCED.  v5: TRANSACTION_ABORTABLE.
// Idempotent producers (no transactional id) always get a fresh producer id at epoch 0,
// as Kafka does. Transactional ids arrive with the transaction coordinator.
import type { InitProducerIdRequest, InitProducerIdResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { clusterCheck, topicCheck, topicsNamedAnywhere, transactionalIdCheck } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsInitProducerIdResponse } from "../../protocol/messages/index.js";

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
    if (req.transactionalId !== null) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1n, producerEpoch: -1 };
    }
    const producerId = await ctx.broker.controller.allocateProducerId();
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
  },
});
