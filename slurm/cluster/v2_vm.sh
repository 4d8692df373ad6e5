#!/usr/bin/env bash
# Run up.sh and the Slurm memory tests on cgroup v2, inside a throw-away VM (as root).
#
# The dev/CI machines are cgroup v1 (memory bound to the v1 hierarchy), so their tests never
# reach up.sh's cgroup/v2 path or the v2 OOM evidence; this script does, by hand. It boots
# Debian's kernel in QEMU with its own tiny init: the host's root, shared read-only over 9p,
# is the guest's root under an overlay whose writes go to RAM, and cgroup2 alone is mounted
# at /sys/fs/cgroup with memory, cpu and pids enabled. The guest so has this host's Slurm,
# virtual environment and checkout; it runs `up.sh` (single-node cluster) and then pytest on
# the arguments given, prints the evidence (its cgroups) and powers off. Nothing the guest
# writes outlives it. Not part of `make test`.
#
#   v2_vm.sh [PYTEST ARGS...]   default: the --mem and OOM-evidence tests (README.md)
#
# Needs: the Debian packages qemu-system-x86 and linux-image-amd64 (the kernel under /boot is
# used, not the running one), this host's Slurm packages (run up.sh on the host once), and
# the checkout's virtual environment. The console goes to $V2_VM_LOG (default
# /tmp/v2_vm.console.log) and to stdout; pytest's output and Slurm's logs to $V2_VM_OUT
# (default /tmp/v2_vm.out, emptied first).
#
# Environment:
#   V2_VM_ACCEL    kvm or tcg (default: kvm when the CPU offers vmx/svm, else tcg: slow)
#   V2_VM_MEM      guest memory in MiB (default 4608)
#   V2_VM_CPUS     guest CPUs (default 2)
#   V2_VM_TIMEOUT  seconds before the guest is stopped (default 3600)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MEM=${V2_VM_MEM:-4608} # the report job asks --mem=4G: a 4 GiB guest's node has 3840M
CPUS=${V2_VM_CPUS:-2}
TIMEOUT=${V2_VM_TIMEOUT:-3600}
LOG=${V2_VM_LOG:-/tmp/v2_vm.console.log}
VENV=${V2_VM_VENV:-$REPO/.venv}
# 9p and overlayfs are modules in Debian's kernel; these, in load order.
MODULES=(netfs fscache 9pnet 9p virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
    virtio_pci 9pnet_virtio overlay dummy)

