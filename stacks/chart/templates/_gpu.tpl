{{/*
GPU variants (none, extended resource, DRA), decided here so the Ollama Deployment stays flat: it only
includes these.
*/}}

{{/* Ollama's resources: the CPU/memory values, plus the extended GPU resource unless DRA allocates the GPU. */}}
{{- define "snap2prod.ollama.resources" -}}
{{- $resources := deepCopy (default dict .Values.ollama.resources) }}
{{- if and .Values.gpu.enabled (not .Values.gpu.dra.enabled) }}
{{- $limits := default dict $resources.limits }}
{{- $_ := set $limits .Values.gpu.resourceName (int .Values.gpu.count) }}
{{- $_ := set $resources "limits" $limits }}
{{- end }}
{{- if and .Values.gpu.enabled .Values.gpu.dra.enabled }}
{{- $_ := set $resources "claims" (list (dict "name" "gpu")) }}
{{- end }}
{{- toYaml $resources }}
{{- end }}

{{/* Where Ollama may run: GPU node selection, toleration and RuntimeClass only when the GPU is on. */}}
{{- define "snap2prod.ollama.scheduling" -}}
{{- $nodeSelector := deepCopy (default dict .Values.ollama.nodeSelector) }}
{{- $tolerations := default list .Values.ollama.tolerations }}
{{- if .Values.gpu.enabled }}
{{- $nodeSelector = merge $nodeSelector (default dict .Values.gpu.nodeSelector) }}
{{- $tolerations = concat .Values.gpu.tolerations $tolerations }}
{{- if .Values.gpu.runtimeClassName }}
runtimeClassName: {{ .Values.gpu.runtimeClassName }}
{{- end }}
{{- end }}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.ollama.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.ollama.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The pod's DRA claim, made from the release's ResourceClaimTemplate. */}}
{{- define "snap2prod.ollama.resourceClaims" -}}
{{- if and .Values.gpu.enabled .Values.gpu.dra.enabled }}
resourceClaims:
  - name: gpu
    resourceClaimTemplateName: {{ include "snap2prod.ollama.fullname" . }}-gpu
{{- end }}
{{- end }}
