{{/*
Object names: the release's, each component's (room left for the suffixes), and the address the app
and the helm test reach Ollama at.
*/}}

{{- define "snap2prod.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "snap2prod.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "snap2prod.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "snap2prod.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Object names of the components (room left for the suffixes). */}}
{{- define "snap2prod.ollama.fullname" -}}
{{- printf "%s-ollama" (include "snap2prod.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}
{{- define "snap2prod.app.fullname" -}}
{{- printf "%s-app" (include "snap2prod.fullname" . | trunc 58 | trimSuffix "-") }}
{{- end }}
{{- define "snap2prod.test.fullname" -}}
{{- printf "%s-smoke-test" (include "snap2prod.fullname" . | trunc 50 | trimSuffix "-") }}
{{- end }}
{{- define "snap2prod.ollama.claimName" -}}
{{- default (printf "%s-models" (include "snap2prod.ollama.fullname" .)) .Values.ollama.persistence.existingClaim }}
{{- end }}

{{/* Where the app (and the helm test) reach Ollama: the in-cluster Service, or the external URL. */}}
{{- define "snap2prod.ollamaHost" -}}
{{- if .Values.ollama.enabled }}
{{- printf "http://%s:%d" (include "snap2prod.ollama.fullname" .) (int .Values.ollama.service.port) }}
{{- else }}
{{- .Values.ollama.externalHost }}
{{- end }}
{{- end }}
