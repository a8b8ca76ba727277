{{/* Object names: <release>-<chart>, or <release> when it already contains the chart name. */}}
{{- define "floe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "floe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: stable for the life of the release (Deployment selectors are immutable). */}}
{{- define "floe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "floe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "floe.labels" -}}
{{ include "floe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: floe
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "floe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "floe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "floe.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The namespaced rules of the operator: exactly the resources and verbs the reconciler, the
informers and the event recorder use (src/operator/). Children are written with server-side
apply, which is a PATCH and, for an object that does not exist yet, also needs create.
*/}}
{{- define "floe.namespacedRules" -}}
# patch: the cloud-resources finalizer (added while the operator manages a bucket or endpoint).
# get: a StreamUser's reconcile reads its cluster's security settings.
- apiGroups: [floe.dev]
  resources: [streamclusters]
  verbs: [get, list, watch, patch]
# patch: the user-cleanup finalizer and the annotation recording which password is applied.
- apiGroups: [floe.dev]
  resources: [streamusers]
  verbs: [list, watch, patch]
- apiGroups: [floe.dev]
  resources: [streamclusters/status, streamusers/status]
  verbs: [patch]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, patch]
# list/watch: the operator watches its children, so a deleted or edited one is put back at once.
- apiGroups: [""]
  resources: [services, configmaps, serviceaccounts, persistentvolumeclaims]
  verbs: [list, watch, create, patch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch, create, patch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list, watch, create, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# get: storage.credentialsSecret (S3 keys for stores without IRSA), security.tls's ca.crt, and
# the generated passwords. create: those passwords (the operator's login per cluster, one per
# StreamUser), made once; never update, patch or delete (owner references clean them up).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create]
# security.tls.issuerRef: the brokers' cert-manager Certificate.
- apiGroups: [cert-manager.io]
  resources: [certificates]
  verbs: [create, patch]
{{- end -}}
