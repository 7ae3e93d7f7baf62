#!/bin/sh
# snap2prod: the startup and readiness probe of Ollama — "the API answers and every locked model is present
# with its locked digest". `ollama list` asks the running server (the API is up and knows the model); the
# manifest file's sha256 is the full digest /api/tags reports (the listing shows only 12 hex digits of it).
# Reads $SNAP2PROD_MODEL_LIST (REF SOURCE DIGEST ALSO_ACCEPTED MANIFEST a line). Exit 0 = ready.
set -eu

list=${SNAP2PROD_MODEL_LIST:?SNAP2PROD_MODEL_LIST is not set}
manifests="${OLLAMA_MODELS:?OLLAMA_MODELS is not set}/manifests"
export OLLAMA_HOST="127.0.0.1:${SNAP2PROD_OLLAMA_PORT:-11434}"

if ! listing=$(ollama list </dev/null 2>&1); then
  echo "Ollama API does not answer on $OLLAMA_HOST: $listing"
  exit 1
fi

missing=""
while read -r ref source digest also manifest; do
  [ -n "$ref" ] || continue
  listed=no
  while read -r name _; do
    [ "$name" = "$ref" ] && listed=yes
  done <<EOF
$listing
EOF
  have=""
  [ -f "$manifests/$manifest" ] && have="sha256:$(sha256sum "$manifests/$manifest" | cut -d' ' -f1)"
  if [ "$listed" = no ]; then
    missing="$missing $ref(not listed)"
  elif [ "$have" != "$digest" ] && [ "$have" != "$also" ]; then
    missing="$missing $ref(digest ${have:-none})"
  fi
done <"$list"

if [ -n "$missing" ]; then
  echo "locked models missing or with another digest:$missing"
  exit 1
fi
