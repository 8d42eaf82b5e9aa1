#!/usr/bin/env bash
# Build (once, cached under .vm/) the two boot artefacts of the test guest and print their
# paths, one per line: the uncompressed vmlinux, then the initramfs.
#
#   .vm/<kver>/vmlinux                   plain ELF kernel; qemu boots it via PVH directly,
#                                        which saves ~3 s of XZ decompression per TCG boot
#   .vm/<kver>/initramfs-<hash>.cpio.gz  busybox + the modules needed to mount the host
#                                        root over 9p + guest-init.sh as /init
#
# <kver> is Debian's kernel (linux-image-amd64), never the host's running one; override
# with BPFPROXY_VM_KVER. <hash> covers guest-init.sh and the module list, so edits rebuild.
# Safe to run concurrently (flock) and cheap when cached.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="$repo/.vm"

# Just enough to mount the host root: virtio-pci transport, 9p, overlayfs. Dependencies
# first -- insmod does not resolve them. Everything else is modprobe'd later from the
# host's /lib/modules once the root is mounted.
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
  netfs fscache 9pnet 9pnet_virtio 9p overlay)

pick_kver() {
  if [[ -n "${BPFPROXY_VM_KVER:-}" ]]; then echo "$BPFPROXY_VM_KVER"; return; fi
  local running v best=
  running=$(uname -r)
  # Newest Debian amd64 kernel that has its modules installed.
  for f in /boot/vmlinuz-*-amd64; do
    [[ -e "$f" ]] || continue
    v=${f#/boot/vmlinuz-}
    [[ "$v" != "$running" && -f "/lib/modules/$v/modules.dep" ]] || continue
    best=$(printf '%s\n%s\n' "$best" "$v" | sort -V | tail -n1)
  done
  [[ -n "$best" ]] || { echo "build.sh: no Debian kernel in /boot (run scripts/vm/install.sh)" >&2; exit 1; }
  echo "$best"
}

kver=$(pick_kver)
moddir="/lib/modules/$kver"
hash=$( { cat "$here/guest-init.sh"; printf '%s\n' "${MODULES[@]}"; } | sha256sum | cut -c1-16)
out="$cache/$kver"
vmlinux="$out/vmlinux"
initramfs="$out/initramfs-$hash.cpio.gz"

if [[ ! -s "$vmlinux" || ! -s "$initramfs" ]]; then
  mkdir -p "$out"
  exec 9>"$cache/build.lock"
  flock 9 # another run.sh may be building right now; wait for it, then re-check
fi

if [[ ! -s "$vmlinux" ]]; then
  bz="/boot/vmlinuz-$kver"
  # The bzImage carries the kernel as an XZ stream (CONFIG_KERNEL_XZ); find its magic
  # and decompress. --single-stream ignores the trailer that follows the payload (so xz
  # stops reading early and tail dies of SIGPIPE: expected, hence the "|| true").
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -n1 | cut -d: -f1 || true)
  [[ -n "$off" ]] || { echo "build.sh: no XZ payload in $bz" >&2; exit 1; }
  { tail -c +$((off + 1)) "$bz" || true; } | xz -dc --single-stream >"$vmlinux.tmp"
  [[ "$(head -c4 "$vmlinux.tmp" | od -An -c | tr -d ' ')" == '177ELF' ]] ||
    { echo "build.sh: $bz did not decompress to an ELF vmlinux" >&2; exit 1; }
  mv "$vmlinux.tmp" "$vmlinux"
fi

if [[ ! -s "$initramfs" ]]; then
  busybox=/bin/busybox
  file -L "$busybox" | grep -q 'statically linked' ||
    { echo "build.sh: $busybox is not static (install busybox-static)" >&2; exit 1; }
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage"/{bin,dev,proc,sys,modules}
  cp "$busybox" "$stage/bin/busybox"
  install -m 0755 "$here/guest-init.sh" "$stage/init"
  for m in "${MODULES[@]}"; do
    src=$(modinfo -k "$kver" -n "$m")
    case "$src" in
      *.ko) cp "$src" "$stage/modules/$m.ko" ;;
      *.ko.xz) xz -dc "$src" >"$stage/modules/$m.ko" ;;
      *.ko.zst) zstd -qdc "$src" >"$stage/modules/$m.ko" ;;
      *.ko.gz) gzip -dc "$src" >"$stage/modules/$m.ko" ;;
      *) echo "build.sh: unexpected module path for $m: $src" >&2; exit 1 ;;
    esac
    echo "$m.ko" >>"$stage/modules/order"
  done
  # The kernel opens /dev/console for init's stdio before /init runs; without the node
  # init starts with no stdio (guest-init.sh also re-opens it after mounting devtmpfs).
  mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
  (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
    gzip -1 >"$initramfs.tmp"
  mv "$initramfs.tmp" "$initramfs"
  # Drop initramfs images of older init scripts.
  find "$out" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "initramfs-$hash.cpio.gz" -delete
fi

echo "$vmlinux"
echo "$initramfs"
