#!/usr/bin/env bash
# Builds kube-apiserver 1.20.2 from Debian's `kubernetes` source package and caches
# it under ${KEYSVC_CACHE:-~/.cache/keysvc-check}. A cached binary is reused.
# Also installs etcd-server. Runs as root on Debian bookworm.
set -euo pipefail

cache="${KEYSVC_CACHE:-$HOME/.cache/keysvc-check}"
bin="$cache/kube-apiserver"
mkdir -p "$cache"

log() { printf 'cluster: %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install etcd-server openssl ca-certificates

if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q 'v1.20'; then
  log "using cached $bin ($("$bin" --version))"
  exit 0
fi

src_list=/etc/apt/sources.list.d/keysvc-check-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  log "adding a deb-src entry for bookworm main"
  cat >"$src_list" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt_updated=0
fi
apt_install golang-go rsync dpkg-dev make golang-github-modern-go-reflect2-dev
if [ "$apt_updated" -eq 0 ]; then apt-get update -qq; fi

work="$cache/build"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
log "fetching the kubernetes source package"
apt-get source -qq kubernetes >/dev/null
srcdir=$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -n1)
[ -n "$srcdir" ] || { log "apt-get source kubernetes produced no source tree"; exit 1; }

# The vendored reflect2 1.0.1 crashes under newer Go when the server pretty-prints.
reflect2_src=$(dpkg -L golang-github-modern-go-reflect2-dev | grep '/github.com/modern-go/reflect2/reflect2.go$' | head -n1)
reflect2_src=$(dirname "$reflect2_src")
rm -rf "$srcdir/vendor/github.com/modern-go/reflect2"
cp -r "$reflect2_src" "$srcdir/vendor/github.com/modern-go/reflect2"
find "$srcdir/vendor/github.com/modern-go/reflect2" -name '*_test.go' -delete

log "building kube-apiserver (a few minutes)"
cd "$srcdir"
export GOFLAGS=-mod=vendor GO111MODULE=on GOTOOLCHAIN=local
make WHAT=cmd/kube-apiserver >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 1; }
out=$(find "$srcdir/_output" -type f -name kube-apiserver -perm -u+x | head -n1)
[ -n "$out" ] || { log "build finished but no kube-apiserver binary was found"; exit 1; }
cp "$out" "$bin.tmp"
mv "$bin.tmp" "$bin"
cd "$cache"
rm -rf "$work"
log "built $bin ($("$bin" --version))"
