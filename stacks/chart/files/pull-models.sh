#!/bin/sh
# snap2prod: provision the locked models before Ollama serves (the init container of the Ollama pod).
#
# Reads $SNAP2PROD_MODEL_LIST, one model a line: REF SOURCE DIGEST ALSO_ACCEPTED MANIFEST (see the chart's
# templates/_models.tpl, "snap2prod.models.list"). For each model: skip it when the volume already holds it with a
# locked digest, else `ollama pull SOURCE` (from the mirror when SOURCE differs from REF, then renamed to REF), and
# compare the sha256 of its manifest file (what /api/tags reports as the digest) with the lock. A model that
# arrives with another digest is removed again, so Ollama never serves bytes the lock did not pin.
# Exit 0 when every model is present with its locked digest; after trying all of them, 3 when every failure is a
# model that arrived with another digest (the registry serves other bytes than the lock pins: no retry helps), 1
# otherwise (a pull that failed may work on the kubelet's next try: a registry or a DNS name coming up).
# POSIX sh + coreutils only: the official ollama image (Ubuntu 24.04) has no curl and no python.
set -eu

list=${SNAP2PROD_MODEL_LIST:?SNAP2PROD_MODEL_LIST is not set}
manifests="${OLLAMA_MODELS:?OLLAMA_MODELS is not set}/manifests"
work=${SNAP2PROD_WORK_DIR:-${TMPDIR:-/tmp}}
insecure=""
[ "${SNAP2PROD_PULL_INSECURE:-false}" = true ] && insecure="--insecure"
# A private server on loopback: nothing outside the pod can talk to it while it pulls.
export OLLAMA_HOST="127.0.0.1:${SNAP2PROD_PULL_PORT:-11435}"

log() { printf '%s pull-models: %s\n' "$(date -u +%H:%M:%SZ)" "$*"; }

manifest_digest() {  # the digest Ollama reports for a model: sha256 of its manifest file ("" if absent)
  [ -f "$manifests/$1" ] || return 0
  printf 'sha256:%s' "$(sha256sum "$manifests/$1" | cut -d' ' -f1)"
}

clean() {  # ollama's progress bar redraws lines with escape codes; keep the words
  tr '\r\033' '\n\n' <"$1" | sed -e 's/^\[[0-9;?]*[A-Za-z]//' -e 's/\[[0-9;?]*[A-Za-z]//g' -e 's/[[:space:]]*$//' | grep -v '^[[:space:]]*$' || true
}

every=${SNAP2PROD_PROGRESS_SECONDS:-10}

pull() {  # $1 = source; shows the progress every $every seconds; returns the exit code of `ollama pull`
  out="$work/pull-models.out"
  : >"$out"
  # shellcheck disable=SC2086  # $insecure is empty or one flag
  ollama pull $insecure "$1" </dev/null >"$out" 2>&1 &
  pid=$!
  ticks=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    ticks=$((ticks + 1))
    if [ $((ticks % every)) -eq 0 ]; then
      log "  $(clean "$out" | tail -n 1)"
    fi
  done
  rc=0
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    clean "$out" | grep -i 'error' | tail -n 3 | while IFS= read -r line; do log "  $line"; done
  fi
  return "$rc"
}

total=$(grep -c '[^[:space:]]' "$list" || true)
if [ "$total" -eq 0 ]; then
  log "the lock names no models: nothing to pull"
  exit 0
fi

serve_log="$work/pull-models-serve.log"
ollama serve </dev/null >"$serve_log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
tries=0
until ollama list >/dev/null 2>&1; do
  if ! kill -0 "$server" 2>/dev/null; then
    log "error: ollama serve exited before it answered; its log:"
    tail -n 20 "$serve_log"
    exit 1
  fi
  tries=$((tries + 1))
  if [ "$tries" -ge 120 ]; then
    log "error: ollama serve did not answer on $OLLAMA_HOST within 60 s; its log:"
    tail -n 20 "$serve_log"
    exit 1
  fi
  sleep 0.5
done

failed=0
mismatched=0
while read -r ref source digest also manifest; do
  [ -n "$ref" ] || continue
  have=$(manifest_digest "$manifest")
  if [ -n "$have" ] && { [ "$have" = "$digest" ] || [ "$have" = "$also" ]; }; then
    log "$ref: already present with the locked digest $have"
    continue
  fi
  if [ "$source" = "$ref" ]; then
    log "$ref: pulling"
  else
    log "$ref: pulling $source${insecure:+ (insecure registry)}"
  fi
  if ! pull "$source"; then
    log "error: $ref: could not pull $source (see the lines above)"
    failed=$((failed + 1))
    continue
  fi
  if [ "$source" != "$ref" ]; then
    if ! ollama cp "$source" "$ref" </dev/null >"$work/pull-models.out" 2>&1; then
      log "error: $ref: could not rename $source to $ref: $(clean "$work/pull-models.out" | tail -n 1)"
      failed=$((failed + 1))
      continue
    fi
    ollama rm "$source" </dev/null >/dev/null 2>&1 || true
  fi
  have=$(manifest_digest "$manifest")
  if [ "$have" = "$digest" ]; then
    log "$ref: pulled, digest $have matches the lock"
  else
    expected=$digest
    [ "$also" = "-" ] || expected="$digest (or $also)"
    log "error: $ref arrived with digest ${have:-<no manifest>}, the lock pins $expected; removed it again." \
      "Re-lock (snap2prod models lock) if the new bytes are wanted, or fix the registry."
    ollama rm "$ref" </dev/null >/dev/null 2>&1 || true
    failed=$((failed + 1))
    mismatched=$((mismatched + 1))
  fi
done <"$list"

if [ "$failed" -gt 0 ]; then
  log "error: $failed of $total locked models are not present with their locked digest; Ollama will not start"
  [ "$mismatched" -eq "$failed" ] && exit 3
  exit 1
fi
log "all $total locked models present with their locked digests"
