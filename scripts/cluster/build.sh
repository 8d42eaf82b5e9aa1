#!/usr/bin/env bash
# Builds the real peers the cluster tests run against (etcd, kube-apiserver) from their Go
# modules, pinned in test/cluster/go.mod, into a versioned cache outside the repo:
#   ${BPFPROXY_CACHE:-~/.cache/bpfproxy}/k8s-<release>/
# Does nothing when the binaries are there. Prints the directory on stdout (last line);
# with --dir, only prints it.
# Go is needed only here: bpfproxy itself is TypeScript, C and C++.
set -euo pipefail
cd "$(dirname "$0")/../../test/cluster"

# Must match the go.mod pins; the cache directory is named after them.
K8S_RELEASE=v1.37.2
ETCD_RELEASE=v3.7.0
MIN_GO=1.26

cache="${BPFPROXY_CACHE:-$HOME/.cache/bpfproxy}/k8s-${K8S_RELEASE}-etcd-${ETCD_RELEASE}"
declare -A PKG=(
  [etcd]=go.etcd.io/etcd/server/v3
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
)

grep -q "k8s.io/kubernetes ${K8S_RELEASE}" go.mod || { echo "cluster build: go.mod does not pin k8s.io/kubernetes ${K8S_RELEASE}" >&2; exit 1; }
grep -q "go.etcd.io/etcd/server/v3 ${ETCD_RELEASE}" go.mod || { echo "cluster build: go.mod does not pin etcd ${ETCD_RELEASE}" >&2; exit 1; }

# --dir: only print where the binaries live (the test harness asks; it never builds).
if [ "${1:-}" = "--dir" ]; then
  echo "$cache"
  exit 0
fi

missing=()
for bin in "${!PKG[@]}"; do [ -x "$cache/$bin" ] || missing+=("$bin"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$cache"
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "cluster build: no Go toolchain (need go >= ${MIN_GO}) to build ${missing[*]}" >&2
  exit 3
fi
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$MIN_GO" "$have" | sort -V | head -1)" != "$MIN_GO" ]; then
  echo "cluster build: go $have is older than ${MIN_GO}, which k8s.io/kubernetes ${K8S_RELEASE} needs" >&2
  exit 3
fi

mkdir -p "$cache"
start=$(date +%s)
pkgs=()
for bin in "${missing[@]}"; do pkgs+=("${PKG[$bin]}"); done
echo "cluster build: building ${missing[*]} into $cache (cold: about 5 min on 2 cores)" >&2
# Into a temp dir first, so an interrupted build never leaves a half-written binary that
# the next run would take as done.
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# The version stamp Kubernetes' own build sets, so /version reports the real release.
ver=k8s.io/component-base/version
minor=${K8S_RELEASE#v1.}; minor=${minor%%.*}
ldflags="-s -w -X $ver.gitVersion=${K8S_RELEASE} -X $ver.gitMajor=1 -X $ver.gitMinor=${minor} -X $ver.gitTreeState=clean"
GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}"
# `go build` names a binary after its package path (go.etcd.io/etcd/server/v3 → server).
if [ -f "$tmp/server" ]; then mv "$tmp/server" "$tmp/etcd"; fi
for bin in "${missing[@]}"; do mv "$tmp/$bin" "$cache/$bin"; done
echo "cluster build: done in $(( $(date +%s) - start )) s" >&2
echo "$cache"
