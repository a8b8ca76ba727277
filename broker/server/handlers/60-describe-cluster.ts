// DescribeCluster v0-1
// v0: flexible from the start.  v1: EndpointType (KIP-919): 1 = brokers, 2 = controllers.
// Every broker answers as the controller until the multi-broker controller lands.
// Floe has no separate controller endpoints: asking a broker for controllers is
// MISMATCHED_ENDPOINT_TYPE, as Kafka answers on a broker listener. Brokers are listed on the
// listener the client connected through, as in Metadata.
import type { DescribeClusterRequest, DescribeClusterResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { brokersOn } from "../broker.js";

const ENDPOINT_BROKERS = 1;
const ENDPOINT_CONTROLLERS = 2;
/** ALTER, CLUSTER_ACTION, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE: all allowed until ACLs land. */
const CLUSTER_OPERATIONS_ALL = [7, 9, 8, 10, 11, 12].reduce((acc, op) => acc | (1 << op), 0);
const OPERATIONS_NOT_REQUESTED = -2147483648;

export const describeCluster = defineHandler<DescribeClusterRequest, DescribeClusterResponse>({
  apiKey: 60,
  minVersion: 0,
  maxVersion: 1,
  access: { kind: "authenticated", note: "any authenticated principal, as in Kafka: the cluster's brokers are no secret to a client that may connect" },
  handle(req, ctx) {
    const { broker } = ctx;
    const endpointType = ctx.apiVersion >= 1 ? req.endpointType : ENDPOINT_BROKERS;
    const base: DescribeClusterResponse = {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      endpointType,
      clusterId: broker.clusterId,
      controllerId: -1,
      brokers: [],
      clusterAuthorizedOperations: OPERATIONS_NOT_REQUESTED,
    };
    if (endpointType === ENDPOINT_CONTROLLERS) {
      return { ...base, errorCode: ErrorCode.MISMATCHED_ENDPOINT_TYPE, errorMessage: "The request was sent to a broker endpoint, but controllers were asked for." };
    }
    if (endpointType !== ENDPOINT_BROKERS) {
      return { ...base, errorCode: ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, errorMessage: `Endpoint type ${endpointType} is not supported.` };
    }
    return {
      ...base,
      controllerId: broker.self.nodeId,
      brokers: brokersOn(broker, ctx.conn.listener).map((b) => ({ brokerId: b.nodeId, host: b.host, port: b.port, rack: b.rack })),
      clusterAuthorizedOperations: req.includeClusterAuthorizedOperations ? CLUSTER_OPERATIONS_ALL : OPERATIONS_NOT_REQUESTED,
    };
  },
});
