#!/usr/bin/env bash
# Installs what the test suites need on a fresh Debian 12 machine: the Debian packages (Ceph
# radosgw for the real S3 server; nginx, Chromium and the certificate tools for the end-to-end
# suite; ccache, gcc and Gradle for the build-tool cache suites) when a command is missing, then
# the npm packages from the lockfile. Safe to run again: it installs nothing that is already there.
#   install-deps.sh            Debian packages for the test suites + npm packages
#   install-deps.sh --npm-only npm packages only (what `npm start` needs)
set -euo pipefail
cd "$(dirname "$0")/.."
npm_only=false
[[ "${1:-}" == --npm-only ]] && npm_only=true

# command -> Debian package that provides it
declare -A PACKAGES=(
  [ceph-mon]=ceph-mon
  [ceph-osd]=ceph-osd
  [radosgw]=radosgw
  # end-to-end suite (test/e2e): TLS edge, dev certificates, a real browser
  [nginx]=nginx
  [envsubst]=gettext-base
  [openssl]=openssl
  [curl]=curl
  [certutil]=libnss3-tools
  [chromium]=chromium
  # npm run bench: the load generator (nginx, above, is its baseline)
  [wrk]=wrk
  # build-tool cache suites (test/protocols): the real ccache and Gradle clients, and a compiler
  # for ccache to wrap. Debian's gradle (4.4.1) runs on the default JRE it pulls in.
  [ccache]=ccache
  [gcc]=gcc
  [gradle]=gradle
)

missing=()
for cmd in "${!PACKAGES[@]}"; do
  # /usr/sbin (nginx) is not on a non-root user's PATH on Debian
  command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] || missing+=("${PACKAGES[$cmd]}")
done
if ! $npm_only && ((${#missing[@]})); then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when node_modules was not installed from this exact lockfile (saves ~10 s warm)
stamp=node_modules/.installed-from-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
fi
