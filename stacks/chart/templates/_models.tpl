{{/*
Models: the provisioning list from the lock (and mirror), and the model the helm test asks.
*/}}

{{/*
The models to provision, one a line: REF SOURCE DIGEST ALSO_ACCEPTED MANIFEST
  REF           the canonical name Ollama serves (name:tag)
  SOURCE        what to pull: REF itself, or HOST/NS/<last part of the name>:tag from models.registry
  DIGEST        the manifest digest SOURCE must arrive with (mirror_digest for a mirrored pull, when the lock has one)
  ALSO_ACCEPTED the other digest of the lock entry ("-" if none): a model already on the volume may match it
  MANIFEST      the manifest file under $OLLAMA_MODELS/manifests (Ollama's host/namespace/model/tag layout)
The schema restricts names and tags to characters without spaces, so the fields split safely.
*/}}
{{- define "snap2prod.models.list" -}}
{{- $registry := trimSuffix "/" .Values.models.registry }}
{{- range .Values.models.lock.models }}
{{- $ref := printf "%s:%s" .name .tag }}
{{- $parts := splitList "/" .name }}
{{- $manifest := printf "%s/%s" .name .tag }}
{{- if eq (len $parts) 1 }}
{{- $manifest = printf "registry.ollama.ai/library/%s/%s" .name .tag }}
{{- else if eq (len $parts) 2 }}
{{- $manifest = printf "registry.ollama.ai/%s/%s" .name .tag }}
{{- end }}
{{- $source := $ref }}
{{- $digest := .digest }}
{{- $also := default "-" .mirror_digest }}
{{- if $registry }}
{{- $source = printf "%s/%s:%s" $registry (last $parts) .tag }}
{{- $digest = default .digest .mirror_digest }}
{{- $also = ternary .digest "-" (ne $digest .digest) }}
{{- end }}
{{ $ref }} {{ $source }} {{ $digest }} {{ $also }} {{ $manifest }}
{{- end }}
{{- end }}

{{/* The locked models' names as Ollama serves them (name:tag), comma-separated: the app's SNAP2PROD_MODELS. */}}
{{- define "snap2prod.models.refs" -}}
{{- $refs := list }}
{{- range .Values.models.lock.models }}
{{- $refs = append $refs (printf "%s:%s" .name .tag) }}
{{- end }}
{{- join "," $refs }}
{{- end }}

{{/* The model the helm test sends the fixture picture to: tests.model, else the first locked vision model. */}}
{{- define "snap2prod.tests.model" -}}
{{- $model := .Values.tests.model }}
{{- if not $model }}
{{- range .Values.models.lock.models }}
{{- if and (not $model) (has "vision" (default list .capabilities)) }}
{{- $model = printf "%s:%s" .name .tag }}
{{- end }}
{{- end }}
{{- end }}
{{- $model }}
{{- end }}