die() {
    printf 'v2-vm: ERROR: %s\n' "$*" >&2
    exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root (the guest's Slurm daemons run as root there)"
command -v qemu-system-x86_64 >/dev/null || die "no qemu-system-x86_64: apt-get install qemu-system-x86"
command -v busybox >/dev/null || die "no busybox: apt-get install busybox-static"
# The newest Debian kernel under /boot with its modules.
KERNEL=""
for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V); do
    [[ -d /lib/modules/${k#/boot/vmlinuz-}/kernel ]] && KERNEL=$k
done
[[ -n $KERNEL ]] || die "no kernel with modules under /boot: apt-get install linux-image-amd64"
KVER=${KERNEL#/boot/vmlinuz-}
[[ -x $VENV/bin/python ]] || die "no virtual environment at $VENV (make install, or set V2_VM_VENV)"
ACCEL=${V2_VM_ACCEL:-}
if [[ -z $ACCEL ]]; then
    if [[ -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then ACCEL=kvm; else ACCEL=tcg; fi
fi
case $ACCEL in
kvm) accel_args=(-accel kvm -cpu host) ;;
tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
*) die "V2_VM_ACCEL must be kvm or tcg (got '$ACCEL')" ;;
esac

OUT=${V2_VM_OUT:-/tmp/v2_vm.out} # what the guest leaves: pytest's output, Slurm's logs
rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/v2_vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# --- the guest's commands, run once its root is up ------------------------------------------
if (($#)); then
    tests=("$@")
else # the --mem and OOM-evidence tests (slurm/cluster/README.md, "cgroup v2, in a VM")
    tests=(tests/slurm/test_slurm_cluster.py::test_each_fault_ends_in_exactly_one_record_of_its_kind
        tests/slurm/test_slurm_faults.py tests/slurm/test_rank_death.py
        tests/reliability/test_dead_rank.py::test_a_rank_over_its_memory_limit_is_oom_with_the_kernels_evidence
        tests/reliability/test_dead_rank.py::test_a_sigkilled_rank_is_failed_while_another_process_is_oom_killed)
fi
{
    echo "#!/bin/sh"
    echo "cd '$REPO' || exit 1"
    echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root"
    echo "export PYTHONPATH='$REPO' DS_ACCELERATOR=cpu"
    printf 'set --'
    printf " '%s'" "${tests[@]}"
    echo
    cat <<'EOF'
echo "v2-vm: kernel $(uname -r); /proc/self/cgroup: $(cat /proc/self/cgroup)"
echo "v2-vm: cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "v2-vm: cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
# The host's Slurm state and logs came with its root: start from none (the overlay keeps the
# host's own untouched).
rm -rf /var/lib/slurm/* /var/log/slurm/*
if ! SLURM_UP_WAIT_S=120 timeout 300 bash slurm/cluster/up.sh; then
    echo "v2-vm: RESULT up.sh failed"
    ps -eo pid,ppid,stat,wchan:20,args
    tail -n 40 /var/log/slurm/slurmd.log
    find /sys/fs/cgroup -maxdepth 3 -type d
    exit 1
fi
cat /etc/slurm/cgroup.conf
scontrol show config | grep -iE '^(TaskPlugin|ProctrackType|CgroupPlugin|JobAcctGather)' 
# Where things stand, every minute, on the console (pytest prints a test only once it ends).
(while sleep 60; do
    echo "v2-vm: $(date -u +%T) squeue: $(squeue -h -t all -o '%i %T %r' | tr '\n' ';')"
    echo "v2-vm: $(date -u +%T) sinfo: $(sinfo -h -N -o '%N %T %E' | tr '\n' ';')"
    cp -r /var/log/slurm /v2_vm_out/
done) &
for f in /sys/fs/cgroup/cgroup.subtree_control /sys/fs/cgroup/system.slice/cgroup.subtree_control \
    /sys/fs/cgroup/system.slice/*_slurmstepd.scope/cgroup.subtree_control \
    /sys/fs/cgroup/system.slice/*_slurmstepd.scope/slurmd/cgroup.controllers; do
    echo "v2-vm: $f: $(cat "$f")"
done
# A job step under --mem: its cgroup and the limits on the way up.
timeout 120 srun --mem=300M sh -c 'cg=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)
    echo "v2-vm: srun --mem=300M: /proc/self/cgroup: $(cat /proc/self/cgroup)"
    while [ "$cg" != /sys/fs/cgroup ]; do
        echo "v2-vm:   $cg memory.max=$(cat "$cg/memory.max" 2>&1)"; cg=${cg%/*}
    done'
start=$(date +%s)
PYTHONUNBUFFERED=1 @VENV@/bin/python -m pytest -p no:cacheprovider -q -rA "$@" 2>&1 | tee /v2_vm_out/pytest.log
rc=${PIPESTATUS[0]}
cp -r /var/log/slurm /v2_vm_out/
echo "v2-vm: RESULT pytest exit $rc after $(($(date +%s) - start)) s"
echo "v2-vm: slurmd's cgroup tree:"; find /sys/fs/cgroup -maxdepth 3 -type d | head -30
exit $rc
EOF
} | sed "s|@VENV@|$VENV|g" >"$WORK/guest.sh"
chmod +x "$WORK/guest.sh"

# --- initramfs: busybox, the modules, an init that builds the root and runs guest.sh --------
mkdir -p "$WORK/initramfs"/{bin,dev,proc,sys,lower,upper,newroot,modules}
cp "$(command -v busybox)" "$WORK/initramfs/bin/busybox"
for m in "${MODULES[@]}"; do
    f=$(modinfo -k "$KVER" -n "$m") || die "module $m not found for $KVER"
    case $f in
    *.xz) xz -dc "$f" >"$WORK/initramfs/modules/$m.ko" ;;
    *.zst) zstd -qdc "$f" >"$WORK/initramfs/modules/$m.ko" ;;
    *) cp "$f" "$WORK/initramfs/modules/$m.ko" ;;
    esac
done
cp "$WORK/guest.sh" "$WORK/initramfs/guest.sh"
{
    echo "#!/bin/busybox sh"
    echo "MODULES='${MODULES[*]}'"
    cat <<'EOF'
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "v2-vm: init: $*"; echo "v2-vm: RESULT init failed"; poweroff -f; }
for m in $MODULES; do insmod /modules/$m.ko || fail "insmod $m"; done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose hostroot /lower || fail "mount 9p"
mount -t tmpfs -o size=75% tmpfs /upper || fail "tmpfs"
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot || fail "overlay"
R=/newroot
mount -t proc proc $R/proc || fail "proc"
mount -t sysfs sysfs $R/sys || fail "sysfs"
mount -t devtmpfs devtmpfs $R/dev || fail "devtmpfs"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts || fail "devpts"
mount -t tmpfs tmpfs $R/dev/shm || fail "shm"
mount -t tmpfs tmpfs $R/run || fail "run"
mount -t tmpfs tmpfs $R/tmp || fail "tmp"
chmod 1777 $R/tmp $R/dev/shm
# cgroup v2 only: the unified hierarchy holds every controller.
mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup || fail "mount cgroup2"
echo "+memory +cpu +pids" >$R/sys/fs/cgroup/cgroup.subtree_control || fail "subtree_control"
hostname "$(cat $R/etc/hostname)"
# No network, but one non-loopback address: Slurm resolves with AI_ADDRCONFIG, which finds
# nothing on a machine that has only lo (slurmd: "Unable to bind listen port").
ip link set lo up || fail "lo"
# (loading the dummy module made dummy0)
ip addr add 10.0.2.15/24 dev dummy0 && ip link set dummy0 up ||
    fail "dummy0"
mkdir -p $R/v2_vm_out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out $R/v2_vm_out || fail "mount out"
cp /guest.sh $R/tmp/v2_vm_guest.sh
chroot $R /bin/bash /tmp/v2_vm_guest.sh
echo "v2-vm: guest exit $?"
sync
poweroff -f
EOF
} >"$WORK/initramfs/init"
chmod +x "$WORK/initramfs/init"
(cd "$WORK/initramfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initramfs.gz"

# --- boot ----------------------------------------------------------------------------------
echo "v2-vm: booting $KERNEL ($ACCEL, ${MEM} MiB, $CPUS CPUs), console in $LOG"
set +e
timeout "$TIMEOUT" qemu-system-x86_64 "${accel_args[@]}" -m "$MEM" -smp "$CPUS" \
    -nographic -no-reboot -nic none \
    -kernel "$KERNEL" -initrd "$WORK/initramfs.gz" \
    -append "console=ttyS0 panic=-1 quiet" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs local,path="$OUT",mount_tag=out,security_model=none \
    </dev/null 2>&1 | tee "$LOG"
set -e
grep -q '^v2-vm: RESULT pytest exit 0 ' "$LOG"
