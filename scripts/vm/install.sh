#!/usr/bin/env bash
# Install what the guest-kernel runner needs on the host:
#   qemu-system-x86   – TCG emulator (this host's /dev/kvm cannot boot Debian's kernel)
#   linux-image-amd64 – Debian's 6.1 kernel: bzImage in /boot, IPVS/dummy/veth modules in /lib/modules
#   busybox-static    – the only userland the initramfs needs before it pivots onto the host root
# Idempotent: a quick no-op when everything is already installed.
set -euo pipefail

PKGS=(qemu-system-x86 linux-image-amd64 busybox-static)

find_missing() {
  missing=()
  for p in "${PKGS[@]}"; do
    # dpkg-query prints "install ok installed" only for fully configured packages.
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
      missing+=("$p")
    fi
  done
}
find_missing
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $EUID -ne 0 ]]; then
  echo "install.sh: need root to apt-get install ${missing[*]}" >&2
  exit 1
fi

# Test files that need the guest call this at collection time, possibly in parallel:
# one installs, the others wait for it and then find nothing missing.
exec 9>/var/lock/bpfproxy-vm-install.lock
flock 9
find_missing
[[ ${#missing[@]} -eq 0 ]] && exit 0

export DEBIAN_FRONTEND=noninteractive
apt_install() {
  # --no-install-recommends keeps qemu from pulling in GUI/firmware extras we never use.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}
# Only run `apt-get update` when the install fails (e.g. empty or stale package lists).
if ! apt_install; then
  apt-get update -q
  apt_install
fi
