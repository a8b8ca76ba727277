import type { StreamCluster } from "../api/types.js";
import { HTTP_PORT, KAFKA_PORT, type Manifest, metadataFor, names, selectorLabels } from "./common.js";

/** Per-broker DNS names (advertised to clients); not-ready pods are published so brokers can find each other while starting. */
export function headlessService(sc: StreamCluster): Manifest {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: metadataFor(sc, names.headless(sc)),
    spec: {
      clusterIP: "None",
      publishNotReadyAddresses: true,
      selector: selectorLabels(sc),
      ports: [
        { name: "kafka", port: KAFKA_PORT, targetPort: "kafka" },
        { name: "http", port: HTTP_PORT, targetPort: "http" },
      ],
    },
  };
}

/** The address clients bootstrap from; any ready broker answers Metadata. */
export function bootstrapService(sc: StreamCluster): Manifest {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: metadataFor(sc, names.bootstrap(sc)),
    spec: { type: "ClusterIP", selector: selectorLabels(sc), ports: [{ name: "kafka", port: KAFKA_PORT, targetPort: "kafka" }] },
  };
}
