#!/usr/bin/env bash
# Stop the Slurm clusters started by up.sh: the forgetful one (up.sh
# --forgetful) and the two-node cluster (up.sh --nodes 2: its slurmctld and
# slurmd n1, n2), then the single-node one (slurmd, slurmctld) and munged. `down.sh --nodes 2` stops only the two-node cluster.
# Idempotent; packages, configuration and job state stay, so up.sh brings the
# same clusters back quickly. Jobs still running are cancelled first so no job
# processes outlive their slurmd.
set -euo pipefail

log() { printf 'slurm-down: %s\n' "$*"; }

[[ $EUID -eq 0 ]] || {
    echo "slurm-down: ERROR: must run as root" >&2
    exit 1
}
ONLY_TWO=0
case "${1:-}:${2:-}" in
:) ;;
--nodes:2) ONLY_TWO=1 ;;
*)
    echo "usage: down.sh [--nodes 2]" >&2
    exit 2
    ;;
esac

# Only a pid whose process is still the named program is signalled.
pid_of() { # name pidfile
    local pid
    [[ -r $2 ]] || return 1
    pid=$(<"$2")
    [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]] &&
        ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$pid/status" 2>/dev/null &&
        echo "$pid"
}

stop() { # name pidfile
    local pid i
    if ! pid=$(pid_of "$1" "$2"); then
        log "$1 not running ($2)"
        return 0
    fi
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        pid_of "$1" "$2" >/dev/null || return 0
        sleep 0.2
    done
    log "$1 still alive after 20s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

cancel_jobs() { # run_dir
    if pid_of slurmctld "$1/slurmctld.pid" >/dev/null &&
        [[ -n $(squeue -h -t running,pending,suspended -o %i 2>/dev/null) ]]; then
        log "cancelling active jobs"
        scancel --full --state=running 2>/dev/null || true
        scancel --state=pending 2>/dev/null || true
        scancel --state=suspended 2>/dev/null || true
        # Give slurmd a moment to reap the steps before it goes away.
        for ((i = 0; i < 50; i++)); do
            [[ -z $(squeue -h -t running,completing -o %i 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
}

# --- the forgetful cluster (its jobs end in seconds: nothing to cancel) ---------
FORGETFUL_RUN=/run/slurm/forgetful
stop slurmd "$FORGETFUL_RUN/slurmd-f1.pid"
stop slurmctld "$FORGETFUL_RUN/slurmctld.pid"

# --- the two-node cluster ------------------------------------------------------
TWO_RUN=/run/slurm/two-node
if [[ -f /etc/slurm/two-node/slurm.conf ]]; then
    SLURM_CONF=/etc/slurm/two-node/slurm.conf cancel_jobs "$TWO_RUN"
    for n in n1 n2; do
        stop slurmd "$TWO_RUN/slurmd-$n.pid"
    done
    stop slurmctld "$TWO_RUN/slurmctld.pid"
fi
if ((ONLY_TWO)); then
    log "done"
    exit 0
fi

# --- the single-node cluster ---------------------------------------------------
RUN_DIR=/run/slurm
SLURM_CONF=/etc/slurm/slurm.conf cancel_jobs "$RUN_DIR"
stop slurmd "$RUN_DIR/slurmd.pid"
stop slurmctld "$RUN_DIR/slurmctld.pid"
# munged is only here for Slurm; Debian's package keeps its pid file here.
stop munged /run/munge/munged.pid
log "done"
