{{/* The chart name, or nameOverride. */}}
{{- define "agentarea.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base of every object name: fullnameOverride, else <release>-<name>, or just <release> when it
already contains the name. Cut to 50 characters so that suffixes like "-operator" still fit 63.
*/}}
{{- define "agentarea.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "agentarea.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "agentarea.labels" -}}
helm.sh/chart: {{ include "agentarea.chart" . }}
app.kubernetes.io/name: {{ include "agentarea.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agentarea
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "operator"). Never change them:
Deployment selectors are immutable. */}}
{{- define "agentarea.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentarea.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "agentarea.componentLabels" -}}
{{ include "agentarea.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "agentarea.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if hasPrefix "sha256:" $tag }}
{{- printf "%s@%s" .Values.image.repository $tag }}
{{- else if hasPrefix "@" $tag }}
{{- printf "%s%s" .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "agentarea.operator.fullname" -}}
{{- printf "%s-operator" (include "agentarea.fullname" .) }}
{{- end }}

{{- define "agentarea.api.fullname" -}}
{{- printf "%s-api" (include "agentarea.fullname" .) }}
{{- end }}

{{- define "agentarea.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "agentarea.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "agentarea.api.serviceAccountName" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (include "agentarea.api.fullname" .) .Values.api.serviceAccount.name }}
{{- else }}
{{- required "api.serviceAccount.name is required when api.serviceAccount.create is false" .Values.api.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the api's HS256 key, or "" when HS256 is off. */}}
{{- define "agentarea.api.jwtSecretName" -}}
{{- if .Values.api.auth.jwtSecret.existingSecret }}
{{- .Values.api.auth.jwtSecret.existingSecret }}
{{- else if .Values.api.auth.jwtSecret.create }}
{{- printf "%s-auth" (include "agentarea.api.fullname" .) }}
{{- end }}
{{- end }}

{{/* Pod-level settings both Deployments share: (dict "root" $ "component" .Values.operator). */}}
{{- define "agentarea.podPlacement" -}}
{{- with .component.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with .component.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The OpenTelemetry variables of one binary, (dict "root" $ "service" "agentarea-operator"); nothing
unless tracing.otlpEndpoint is set. Traces go to that endpoint over OTLP/HTTP (protobuf), the only
protocol the binaries speak. The resource names the pod (K8S_POD_NAME, from the downward API,
expanded by the kubelet) and its namespace, unless tracing.resourceAttributes says otherwise.
*/}}
{{- define "agentarea.tracingEnv" -}}
{{- $tracing := .root.Values.tracing }}
{{- if $tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $tracing.otlpEndpoint | quote }}
{{- if $tracing.headersSecret.name }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ $tracing.headersSecret.name | quote }}
      key: {{ $tracing.headersSecret.key | quote }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- $defaults := dict "k8s.namespace.name" .root.Release.Namespace "k8s.pod.name" "$(K8S_POD_NAME)" }}
{{- $attributes := merge (deepCopy (default (dict) $tracing.resourceAttributes)) $defaults }}
{{- $pairs := list }}
{{- range $key, $value := $attributes }}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $pairs | quote }}
{{- with $tracing.sampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ . | quote }}
{{- end }}
{{- if ne (toString $tracing.samplerArg) "" }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ toString $tracing.samplerArg | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The egress policy's environment, the same for the operator and the api. */}}
{{- define "agentarea.egressEnv" -}}
{{- with .Values.egress.allow }}
- name: AGENTAREA_EGRESS_ALLOW
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.egress.deny }}
- name: AGENTAREA_EGRESS_DENY
  value: {{ join "," . | quote }}
{{- end }}
{{- end }}

{{/* A map of resources as the api's `resource=quantity,...` flags take it, in a stable order. */}}
{{- define "agentarea.resourceList" -}}
{{- $pairs := list }}
{{- range $name := keys . | sortAlpha }}
{{- $pairs = append $pairs (printf "%s=%v" $name (index $ $name)) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* The ClusterRole every workspace namespace binds to its workspace identity. */}}
{{- define "agentarea.workspaceRoleName" -}}
{{- printf "%s-workspace" (include "agentarea.fullname" .) -}}
{{- end }}
