#!/usr/bin/env bash
# Runs nginx for the artifact gateway from a directory of its own, in the foreground (Ctrl-C
# stops it): renders the templates with the environment into $NGINX_DIR, checks the result with
# `nginx -t`, then execs nginx, so signals go straight to it. Used by docs/deployment.md's local set-up
# and by the end-to-end tests.
#
#   NGINX_DIR=.edge/nginx API_HOST=… ARTIFACT_DOMAIN=… … bash nginx/run-local.sh
#
# Env: every variable nginx/artifact-gateway.conf.template lists (NGINX_LOG_DIR defaults to
# $NGINX_DIR/logs), and S3_PUBLIC_HOST + S3_UPSTREAM to also serve nginx/s3-endpoint.conf.template.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "${NGINX_DIR:=.edge/nginx}"
dir=$(cd "$NGINX_DIR" && pwd)
mkdir -p "$dir/snippets" "$dir/logs" "$dir/tmp"
cp "$here"/snippets/agw-*.conf "$dir/snippets/"
export NGINX_LOG_DIR=${NGINX_LOG_DIR:-$dir/logs}

bash "$here/render.sh" "$here/nginx.conf.template" >"$dir/nginx.conf"
bash "$here/render.sh" "$here/artifact-gateway.conf.template" >"$dir/artifact-gateway.conf"
if [[ -n ${S3_PUBLIC_HOST:-} ]]; then
  bash "$here/render.sh" "$here/s3-endpoint.conf.template" >"$dir/s3-endpoint.conf"
else
  echo '# no S3_PUBLIC_HOST: presigned URLs point at S3_ENDPOINT itself' >"$dir/s3-endpoint.conf"
fi

# Debian installs nginx in /usr/sbin, which is not on a non-root user's PATH
nginx=$(command -v nginx || echo /usr/sbin/nginx)
"$nginx" -e stderr -t -q -p "$dir/" -c nginx.conf
exec "$nginx" -e stderr -p "$dir/" -c nginx.conf -g 'daemon off;'
