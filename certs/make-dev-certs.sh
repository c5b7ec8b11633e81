#!/usr/bin/env bash
# Makes a development CA and one TLS certificate for nginx in front of the gateway: the API host,
# the wildcard artifact domain (*.ARTIFACT_DOMAIN) and any extra names, all in subjectAltName.
# For development and tests only; in production use a public CA (the wildcard needs a DNS-01
# challenge with Let's Encrypt).
#
#   bash certs/make-dev-certs.sh [OUT_DIR]        (default: certs/out, git-ignored)
#
# Env (all optional):
#   API_HOST         the API host                        (default api.localhost)
#   ARTIFACT_DOMAIN  artifact origins are *.$ARTIFACT_DOMAIN (default artifacts.localhost)
#   EXTRA_HOSTS      more names, space-separated, e.g. the public S3 host (default localhost,
#                    the name scripts/ceph-rgw.sh's radosgw answers path-style requests on)
#
# Writes to OUT_DIR:
#   ca.crt      the CA to trust: curl --cacert, NODE_EXTRA_CA_CERTS, your browser's authorities
#   ca.key      the CA's private key (0600; never commit it, never share it)
#   server.crt  the certificate for nginx (ssl_certificate)
#   server.key  its private key (0600, ssl_certificate_key)
#
# The CA is name-constrained to exactly these names, so trusting it in a browser cannot let it (or
# a leak of ca.key) vouch for any other site. Run again to renew the server certificate: an
# existing CA is kept (browsers that trust it go on trusting) as long as it covers the names;
# otherwise remove OUT_DIR to start over.
set -euo pipefail

out=${1:-"$(dirname "$0")/out"}
api_host=${API_HOST:-api.localhost}
artifact_domain=${ARTIFACT_DOMAIN:-artifacts.localhost}
extra_hosts=${EXTRA_HOSTS-localhost}

names=("$api_host" "$artifact_domain")
for h in $extra_hosts; do names+=("$h"); done
for n in "${names[@]}"; do
  if [[ ! $n =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$ ]]; then
    echo "make-dev-certs: \"$n\" is not a DNS name (e.g. api.localhost)" >&2
    exit 2
  fi
done

umask 077
mkdir -p "$out"
cd "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# subjectAltName: the API host, the wildcard artifact domain, the extra names
san="DNS:$api_host,DNS:*.$artifact_domain"
for h in $extra_hosts; do san+=",DNS:$h"; done
# nameConstraints: a DNS constraint also permits every name below it (the wildcard included)
constraints=$(printf 'permitted;DNS:%s,' "${names[@]}")
constraints=${constraints%,}

if [[ ! -s ca.key || ! -s ca.crt ]]; then
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key
  openssl req -x509 -new -sha256 -days 3650 -key ca.key -out ca.crt \
    -subj "/O=artifact-gateway development/CN=artifact-gateway dev CA $(hostname -s) $(date -u +%Y-%m-%d)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -addext "nameConstraints=critical,$constraints"
  echo "made a development CA: $PWD/ca.crt" >&2
fi

openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/server.key"
openssl req -new -sha256 -key "$tmp/server.key" -subj "/CN=$api_host" -out "$tmp/server.csr"
cat >"$tmp/ext.cnf" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $san
EOF
# 397 days: browsers refuse server certificates valid for more than 398
openssl x509 -req -sha256 -days 397 -in "$tmp/server.csr" -CA ca.crt -CAkey ca.key \
  -set_serial "0x$(openssl rand -hex 16)" -extfile "$tmp/ext.cnf" -out "$tmp/server.crt" 2>/dev/null

if ! openssl verify -CAfile ca.crt "$tmp/server.crt" >/dev/null 2>"$tmp/verify.err"; then
  echo "make-dev-certs: the existing CA in $PWD does not cover these names ($(tr '\n' ' ' <"$tmp/verify.err"))." >&2
  echo "Remove $PWD to make a new CA (and trust the new ca.crt)." >&2
  exit 1
fi
mv "$tmp/server.key" server.key
mv "$tmp/server.crt" server.crt
chmod 0644 ca.crt server.crt
echo "made a certificate for ${san//DNS:/}: $PWD/server.crt" >&2
