import type { StreamCluster } from "../api/types.js";
import { commonLabels, type Manifest, metadataFor, names, resolveSpec } from "./common.js";

/**
 * Cluster-scoped gp3 class for EBS WALs (WaitForFirstConsumer, so each volume is created in
 * the zone its pod lands in). Only when the spec asks the operator to create it.
 */
export function ebsStorageClass(sc: StreamCluster): Manifest | null {
  const ebs = sc.spec.wal.ebs;
  if (sc.spec.wal.type !== "ebs" || ebs?.storageClassName || ebs?.createStorageClass === false) return null;
  const parameters: Record<string, string> = { type: "gp3", encrypted: "true" };
  if (ebs?.iops) parameters.iops = String(ebs.iops);
  if (ebs?.throughputMiBps) parameters.throughput = String(ebs.throughputMiBps);
  return {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    // Cluster-scoped: no owner reference to a namespaced object; shared by every cluster.
    metadata: { name: names.storageClass(sc), labels: { "app.kubernetes.io/managed-by": "floe-operator", "app.kubernetes.io/part-of": "floe" } },
    provisioner: "ebs.csi.aws.com",
    volumeBindingMode: "WaitForFirstConsumer",
    allowVolumeExpansion: true,
    reclaimPolicy: "Delete",
    parameters,
  };
}

/** The shared ReadWriteMany claim for NFS WALs, unless the spec names an existing one. */
export function nfsClaim(sc: StreamCluster): Manifest | null {
  const spec = resolveSpec(sc.spec);
  if (spec.wal.type !== "nfs" || spec.wal.nfs?.claimName) return null;
  const meta = metadataFor(sc, names.nfsClaim(sc), commonLabels(sc));
  // The claim holds unflushed WAL data: it outlives the StreamCluster unless deletionPolicy is Delete.
  if (spec.deletionPolicy === "Retain") meta.ownerReferences = [];
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: meta,
    spec: {
      accessModes: ["ReadWriteMany"],
      ...(spec.wal.nfs?.storageClassName ? { storageClassName: spec.wal.nfs.storageClassName } : {}),
      resources: { requests: { storage: spec.wal.nfs?.size ?? "100Gi" } },
    },
  };
}
