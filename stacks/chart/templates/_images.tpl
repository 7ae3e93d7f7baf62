{{/*
Images: always repository:tag@digest, and the documented all-zero placeholder digest NOTES.txt warns about.
The digest rule itself (sha256: + 64 hex) is in values.schema.json.
*/}}

{{/* repository:tag@digest — the digest is what the node pulls; the tag only tells people the version. */}}
{{- define "snap2prod.image" -}}
{{- printf "%s:%s@%s" .repository .tag .digest }}
{{- end }}

{{- define "snap2prod.placeholderDigest" -}}
sha256:0000000000000000000000000000000000000000000000000000000000000000
{{- end }}
