{{/*
Labels: the common set on every object, and a component's selector labels.
*/}}

{{- define "snap2prod.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "snap2prod.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: snap2prod
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "ollama"). */}}
{{- define "snap2prod.selectorLabels" -}}
app.kubernetes.io/name: {{ include "snap2prod.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "snap2prod.componentLabels" -}}
{{ include "snap2prod.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
