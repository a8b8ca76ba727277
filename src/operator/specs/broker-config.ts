import type { StreamCluster } from "../api/types.js";
import { DATA_DIR, Manifest, metadataFor, names, NFS_WAL_DIR, resolveSpec } from "./common.js";
import { LISTENER_SETTINGS, securitySettings } from "./security.js";

/**
 * The broker settings every pod of the cluster shares, as a ConfigMap read with envFrom.
 * Per-pod settings (zone, node id, advertised host) are set on the StatefulSet instead.
 * User-supplied brokerConfig wins over derived values, except the storage wiring the
 * operator owns.
 */
export function brokerSettings(sc: StreamCluster): Record<string, string> {
  const spec = resolveSpec(sc.spec);
  const s = spec.storage;
  const derived: Record<string, string> = {
    FLOE_HOST: "0.0.0.0",
    // Every pod shares one bucket and metadata log: they form one cluster (leadership, moves, drains).
    FLOE_CLUSTER_MODE: "multi",
    FLOE_DATA_DIR: DATA_DIR,
    FLOE_WAL_TYPE: spec.wal.type === "ebs" ? "file" : spec.wal.type,
    FLOE_OBJECT_STORE: "s3",
    FLOE_S3_BUCKET: s.bucket,
    FLOE_S3_REGION: s.region ?? "us-east-1",
    FLOE_S3_PREFIX: s.prefix ?? "",
    FLOE_S3_FORCE_PATH_STYLE: String(s.forcePathStyle ?? false),
  };
  if (s.endpoint) derived.FLOE_S3_ENDPOINT = s.endpoint;
  if (spec.wal.type === "nfs") derived.FLOE_WAL_DIR = NFS_WAL_DIR;
  if (spec.wal.type === "s3") {
    derived.FLOE_WAL_FLUSH_INTERVAL_MS = String(spec.wal.s3?.flushIntervalMs ?? 250);
    derived.FLOE_WAL_FLUSH_BYTES = String(spec.wal.s3?.flushBytes ?? 4194304);
  }
  // Security and listeners come from spec.security and spec.listeners only: a brokerConfig entry cannot weaken them.
  Object.assign(derived, securitySettings(sc));
  const owned = new Set([...Object.keys(derived).filter((k) => k !== "FLOE_HOST"), ...LISTENER_SETTINGS]);
  const user = Object.fromEntries(Object.entries(spec.brokerConfig ?? {}).filter(([k]) => !owned.has(k)));
  return Object.fromEntries(Object.entries({ ...derived, ...user }).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export function configMap(sc: StreamCluster): Manifest {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: metadataFor(sc, names.config(sc)), data: brokerSettings(sc) };
}
