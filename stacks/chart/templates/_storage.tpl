{{/*
Ollama's writable places: models on the volume, HOME (its key pair) and /tmp on emptyDirs, and the
provisioning scripts mounted read-only.
*/}}

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
