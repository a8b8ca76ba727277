import { Registry, collectDefaultMetrics, Counter, Gauge, Histogram } from "prom-client";

export { Registry, Counter, Gauge, Histogram };

/**
 * One registry per component (broker, operator). Default process metrics (RSS, heap,
 * event-loop lag) are included because memory bounds are part of the product's promise.
 */
export function createRegistry(component: string, withDefaults = true): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: "floe_" });
  return registry;
}

/** A gauge read at scrape time from `value` (a figure some component keeps anyway). */
export function collectedGauge(registry: Registry, name: string, help: string, value: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(value());
    },
  });
}
