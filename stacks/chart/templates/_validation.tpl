{{/*
Validation the schema cannot express: rules across keys, each failing with one sentence that says what
to change. ollama-configmap.yaml includes it once, so a bad value fails the whole render.
*/}}

{{/* Rules the schema cannot express; each fails with one sentence that says what to change. */}}
{{- define "snap2prod.validate" -}}
{{- if and (not .Values.ollama.enabled) (not .Values.ollama.externalHost) }}
{{- fail "ollama.enabled is false (external Ollama) but ollama.externalHost is empty: set it to the URL the app should use, e.g. http://host.docker.internal:11434" }}
{{- end }}
{{- if and .Values.ollama.enabled (ne (toString .Values.models.lock.ollama_version) (toString .Values.ollama.image.tag)) }}
{{- fail (printf "models.lock was taken from Ollama %s but the chart runs ollama/ollama:%s: re-lock the models on %s (snap2prod models lock) or run the Ollama the lock was taken from" (toString .Values.models.lock.ollama_version) (toString .Values.ollama.image.tag) (toString .Values.ollama.image.tag)) }}
{{- end }}
{{- if and .Values.ollama.enabled .Values.gpu.dra.enabled (not .Values.gpu.enabled) }}
{{- fail "gpu.dra.enabled needs gpu.enabled: DRA is one way of giving Ollama its GPU" }}
{{- end }}
{{- if and .Values.gpu.enabled .Values.gpu.dra.enabled (not (.Capabilities.APIVersions.Has "resource.k8s.io/v1")) }}
{{- fail "gpu.dra.enabled needs resource.k8s.io/v1 (Kubernetes 1.34 or later); this cluster does not serve it: use the device plugin's extended resource (gpu.resourceName) instead" }}
{{- end }}
{{- if and (eq .Values.app.service.type "NodePort") (not .Values.app.service.nodePort) }}
{{- fail "app.service.type is NodePort but app.service.nodePort is not set: give the port the KIND config maps (30000-32767)" }}
{{- end }}
{{- if and .Values.ingress.enabled .Values.ingress.tls.enabled (not .Values.ingress.tls.secretName) }}
{{- fail "ingress.tls.enabled needs ingress.tls.secretName (the Secret with the certificate, e.g. created by cert-manager)" }}
{{- end }}
{{- $refs := list }}
{{- range .Values.models.lock.models }}
{{- $ref := printf "%s:%s" .name .tag }}
{{- if has $ref $refs }}
{{- fail (printf "models.lock names %s twice" $ref) }}
{{- end }}
{{- $refs = append $refs $ref }}
{{- end }}
{{- end }}
