import type { StreamCluster } from "../api/types.js";
import { BROKER_NODE_FLAGS } from "../../../broker/node-flags.js";
import { advertisedSettings, securityVolumes } from "./security.js";
import { DATA_DIR, HTTP_PORT, KAFKA_PORT, type Manifest, metadataFor, names, NFS_WAL_DIR, resolveSpec, zoneLabels, commonLabels, BROKER_ID_STRIDE } from "./common.js";

/**
 * One StatefulSet per zone, pinned to it by node affinity. Pods get their broker id from
 * the zone index and their ordinal (zoneIndex * 1000 + ordinal, via the pod-index label),
 * so ids never collide across zones and never depend on the pod's position alone.
 */
export function statefulSet(sc: StreamCluster, zone: string, zoneIndex: number, replicas: number): Manifest {
  const spec = resolveSpec(sc.spec);
  const labels = zoneLabels(sc, zone);
  const ns = sc.metadata.namespace ?? "default";
  const volumes: unknown[] = [{ name: "tmp", emptyDir: {} }];
  const mounts: unknown[] = [
    { name: "data", mountPath: DATA_DIR },
    { name: "tmp", mountPath: "/tmp" },
  ];
  let volumeClaimTemplates: unknown[] | undefined;
  switch (spec.wal.type) {
    case "ebs":
      // The WAL lives on the pod's own block volume; data under it is only the WAL and caches.
      volumeClaimTemplates = [
        {
          metadata: { name: "data", labels },
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: spec.wal.ebs?.storageClassName || names.storageClass(sc),
            resources: { requests: { storage: spec.wal.ebs?.size ?? "20Gi" } },
          },
        },
      ];
      break;
    case "nfs":
      volumes.push({ name: "data", emptyDir: {} }, { name: "wal", persistentVolumeClaim: { claimName: spec.wal.nfs?.claimName || names.nfsClaim(sc) } });
      mounts.push({ name: "wal", mountPath: NFS_WAL_DIR });
      break;
    case "s3":
      volumes.push({ name: "data", emptyDir: {} });
      break;
  }
  const security = securityVolumes(sc);
  const external = sc.spec.listeners?.external;
  volumes.push(...security.volumes);
  mounts.push(...security.mounts);
  const env: unknown[] = [
    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: "FLOE_POD_INDEX", valueFrom: { fieldRef: { fieldPath: "metadata.labels['apps.kubernetes.io/pod-index']" } } },
    { name: "FLOE_NODE_ID_BASE", value: String(zoneIndex * BROKER_ID_STRIDE) },
    { name: "FLOE_ZONE", value: zone },
    // After POD_NAME, which they name.
    ...advertisedSettings(sc),
  ];
  const envFrom: unknown[] = [{ configMapRef: { name: names.config(sc) } }];
  if (spec.storage.credentialsSecret) envFrom.push({ secretRef: { name: spec.storage.credentialsSecret } });
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: metadataFor(sc, names.statefulSet(sc, zone), { ...commonLabels(sc), "floe.dev/zone": zone }),
    spec: {
      serviceName: names.headless(sc),
      replicas,
      podManagementPolicy: "Parallel",
      updateStrategy: { type: "RollingUpdate" },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
      selector: { matchLabels: labels },
      template: {
        metadata: { labels: { ...commonLabels(sc), "floe.dev/zone": zone }, annotations: { "kubectl.kubernetes.io/default-container": "broker" } },
        spec: {
          serviceAccountName: names.serviceAccount(sc),
          terminationGracePeriodSeconds: 120,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } },
          affinity: {
            nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "topology.kubernetes.io/zone", operator: "In", values: [zone] }] }] } },
          },
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: labels } }],
          containers: [
            {
              name: "broker",
              image: spec.image,
              imagePullPolicy: spec.imagePullPolicy,
              args: [...BROKER_NODE_FLAGS, "dist/broker/main.js"],
              ports: [
                { name: "kafka", containerPort: KAFKA_PORT },
                ...(external ? [{ name: "kafka-external", containerPort: external.port }] : []),
                { name: "http", containerPort: HTTP_PORT },
              ],
              env,
              envFrom,
              resources: spec.resources ?? { requests: { cpu: "1", memory: "2Gi" }, limits: { memory: "2Gi" } },
              readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 5, failureThreshold: 3 },
              livenessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 10, failureThreshold: 6 },
              startupProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 2, failureThreshold: 150 },
              // Before SIGTERM: leave the Service and upload everything acknowledged (the
              // broker answers once its WAL is in objects; terminationGracePeriodSeconds bounds it).
              lifecycle: { preStop: { httpGet: { path: "/admin/v1/drain", port: "http" } } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
      ...(volumeClaimTemplates ? { volumeClaimTemplates } : {}),
    },
  };
}
