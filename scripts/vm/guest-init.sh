#!/bin/busybox sh
# /init of the bpfproxy test guest (copied into the initramfs by build.sh; edits rebuild it).
#
# Runs as PID 1 under busybox. It borrows the HOST's root filesystem (9p, read-only) with a
# tmpfs overlay on top, so the guest has the host's node/ipvsadm/iproute2/... and the
# Debian 6.1 modules under /lib/modules, yet nothing the guest writes reaches the host --
# except the job share (mount tag "job"), which carries the job script in and the output
# and exit code out. The job script is named on the kernel command line (bpfproxy.job=).

/bin/busybox --install -s /bin
export PATH=/bin
JOB_MNT=/run/bpfproxy-vm # fixed path of the job share inside the guest root

die() {
  echo "bpfproxy-guest: $*"
  # Exit code 125 tells run.sh that the guest setup (not the job) failed.
  [ -d /newroot$JOB_MNT ] && echo 125 >/newroot$JOB_MNT/rc
  sync
  poweroff -f
}

# Signal every process outside session 0 (init, tee and kernel threads live in session 0).
# Busybox here has no killall5. Field 4 after the last ")" in /proc/PID/stat is the session.
# Shell builtins only: a fork per process costs too much under TCG.
reap() {
  sig=$1
  for d in /proc/[0-9]*; do
    read -r stat 2>/dev/null <"$d/stat" || continue
    set -- ${stat##*) } # state ppid pgrp session ...
    [ "$4" != 0 ] && kill -"$sig" "${d#/proc/}" 2>/dev/null
  done
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

# The order matters: each module's dependencies come first (see build.sh).
while read -r ko; do
  insmod "/modules/$ko" || die "insmod $ko failed"
done </modules/order

job=
for arg in $(cat /proc/cmdline); do
  case "$arg" in bpfproxy.job=*) job="${arg#bpfproxy.job=}" ;; esac
done

# Host root, read-only. cache=loose lets the guest page cache keep what it has read
# (node_modules!); safe because the host tree does not change under a test run.
mkdir -p /lower /upper /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower ||
  die "mount hostroot failed"
# Writable layer in RAM: the guest may scribble anywhere (npm caches, /etc, ...).
mount -t tmpfs -o mode=0755 upper /upper
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot ||
  die "overlay mount failed"

# Fresh kernel filesystems inside the new root; the host's are not what we want.
R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
# /tmp stays the host's, seen through the overlay (writes land in the tmpfs upper layer):
# a checkout under /tmp (CI clones anywhere) must be visible in the guest.
mount -t tmpfs -o mode=0755 run $R/run
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup
mount -t bpf bpf $R/sys/fs/bpf
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null
mkdir -p $R$JOB_MNT
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=512000 job $R$JOB_MNT ||
  die "mount job share failed"
# Optional extra read-write host directory (BPFPROXY_VM_RW_DIR), mounted at its host path.
if [ -s $R$JOB_MNT/rw_dir ]; then
  rw_dir=$(cat $R$JOB_MNT/rw_dir)
  mkdir -p "$R$rw_dir"
  mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=512000 rwdir "$R$rw_dir" ||
    die "mount rw dir $rw_dir failed"
fi

# Kernel module autoloading (ip link add ... type dummy, iptables matches, nf_tables, IPVS
# schedulers) runs /sbin/modprobe in init's root -- this initramfs, which has no modules.
# Point it at the host's modprobe inside the new root.
mkdir -p /sbin
printf '#!/bin/sh\nexec /bin/chroot %s /sbin/modprobe "$@"\n' "$R" >/sbin/modprobe-newroot
chmod 0755 /sbin/modprobe-newroot
echo /sbin/modprobe-newroot >/proc/sys/kernel/modprobe

hostname bpfproxy-guest
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

[ -n "$job" ] && [ -f "$R$JOB_MNT/$job" ] || die "no job script '$job' in the job share"

# Markers let run.sh cut the job's output out of the serial stream (BIOS/kernel noise
# before, and escape codes). The nonce keeps job output from faking the end marker.
nonce=$(cat $R$JOB_MNT/nonce)
out=$R$JOB_MNT/output.log
mkfifo /job.fifo
# tee: one copy to the share (exact bytes), one to the serial console (live streaming).
tee "$out" </job.fifo &
tee_pid=$!
echo "@@BPFPROXY-JOB-BEGIN-$nonce@@"
# setsid puts the job in its own session so that reap below can kill everything it left
# behind (background servers would otherwise hold the fifo open and hang us), while tee,
# in our session (0, like kernel threads), survives.
setsid chroot $R /bin/bash "$JOB_MNT/$job" </dev/null >/job.fifo 2>&1
rc=$?
reap TERM
sleep 0.2
reap KILL
wait $tee_pid
echo "@@BPFPROXY-JOB-END-$nonce rc=$rc@@"
echo "$rc" >$R$JOB_MNT/rc
sync
poweroff -f
