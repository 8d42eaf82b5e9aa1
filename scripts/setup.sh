#!/usr/bin/env bash
# Installs what bpfproxy needs on a fresh Debian 12 machine (idempotent, quick when done):
# Debian packages for the BPF toolchain and the data-plane tools, npm dependencies, then
# builds the TypeScript, the BPF objects and the libbpf addon.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool iproute2 iptables ipset ipvsadm conntrack curl iperf3 procps kmod make g++ python3 socat bind9-dnsutils dnsperf nftables wrk nginx-light ethtool)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # make bench runs its own nginx inside a pod namespace; Debian's package also starts and
  # enables a host-wide nginx on port 80, which nothing here wants: undo that, once, here.
  if [[ " ${missing[*]} " == *" nginx-light "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
fi

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.bpfproxy-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --update-notifier=false --loglevel=error
  cp package-lock.json "$stamp"
fi

make --no-print-directory build
