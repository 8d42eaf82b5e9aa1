#!/usr/bin/env bash
# `make fresh-check`: proves the README's set-up on a machine that has only what a new
# machine of this kind ships, so that no package installed here by hand can hide a missing
# install step.
#
#  1. A minimal Debian 12 root (debootstrap --variant=minbase bookworm) plus the baseline a
#     new machine ships (python3 make g++ git ca-certificates), cached as a tarball under
#     $BPFPROXY_CACHE (default ~/.cache/bpfproxy) so later runs start in seconds.
#  2. Node and npm copied from this machine with Node's headers, WITHOUT its npm config
#     (/usr/etc/npmrc, ~/.npmrc); this machine's CA trust (/etc/ssl/certs, read-only) and
#     the CA environment a machine of this kind ships, through which the registries are
#     reached.
#  3. A clean clone of HEAD (committed work only), then `make demo` in a chroot on this
#     kernel, in a private mount namespace with proc, sysfs, bpffs, cgroup2, /dev, devpts
#     and a tmpfs /run; everything is unmounted and the root deleted afterwards.
#
# Downloaded .deb files and npm tarballs are kept between runs (package caches only: every
# package must still be asked for by the project's own files).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

CACHE=${BPFPROXY_CACHE:-$HOME/.cache/bpfproxy}
BASELINE=(python3 make g++ git ca-certificates)
MIRROR=${BPFPROXY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_TAR=$CACHE/fresh-root-bookworm-minbase-v1.tar.gz
START=$SECONDS
phase() { printf 'fresh-check: [%4ds] %s\n' $((SECONDS - START)) "$*"; }

# The inner half runs as `fresh-check.sh --inside ROOT` in its own mount namespace.
if [ "${1:-}" = "--inside" ]; then
  root=$2
  mounted=()
  cleanup_mounts() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
  }
  trap cleanup_mounts EXIT
  mnt() { local dst=${*: -1}; mkdir -p "$dst"; mount "$@"; mounted+=("$dst"); }
  # The root is a mount point of its own, as on a machine: `ip netns exec` remounts "/".
  mnt --bind "$root" "$root"
  mnt -t proc proc "$root/proc"
  mnt -t sysfs sysfs "$root/sys"
  mnt -t bpf bpf "$root/sys/fs/bpf"
  mnt -t cgroup2 cgroup2 "$root/sys/fs/cgroup"
  mnt --bind /dev "$root/dev"
  mnt -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
  mnt -t tmpfs -o mode=0755 tmpfs "$root/run"
  mnt --bind -o ro /etc/ssl/certs "$root/etc/ssl/certs"
  mnt --bind "$CACHE/fresh-apt-archives" "$root/var/cache/apt/archives"
  mnt --bind "$CACHE/fresh-npm-cache" "$root/root/.npm"
  ca=/etc/ssl/certs/ca-certificates.crt
  set +e
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_EXTRA_CA_CERTS=$ca SSL_CERT_FILE=$ca GIT_SSL_CAINFO=$ca CURL_CA_BUNDLE=$ca \
    bash -c 'cd /src/bpfproxy && make demo'
  rc=$?
  set -e
  exit $rc
fi

command -v debootstrap >/dev/null || {
  phase "installing debootstrap (the check's own tool)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
}
mkdir -p "$CACHE/fresh-apt-archives/partial" "$CACHE/fresh-npm-cache"

work=$(mktemp -d /var/tmp/bpfproxy-fresh.XXXXXX)
root=$work/root
trap 'rm -rf --one-file-system "$work"' EXIT

if [ ! -f "$BASE_TAR" ]; then
  phase "no cached root: debootstrap --variant=minbase bookworm (cold)"
  mkdir -p "$root"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; exit 1; }
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  phase "baseline a new machine ships: ${BASELINE[*]}"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${BASELINE[*]} >/dev/null && apt-get clean"
  rm -rf "$root/var/lib/apt/lists/"*
  tar -C "$root" -czf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
  rm -rf --one-file-system "$root"
fi

phase "unpacking the cached root ($(du -h "$BASE_TAR" | cut -f1))"
mkdir -p "$root"
tar -C "$root" -xzf "$BASE_TAR"
cp /etc/resolv.conf "$root/etc/resolv.conf"

phase "node $(node --version) and npm from this machine, with Node's headers, without its npm config"
nodeprefix=$(node -p "require('path').resolve(process.execPath, '../..')")
cp -a "$(command -v node)" "$root/usr/bin/node"
mkdir -p "$root/usr/lib/node_modules" "$root/usr/include"
cp -a "$nodeprefix/lib/node_modules/npm" "$root/usr/lib/node_modules/npm"
cp -a "$nodeprefix/include/node" "$root/usr/include/node"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
rm -f "$root/usr/etc/npmrc" "$root/root/.npmrc"
mkdir -p "$root/root/.npm"

phase "clean clone of HEAD $(git rev-parse --short HEAD)"
[ -z "$(git status --porcelain --untracked-files=no)" ] || echo "fresh-check: note: uncommitted changes are not part of the check"
git clone --quiet --no-hardlinks "$repo" "$root/src/bpfproxy"

phase "make demo in the chroot (set-up: apt, npm ci, build; then the demo)"
set +e
unshare --mount --propagation private "$repo/scripts/fresh-check.sh" --inside "$root"
rc=$?
set -e
if [ $rc -eq 0 ]; then phase "PASS: make demo works on a fresh Debian 12 root"; else phase "FAIL: make demo exited $rc on a fresh Debian 12 root"; fi
exit $rc
