#!/usr/bin/env bash
# Builds the real peers the tests run against from their Go modules, pinned in
# test/cluster/go.mod (etcd, kube-apiserver, kube-proxy) and test/coredns/go.mod (CoreDNS), into
# versioned caches outside the repo:
#   ${BPFPROXY_CACHE:-~/.cache/bpfproxy}/k8s-<release>-etcd-<release>/
#   ${BPFPROXY_CACHE:-~/.cache/bpfproxy}/coredns-<release>-<hash of test/coredns/main.go>/
# Does nothing when the binaries are there. Prints the Kubernetes directory on stdout (last
# line); with --dir, only prints it; with --coredns-dir, only prints CoreDNS's.
# Go is needed only here: bpfproxy itself is TypeScript, C and C++.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"

# Must match the go.mod pins; the cache directories are named after them.
K8S_RELEASE=v1.37.2
ETCD_RELEASE=v3.7.0
COREDNS_RELEASE=v1.15.0
MIN_GO=1.26

base="${BPFPROXY_CACHE:-$HOME/.cache/bpfproxy}"
k8s_cache="$base/k8s-${K8S_RELEASE}-etcd-${ETCD_RELEASE}"
# CoreDNS's directory also names its plugin set (test/coredns/main.go), so adding a plugin
# rebuilds it instead of reusing a binary without it.
coredns_cache="$base/coredns-${COREDNS_RELEASE}-$(sha256sum "$root/test/coredns/main.go" | cut -c1-8)"

pinned() { grep -q "$2 $3" "$root/$1/go.mod" || { echo "peer build: $1/go.mod does not pin $2 $3" >&2; exit 1; }; }
pinned test/cluster k8s.io/kubernetes "$K8S_RELEASE"
pinned test/cluster go.etcd.io/etcd/server/v3 "$ETCD_RELEASE"
pinned test/coredns github.com/coredns/coredns "$COREDNS_RELEASE"

# --dir / --coredns-dir: only print where the binaries live (the test harness asks; it never builds).
case "${1:-}" in
  --dir) echo "$k8s_cache"; exit 0 ;;
  --coredns-dir) echo "$coredns_cache"; exit 0 ;;
esac

have_go() {
  if ! command -v go >/dev/null; then
    echo "peer build: no Go toolchain (need go >= ${MIN_GO}) to build $*" >&2
    exit 3
  fi
  local have
  have=$(go env GOVERSION | sed 's/^go//')
  if [ "$(printf '%s\n%s\n' "$MIN_GO" "$have" | sort -V | head -1)" != "$MIN_GO" ]; then
    echo "peer build: go $have is older than ${MIN_GO}, which k8s.io/kubernetes ${K8S_RELEASE} needs" >&2
    exit 3
  fi
}

# build MODULE_DIR CACHE_DIR LDFLAGS BIN=PKG... : builds the missing binaries of one module.
build() {
  local dir=$1 cache=$2 ldflags=$3; shift 3
  local bins=() pkgs=() spec
  for spec in "$@"; do
    [ -x "$cache/${spec%%=*}" ] && continue
    bins+=("${spec%%=*}"); pkgs+=("${spec#*=}")
  done
  [ ${#bins[@]} -eq 0 ] && return 0
  have_go "${bins[*]}"
  mkdir -p "$cache"
  local start tmp
  start=$(date +%s)
  echo "peer build: building ${bins[*]} into $cache (cold: a few minutes on 2 cores)" >&2
  # Into a temp dir first, so an interrupted build never leaves a half-written binary that
  # the next run would take as done.
  tmp=$(mktemp -d "$cache/.build.XXXXXX")
  (cd "$root/$dir" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}") || { rm -rf "$tmp"; exit 1; }
  # `go build` names a binary after its package path (go.etcd.io/etcd/server/v3 → server,
  # the module of test/coredns → coredns).
  if [ -f "$tmp/server" ]; then mv "$tmp/server" "$tmp/etcd"; fi
  local bin
  for bin in "${bins[@]}"; do mv "$tmp/$bin" "$cache/$bin"; done
  rm -rf "$tmp"
  echo "peer build: done in $(( $(date +%s) - start )) s" >&2
}

# The version stamp Kubernetes' own build sets, so /version reports the real release.
ver=k8s.io/component-base/version
minor=${K8S_RELEASE#v1.}; minor=${minor%%.*}
build test/cluster "$k8s_cache" \
  "-s -w -X $ver.gitVersion=${K8S_RELEASE} -X $ver.gitMajor=1 -X $ver.gitMinor=${minor} -X $ver.gitTreeState=clean" \
  etcd=go.etcd.io/etcd/server/v3 kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kube-proxy=k8s.io/kubernetes/cmd/kube-proxy
build test/coredns "$coredns_cache" "-s -w" coredns=bpfproxy.test/coredns
echo "$k8s_cache"
