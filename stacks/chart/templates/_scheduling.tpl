{{/*
Where the app's replicas go: apart from each other, so a node failure or drain takes one of them at most.
*/}}

{{/* The app pods' default affinity (used when app.affinity is empty): anti-affinity on the node name. */}}
{{- define "snap2prod.app.podAntiAffinity" -}}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "snap2prod.selectorLabels" (dict "root" . "component" "app") | fromYaml)) }}
{{- if eq .Values.app.podAntiAffinity "preferred" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          {{- toYaml $term | nindent 10 }}
{{- else if eq .Values.app.podAntiAffinity "required" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - {{ toYaml $term | nindent 8 | trim }}
{{- end }}
{{- end }}
