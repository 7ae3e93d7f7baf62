{{/*
Helpers. Templates stay flat: every GPU variant (none, extended resource, DRA) is decided in one helper below,
and the Ollama Deployment only includes them.
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

{{/* repository:tag@digest — the digest is what the node pulls; the tag only tells people the version. */}}
{{- define "snap2prod.image" -}}
{{- printf "%s:%s@%s" .repository .tag .digest }}
{{- end }}

{{- define "snap2prod.placeholderDigest" -}}
sha256:0000000000000000000000000000000000000000000000000000000000000000
{{- end }}

{{/* Where the app (and the helm test) reach Ollama: the in-cluster Service, or the external URL. */}}
{{- define "snap2prod.ollamaHost" -}}
{{- if .Values.ollama.enabled }}
{{- printf "http://%s:%d" (include "snap2prod.ollama.fullname" .) (int .Values.ollama.service.port) }}
{{- else }}
{{- .Values.ollama.externalHost }}
{{- end }}
{{- end }}

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

{{/* --- GPU variants ---------------------------------------------------------------------------------- */}}

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

{{/* --- Ollama's writable places: models on the volume, HOME (its key pair) and /tmp on emptyDirs ---------- */}}

{{- define "snap2prod.ollama.storageEnv" -}}
- name: OLLAMA_MODELS
  value: /models
- name: HOME
  value: /home/ollama
- name: TMPDIR
  value: /tmp
- name: SNAP2PROD_MODEL_LIST
  value: /opt/snap2prod/models.list
{{- end }}

{{- define "snap2prod.ollama.volumeMounts" -}}
- name: models
  mountPath: /models
- name: home
  mountPath: /home/ollama
- name: tmp
  mountPath: /tmp
- name: scripts
  mountPath: /opt/snap2prod
  readOnly: true
{{- end }}
