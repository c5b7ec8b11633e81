#!/usr/bin/env bash
# Renders an nginx template to stdout: fills the ${UPPER_CASE} placeholders from the environment
# and leaves nginx's own variables ($host, $request_uri, ...) alone. Refuses (exit 2) while any
# placeholder is unset or empty, so a half-rendered config never reaches nginx.
#   bash nginx/render.sh nginx/artifact-gateway.conf.template >artifact-gateway.conf
set -euo pipefail
template=${1:?usage: render.sh TEMPLATE}
mapfile -t placeholders < <(grep -o '\${[A-Z][A-Z0-9_]*}' "$template" | sort -u)
missing=()
for p in "${placeholders[@]}"; do
  name=${p:2:-1}
  [[ -n ${!name:-} ]] || missing+=("$name")
done
if ((${#missing[@]})); then
  echo "render.sh: set ${missing[*]} to render $template" >&2
  exit 2
fi
# envsubst with an explicit list substitutes only those variables
envsubst "${placeholders[*]}" <"$template"
