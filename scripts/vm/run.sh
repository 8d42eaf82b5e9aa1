#!/usr/bin/env bash
# Run a command inside a throwaway Debian 6.1 guest kernel (qemu, TCG) that sees the host's
# filesystem read-only with a RAM overlay on top:
#
#   scripts/vm/run.sh CMD [ARGS...]      e.g. scripts/vm/run.sh npx vitest run test/vm
#
# The command starts in the current directory with PATH, HOME, CI, BPFPROXY_* (and a few
# other variables) carried over, plus BPFPROXY_IN_GUEST=1. Its stdout+stderr stream to our
# stdout; we exit with its exit code (124: timed out, 125: the guest failed to boot/run).
# Writes inside the guest are discarded, except under $BPFPROXY_VM_RW_DIR (a host directory
# shared read-write at the same path) and $BPFPROXY_VM_JOBDIR (the job share, deleted
# afterwards). The guest's /run is a fresh tmpfs: don't start it from under /run. /tmp is
# the host's, copy-on-write.
#
# Environment:
#   BPFPROXY_VM_TIMEOUT  seconds before the guest is killed (default 1800)
#   BPFPROXY_VM_MEM      guest memory in MiB (default 2048)
#   BPFPROXY_VM_SMP      guest vCPUs (default 2)
#   BPFPROXY_VM_ACCEL    qemu accelerator (default tcg; kvm only where /dev/kvm can run it)
#   BPFPROXY_VM_CPU      qemu CPU model (default max)
#   BPFPROXY_VM_RW_DIR   optional host directory the guest may write to
#   BPFPROXY_VM_KEEP=1   keep the job dir (console.log, output.log) for debugging
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
timeout_s=${BPFPROXY_VM_TIMEOUT:-1800}
mem=${BPFPROXY_VM_MEM:-2048}
smp=${BPFPROXY_VM_SMP:-2}
guest_jobdir=/run/bpfproxy-vm # where guest-init.sh mounts the job share

"$here/install.sh" >&2
{ read -r vmlinux && read -r initramfs; } < <("$here/build.sh")
[[ -n "${initramfs:-}" ]] || { echo "run.sh: build.sh failed" >&2; exit 1; }

jobdir=$(mktemp -d "${TMPDIR:-/tmp}/bpfproxy-vm.XXXXXX")
cleanup() { [[ "${BPFPROXY_VM_KEEP:-}" == 1 ]] && echo "run.sh: kept $jobdir" >&2 || rm -rf "$jobdir"; }
trap cleanup EXIT

nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
echo "$nonce" >"$jobdir/nonce"

# --- the job script: environment, cwd, command; every value shell-quoted -------------
{
  echo '#!/bin/bash'
  env_names=(PATH HOME USER LOGNAME LANG LC_ALL TZ TERM CI GITHUB_ACTIONS NO_COLOR FORCE_COLOR
    NODE_OPTIONS NODE_ENV DEBUG)
  while IFS= read -r name; do env_names+=("$name"); done < <(compgen -e | grep -E '^(BPFPROXY_|VITEST_)' || true)
  for name in "${env_names[@]}"; do
    [[ -n "${!name+x}" ]] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  printf 'export BPFPROXY_IN_GUEST=1 BPFPROXY_VM_JOBDIR=%q\n' "$guest_jobdir"
  # cwd exists in the guest because the host root is shared (but not under /run, which
  # the guest mounts fresh).
  printf 'cd %q || exit 125\n' "$PWD"
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$jobdir/job.sh"

virtfs_rw=()
if [[ -n "${BPFPROXY_VM_RW_DIR:-}" ]]; then
  rw=$(cd "$BPFPROXY_VM_RW_DIR" && pwd)
  printf '%s\n' "$rw" >"$jobdir/rw_dir"
  virtfs_rw=(-virtfs "local,path=$rw,mount_tag=rwdir,security_model=none,multidevs=remap")
fi

# --- boot -----------------------------------------------------------------------------
# TCG by default: this machine's /dev/kvm cannot run Debian's kernel. -cpu max exposes every
# feature TCG can emulate (SSE4.2/AVX2 etc. that node/V8 use). The kernel must not spam
# the console (loglevel=3), since the job's output shares it. panic=-1 + -no-reboot turn
# a guest panic into a qemu exit instead of a hang.
qemu=(qemu-system-x86_64 -accel "${BPFPROXY_VM_ACCEL:-tcg}" -cpu "${BPFPROXY_VM_CPU:-max}"
  -m "$mem" -smp "$smp" -nographic -no-reboot -nodefaults -serial mon:stdio
  -kernel "$vmlinux" -initrd "$initramfs"
  -append "console=ttyS0 loglevel=3 panic=-1 rdinit=/init bpfproxy.job=job.sh"
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
  -virtfs "local,path=$jobdir,mount_tag=job,security_model=none,multidevs=remap"
  "${virtfs_rw[@]}")

# Keep only what lies between the markers, turn the tty's CRLF back into LF and drop
# escape sequences other than colours (SGR). The raw stream stays in console.log.
filter() {
  sed -u -n -e "/@@BPFPROXY-JOB-BEGIN-$nonce@@/,/@@BPFPROXY-JOB-END-$nonce /{
      /@@BPFPROXY-JOB-BEGIN-$nonce@@/d
      /@@BPFPROXY-JOB-END-$nonce /{ s/@@BPFPROXY-JOB-END-$nonce rc=[0-9]*@@.*//; /^\$/d; }
      s/\r\$//
      s/\x1b\[[0-9;?]*[A-Za-ln-z]//g
      s/\x1bc//g
      p
    }"
}

# stdin is /dev/null on purpose: qemu then leaves the terminal alone (no raw mode), works
# the same in CI without stdin, and Ctrl-C kills it like any other process.
# --foreground keeps qemu in our process group so that Ctrl-C reaches it.
set +e
timeout --foreground -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>&1 |
  tee "$jobdir/console.log" | filter
status=("${PIPESTATUS[@]}")
set -e

if [[ -s "$jobdir/rc" ]]; then
  rc=$(<"$jobdir/rc")
  if [[ "$rc" == 125 ]] && grep -q 'bpfproxy-guest:' "$jobdir/console.log"; then
    echo "run.sh: guest setup failed:" >&2
    grep -a 'bpfproxy-guest:' "$jobdir/console.log" | tr -d '\r' >&2
  fi
  exit "$rc"
fi

if [[ "${status[0]}" == 124 || "${status[0]}" == 137 ]]; then
  echo "run.sh: TIMEOUT: guest killed after ${timeout_s}s (BPFPROXY_VM_TIMEOUT)" >&2
  rc=124
else
  echo "run.sh: guest died without reporting an exit code (qemu status ${status[0]})" >&2
  rc=125
fi
echo "run.sh: last console lines:" >&2
tail -n 30 "$jobdir/console.log" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' >&2
exit "$rc"
