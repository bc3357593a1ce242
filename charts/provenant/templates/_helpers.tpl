{{/* Chart name, truncated to a DNS label. */}}
{{- define "provenant.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every resource name: the release name, plus the chart name unless the release name has it. */}}
{{- define "provenant.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "provenant.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "provenant.selectorLabels" -}}
app.kubernetes.io/name: {{ include "provenant.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "provenant.labels" -}}
helm.sh/chart: {{ include "provenant.chart" . }}
{{ include "provenant.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: provenant
{{- end }}

{{- define "provenant.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "provenant.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "provenant.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "provenant.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/* DNS name the API server calls the webhook Service by. */}}
{{- define "provenant.serviceDNSName" -}}
{{- printf "%s.%s.svc" (include "provenant.fullname" .) .Release.Namespace }}
{{- end }}

{{/* True (non-empty) when Provenant runs in the cluster, i.e. the webhooks call the Service. */}}
{{- define "provenant.inCluster" -}}
{{- if not .Values.webhook.url }}true{{ end }}
{{- end }}

{{/* True (non-empty) when Provenant manages its own serving certificate. */}}
{{- define "provenant.selfManagedTLS" -}}
{{- if and (include "provenant.inCluster" .) (not .Values.certManager.enabled) }}true{{ end }}
{{- end }}

{{- define "provenant.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Namespaces never sent to Provenant: kube-system, the release namespace, and admission.excludeNamespaces. The
release namespace must be Provenant's own: "default" (where helm installs without --namespace) holds workloads.
*/}}
{{- define "provenant.excludedNamespaces" -}}
{{- if eq .Release.Namespace "default" }}
{{- fail "the release namespace is never checked (Provenant must start while no replica answers): installed in \"default\", every workload there would run unverified. Install into a namespace of its own: --namespace provenant-system --create-namespace" }}
{{- end }}
{{- $all := concat (list "kube-system" .Release.Namespace) .Values.admission.excludeNamespaces | uniq }}
{{- toJson $all }}
{{- end }}

{{/* The rules and selector both webhooks share. */}}
{{- define "provenant.webhookCommon" -}}
admissionReviewVersions: ["v1"]
sideEffects: None
matchPolicy: Equivalent
failurePolicy: {{ .Values.webhook.failurePolicy }}
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
# An UPDATE that leaves the spec alone (labels, annotations, finalizers, owner references) cannot change an
# image: skip the call, so that such updates (and deletions waiting on a finalizer) never depend on Provenant.
matchConditions:
  - name: spec-changed
    expression: "request.operation != 'UPDATE' || object.spec != oldObject.spec"
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ include "provenant.excludedNamespaces" . }}
    - key: {{ .Values.webhook.excludeLabel.key | quote }}
      operator: NotIn
      values: [{{ .Values.webhook.excludeLabel.value | quote }}]
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["pods", "pods/ephemeralcontainers", "replicationcontrollers"]
    scope: Namespaced
  - apiGroups: ["apps"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["deployments", "replicasets", "statefulsets", "daemonsets"]
    scope: Namespaced
  - apiGroups: ["batch"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["jobs", "cronjobs"]
    scope: Namespaced
{{- end }}

{{/* clientConfig of a webhook; the argument is a dict with "ctx" (the root context) and "path". */}}
{{- define "provenant.clientConfig" -}}
{{- $ := .ctx -}}
clientConfig:
{{- if $.Values.webhook.url }}
  url: {{ printf "%s%s" (trimSuffix "/" $.Values.webhook.url) .path | quote }}
  {{- with $.Values.webhook.caBundle }}
  caBundle: {{ . | quote }}
  {{- end }}
{{- else }}
  service:
    name: {{ include "provenant.fullname" $ }}
    namespace: {{ $.Release.Namespace }}
    path: {{ .path | quote }}
    port: 443
{{- end }}
{{- end }}

{{/* "true" when the background re-verification runs (background.interval above zero). */}}
{{- define "provenant.backgroundEnabled" -}}
{{- if not (regexMatch "^0+(\\.0+)?(ms|s|m|h)$" (toString .Values.background.interval)) }}true{{ end }}
{{- end }}

{{/* The Lease that elects the one replica running the background re-verification. */}}
{{- define "provenant.leaseName" -}}
{{- printf "%s-background" (include "provenant.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
