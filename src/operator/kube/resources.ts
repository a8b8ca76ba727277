import type { ResourceRef } from "./client.js";

/** The kinds the operator reads or writes, and where they live in the API. */
export const R = {
  streamCluster: { apiVersion: "floe.dev/v1alpha1", plural: "streamclusters", namespaced: true },
  statefulSet: { apiVersion: "apps/v1", plural: "statefulsets", namespaced: true },
  service: { apiVersion: "v1", plural: "services", namespaced: true },
  configMap: { apiVersion: "v1", plural: "configmaps", namespaced: true },
  secret: { apiVersion: "v1", plural: "secrets", namespaced: true },
  serviceAccount: { apiVersion: "v1", plural: "serviceaccounts", namespaced: true },
  persistentVolumeClaim: { apiVersion: "v1", plural: "persistentvolumeclaims", namespaced: true },
  podDisruptionBudget: { apiVersion: "policy/v1", plural: "poddisruptionbudgets", namespaced: true },
  horizontalPodAutoscaler: { apiVersion: "autoscaling/v2", plural: "horizontalpodautoscalers", namespaced: true },
  storageClass: { apiVersion: "storage.k8s.io/v1", plural: "storageclasses", namespaced: false },
  lease: { apiVersion: "coordination.k8s.io/v1", plural: "leases", namespaced: true },
  event: { apiVersion: "v1", plural: "events", namespaced: true },
  pod: { apiVersion: "v1", plural: "pods", namespaced: true },
  crd: { apiVersion: "apiextensions.k8s.io/v1", plural: "customresourcedefinitions", namespaced: false },
  namespace: { apiVersion: "v1", plural: "namespaces", namespaced: false },
  certificate: { apiVersion: "cert-manager.io/v1", plural: "certificates", namespaced: true },
  streamUser: { apiVersion: "floe.dev/v1alpha1", plural: "streamusers", namespaced: true },
} satisfies Record<string, ResourceRef>;

const BY_KIND: Record<string, ResourceRef> = {
  StreamCluster: R.streamCluster,
  StatefulSet: R.statefulSet,
  Service: R.service,
  ConfigMap: R.configMap,
  Secret: R.secret,
  ServiceAccount: R.serviceAccount,
  PersistentVolumeClaim: R.persistentVolumeClaim,
  PodDisruptionBudget: R.podDisruptionBudget,
  HorizontalPodAutoscaler: R.horizontalPodAutoscaler,
  StorageClass: R.storageClass,
  Lease: R.lease,
  Event: R.event,
  Pod: R.pod,
  CustomResourceDefinition: R.crd,
  Namespace: R.namespace,
  Certificate: R.certificate,
  StreamUser: R.streamUser,
};

export function resourceOf(kind: string): ResourceRef {
  const r = BY_KIND[kind];
  if (!r) throw new Error(`the operator does not manage kind ${kind}`);
  return r;
}
