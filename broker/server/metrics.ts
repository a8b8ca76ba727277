import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** The broker's own metrics, registered on the broker's registry (never the global one). */
export function createBrokerMetrics(registry: Registry) {
  return {
    requestSeconds: new Histogram({
      name: "floe_broker_request_seconds",
      help: "Time from a request's arrival to its response, per API",
      labelNames: ["api"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    requestErrors: new Counter({
      name: "floe_broker_request_errors_total",
      help: "Requests that closed their connection, by API and reason",
      labelNames: ["api", "reason"],
      registers: [registry],
    }),
    connections: new Gauge({ name: "floe_broker_connections", help: "Open client connections", registers: [registry] }),
    readReplicaBytes: new Counter({ name: "floe_broker_read_replica_bytes_total", help: "Record bytes served to consumers of partitions this broker does not lead (KIP-392 read replica, from committed objects)", registers: [registry] }),
    bytesIn: new Counter({ name: "floe_broker_produce_bytes_total", help: "Record batch bytes appended by Produce", registers: [registry] }),
    bytesOut: new Counter({ name: "floe_broker_fetch_bytes_total", help: "Record batch bytes returned by Fetch", registers: [registry] }),
    recordsIn: new Counter({ name: "floe_broker_produce_records_total", help: "Records appended by Produce", registers: [registry] }),
    duplicateBatches: new Counter({ name: "floe_broker_produce_duplicate_batches_total", help: "Idempotent-producer retries recognised and answered with their original offset", registers: [registry] }),
    txnPeerCalls: new Counter({ name: "floe_broker_txn_peer_calls_total", help: "Transaction calls to other brokers (markers, offsets, produce verification, forwarded TxnOffsetCommit, pending offsets), by call and outcome", labelNames: ["call", "outcome"], registers: [registry] }),
    quotaThrottles: new Counter({ name: "floe_broker_quota_throttled_requests_total", help: "Produce and Fetch requests whose client was over its byte-rate quota, by quota key", labelNames: ["quota"], registers: [registry] }),
    quotaThrottleSeconds: new Counter({ name: "floe_broker_quota_throttle_seconds_total", help: "Sum of the throttle times answered to clients over a byte-rate quota, by quota key (overlapping requests each count)", labelNames: ["quota"], registers: [registry] }),
    produceErrors: new Counter({ name: "floe_broker_produce_partition_errors_total", help: "Partitions of Produce requests answered with an error code", labelNames: ["error"], registers: [registry] }),
  };
}

export type BrokerMetrics = ReturnType<typeof createBrokerMetrics>;
