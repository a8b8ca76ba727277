// FindCoordinator v0-6
// v0: group keys only.  v1: KeyType (0 group, 1 transaction); throttle time, error message.
// v3: flexible.  v4: batched CoordinatorKeys, one result each (KIP-699).
// v5: may return TRANSACTION_ABORTABLE.  v6: share groups (KeyType 2), refused here.
// The coordinator is the broker that leads the key's internal partition; the broker
// answers for any key, including keys it does not coordinate itself, with the coordinator's
// address on the listener the client connected through.
import type { FindCoordinatorRequest, FindCoordinatorResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { groupCheck, transactionalIdCheck, deniedMessageOf } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsFindCoordinatorResponse } from "../../protocol/messages/index.js";
import { addressOn, type Broker } from "../broker.js";
import { COORDINATOR_KEY_GROUP, COORDINATOR_KEY_TRANSACTION } from "./group-access.js";

interface Found {
  errorCode: number;
  errorMessage: string | null;
  nodeId: number;
  host: string;
  port: number;
}

export const findCoordinator = defineHandler<FindCoordinatorRequest, FindCoordinatorResponse>({
  apiKey: 10,
  minVersion: 0,
  maxVersion: 6,
  access: {
    kind: "needs",
    needs: (req, ctx) => (ctx.apiVersion >= 4 ? req.coordinatorKeys : [req.key]).map((key) => (req.keyType === 1 ? transactionalIdCheck(key, Op.DESCRIBE) : groupCheck(key, Op.DESCRIBE))),
    denied: (req, errorCode, ctx) => ({
      ...defaultsFindCoordinatorResponse(),
      errorCode,
      errorMessage: deniedMessageOf(errorCode),
      nodeId: -1,
      host: "",
      port: -1,
      coordinators: (ctx.apiVersion >= 4 ? req.coordinatorKeys : []).map((key) => ({ key, nodeId: -1, host: "", port: -1, errorCode, errorMessage: deniedMessageOf(errorCode) })),
    }),
  },
  handle(req, ctx) {
    const keyType = ctx.apiVersion >= 1 ? req.keyType : COORDINATOR_KEY_GROUP;
    const none = { errorCode: ErrorCode.NONE, errorMessage: null, nodeId: -1, host: "", port: -1 };
    const listener = ctx.conn.listener;
    if (ctx.apiVersion < 4) {
      const found = find(ctx.broker, listener, keyType, req.key);
      return { throttleTimeMs: 0, ...found, coordinators: [] };
    }
    const coordinators = req.coordinatorKeys.map((key) => ({ key, ...find(ctx.broker, listener, keyType, key) }));
    return { throttleTimeMs: 0, ...none, coordinators };
  },
});

function find(broker: Broker, listener: string, keyType: number, key: string): Found {
  const failed = (errorCode: number, errorMessage: string): Found => ({ errorCode, errorMessage, nodeId: -1, host: "", port: -1 });
  if (keyType !== COORDINATOR_KEY_GROUP && keyType !== COORDINATOR_KEY_TRANSACTION) return failed(ErrorCode.INVALID_REQUEST, `Coordinator key type ${keyType} is not supported.`);
  if (keyType === COORDINATOR_KEY_TRANSACTION && key === "") return failed(ErrorCode.INVALID_REQUEST, "Transactional id must not be empty.");
  const coordinator = broker.coordinatorFor(keyType, key);
  if (!coordinator) return failed(ErrorCode.COORDINATOR_NOT_AVAILABLE, "The coordinator is not available.");
  // Kafka's answer when the coordinator has no address on the client's listener.
  const address = addressOn(coordinator, listener);
  if (!address) return failed(ErrorCode.COORDINATOR_NOT_AVAILABLE, `The coordinator has no listener ${listener}.`);
  return { errorCode: ErrorCode.NONE, errorMessage: null, nodeId: coordinator.nodeId, host: address.host, port: address.port };
}
