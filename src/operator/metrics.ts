import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export function createOperatorMetrics(registry: Registry) {
  return {
    reconciles: new Counter({ name: "floe_operator_reconciles_total", help: "Reconciles by result", labelNames: ["result"], registers: [registry] }),
    reconcileSeconds: new Histogram({ name: "floe_operator_reconcile_seconds", help: "Reconcile duration", buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    queueDepth: new Gauge({ name: "floe_operator_queue_depth", help: "Keys waiting in the work queue", registers: [registry] }),
    leader: new Gauge({ name: "floe_operator_leader", help: "1 while this replica leads", registers: [registry] }),
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
